"""This process's MCP servers: started with the app, each in its own background task, so a slow or dead one
never delays the page; and their tools, offered beside the built-in ones, each marked with whether its calls
wait for the user's approval (the server's `approve` setting and the tool's read-only hint decide)."""

from __future__ import annotations

import asyncio
import functools
import logging
from dataclasses import dataclass

from ..config import get_settings
from .config import McpConfig, load
from .connection import RemoteTool, ServerConnection, Status

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Offered:
    """A tool the model may call now, the connection that runs it, and whether a call waits for the user."""

    tool: RemoteTool
    connection: ServerConnection
    needs_approval: bool


@dataclass(frozen=True)
class ServerStatus:
    """A server as the monitor shows it."""

    name: str
    status: Status
    problem: str  # the last failure, in words, while it reconnects
    tools: tuple[tuple[str, bool], ...]  # each tool offered: its own name, and whether a call asks first


class McpHub:
    def __init__(self, config: McpConfig) -> None:
        self.problem = config.problem  # why the file gave no servers
        self.connections = {server.name: ServerConnection(server) for server in config.servers}
        self._tasks: list[asyncio.Task] = []

    def start(self) -> None:
        if self.problem:
            log.error("No MCP servers: %s", self.problem)
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(c.run(), name=f"mcp {c.name}") for c in self.connections.values()
            ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    def offered(
        self, reserved: frozenset[str] = frozenset(), servers_off: tuple[str, ...] = ()
    ) -> dict[str, Offered]:
        """The connected servers' tools by the name the model sees, but those of `servers_off` and any whose
        name is `reserved` (a built-in tool's) or taken by another server's first."""
        found: dict[str, Offered] = {}
        for connection in self.connections.values():
            if connection.name in servers_off:
                continue
            for tool in connection.tools:
                if tool.qualified not in reserved and tool.qualified not in found:
                    found[tool.qualified] = Offered(tool, connection, connection.asks_first(tool))
        return found

    def statuses(self, reserved: frozenset[str] = frozenset()) -> list[ServerStatus]:
        """Each server's status and the tools of it that are offered (a name a built-in tool or another
        server has already is not)."""
        offered = self.offered(reserved)
        return [
            ServerStatus(
                name=connection.name,
                status=connection.status,
                problem=connection.problem,
                tools=tuple(
                    (tool.name, offered[tool.qualified].needs_approval)
                    for tool in connection.tools
                    if offered.get(tool.qualified, None) is not None
                    and offered[tool.qualified].connection is connection
                ),
            )
            for connection in self.connections.values()
        ]


@functools.cache
def hub() -> McpHub:
    return McpHub(load(get_settings().mcp_config))
