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
from .connection import RemoteTool, ServerConnection

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Offered:
    """A tool the model may call now, the connection that runs it, and whether a call waits for the user."""

    tool: RemoteTool
    connection: ServerConnection
    needs_approval: bool


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


@functools.cache
def hub() -> McpHub:
    return McpHub(load(get_settings().mcp_config))
