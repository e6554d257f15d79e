"""This process's MCP servers: started with the app, each in its own background task, so a slow or dead one
never delays the page; their tools, offered beside the built-in ones; and the calls to them."""

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
    """A tool the model may call now, and the connection that runs it."""

    tool: RemoteTool
    connection: ServerConnection


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

    def offered(self, reserved: set[str] = frozenset()) -> dict[str, Offered]:  # type: ignore[assignment]
        """The connected servers' tools by the name the model sees. Until calls can wait for the user's
        approval, tools the server's `approve` setting holds back are not offered at all."""
        found: dict[str, Offered] = {}
        for connection in self.connections.values():
            approve = connection.config.approve
            for tool in connection.tools:
                needs_approval = approve == "always" or (approve == "writes" and not tool.read_only)
                if needs_approval or tool.qualified in reserved or tool.qualified in found:
                    continue
                found[tool.qualified] = Offered(tool, connection)
        return found


@functools.cache
def hub() -> McpHub:
    return McpHub(load(get_settings().mcp_config))
