"""One MCP server, kept connected: it connects in the background, lists its tools (again when the server
says they changed), notices when it goes away, and reconnects with backoff. Calls go through it.

Each worker process keeps its own connections; nothing about them is shared through Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import warnings
from dataclasses import dataclass
from typing import Any, Literal

import httpx2
from mcp import Client, MCPDeprecationWarning, MCPError, types
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.client.subscriptions import ListenNotSupportedError, Subscription, SubscriptionLost

from .config import ServerConfig

log = logging.getLogger(__name__)

Status = Literal["connecting", "connected", "reconnecting"]
CONNECT_TIMEOUT_S = 20.0
PING_EVERY_S = 15.0
BACKOFF_S = (1.0, 2.0, 5.0, 10.0, 30.0)
# "auto": the 2026-07-28 protocol where the server speaks it, else the earlier handshake (tests pin one).
CLIENT_MODE = "auto"
_NOT_IN_A_NAME = re.compile(r"[^A-Za-z0-9_-]")
MAX_NAME = 64  # OpenAI's limit on a function name


class McpCallError(Exception):
    """A call that got no result: the server isn't connected, went away, or took too long."""


@dataclass(frozen=True)
class RemoteTool:
    server: str
    name: str  # the server's own name for it
    qualified: str  # the name the model sees, unique across servers and the built-in tools
    description: str
    parameters: dict[str, Any]  # its JSON schema, passed on as the server gave it
    read_only: bool
    destructive: bool

    def spec(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.qualified,
                "description": self.description,
                "parameters": self.parameters,
            },
        }


def qualified_name(server: str, tool: str) -> str:
    """`server__tool`, in the characters a model's function name may hold; a long one keeps a hash."""
    name = f"{server}__{_NOT_IN_A_NAME.sub('_', tool)}"
    if len(name) <= MAX_NAME and name == f"{server}__{tool}":
        return name
    digest = hashlib.sha256(tool.encode()).hexdigest()[:8]
    return f"{name[: MAX_NAME - 9]}_{digest}"


def _remote_tool(server: str, tool: types.Tool) -> RemoteTool:
    hints = tool.annotations
    return RemoteTool(
        server=server,
        name=tool.name,
        qualified=qualified_name(server, tool.name),
        description=(tool.description or tool.title or tool.name)[:2_000],
        parameters=tool.input_schema or {"type": "object", "properties": {}},
        read_only=bool(hints and hints.read_only_hint),
        # The protocol's default: a tool not said to be read-only may be destructive.
        destructive=not (hints and hints.read_only_hint)
        and (hints is None or hints.destructive_hint is not False),
    )


def _in_words(error: BaseException) -> str:
    """An error as one short line for the monitor (an anyio ExceptionGroup shows its first cause)."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text}"[:300] if text else type(error).__name__


class ServerConnection:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.status: Status = "connecting"
        self.problem = ""  # the last failure, in words; kept while reconnecting
        self.tools: tuple[RemoteTool, ...] = ()
        self._client: Client | None = None
        self._relist = asyncio.Event()
        self._lost = asyncio.Event()
        self._lost_why = ""

    @property
    def name(self) -> str:
        return self.config.name

    def asks_first(self, tool: RemoteTool) -> bool:
        """Whether a call of `tool` waits for the user's approval: the server's `approve` setting decides,
        with the tool's own read-only hint for "writes"."""
        approve = self.config.approve
        return approve == "always" or (approve == "writes" and not tool.read_only)

    def _transport(self) -> Any:
        config = self.config
        if config.command:
            return StdioServerParameters(
                command=config.command, args=list(config.args), env=config.env or None, cwd=config.cwd
            )
        assert config.url is not None
        http = httpx2.AsyncClient(headers=config.headers, timeout=httpx2.Timeout(30.0, read=300.0))
        return streamable_http_client(config.url, http_client=http)

    async def run(self) -> None:
        """Connects and stays connected, until cancelled."""
        attempt = 0
        while True:
            try:
                await self._connected_session()
            except asyncio.CancelledError:
                raise
            except BaseException as error:  # noqa: BLE001  (anything the transport raises means reconnect)
                if not isinstance(error, Exception | BaseExceptionGroup):
                    raise
                self.problem = _in_words(error)
                log.warning("MCP server %s: %s", self.name, self.problem)
            self._client, self.tools = None, ()
            self.status = "reconnecting"
            await asyncio.sleep(BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)])
            attempt += 1

    async def _connected_session(self) -> None:
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            client = await Client(
                self._transport(), mode=CLIENT_MODE, message_handler=self._on_message
            ).__aenter__()
        try:
            self._relist.clear()
            self._lost.clear()
            self._client = client
            await self._list_tools()
            self.status, self.problem = "connected", ""
            log.info("MCP server %s connected with %d tools", self.name, len(self.tools))
            await self._watch(client)
        finally:
            self._client = None
            await client.__aexit__(None, None, None)

    async def _watch(self, client: Client) -> None:
        """Returns (raising) once the server is gone; lists the tools again when they change.

        A server of the 2026-07-28 protocol sends its changes on a `subscriptions/listen` stream, which ends
        when the server does; an earlier one sends change notifications, and is pinged now and then."""
        async with contextlib.AsyncExitStack() as stack:
            streamed = await self._listen_for_changes(client, stack)
            while True:
                changed = asyncio.ensure_future(self._relist.wait())
                lost = asyncio.ensure_future(self._lost.wait())
                done, pending = await asyncio.wait(
                    {changed, lost}, timeout=PING_EVERY_S, return_when=asyncio.FIRST_COMPLETED
                )
                for waiter in pending:
                    waiter.cancel()
                if lost in done:
                    raise ConnectionError(self._lost_why or "the server went away")
                if changed in done:
                    self._relist.clear()
                    await self._list_tools()
                elif not streamed:
                    with warnings.catch_warnings():  # deprecated only for servers of the newer protocol
                        warnings.simplefilter("ignore", MCPDeprecationWarning)
                        async with asyncio.timeout(10):
                            await client.send_ping()

    async def _listen_for_changes(self, client: Client, stack: contextlib.AsyncExitStack) -> bool:
        """Follows the server's stream of changes, if its protocol has one (True)."""
        try:
            changes = await stack.enter_async_context(client.listen(tools_list_changed=True))
        except ListenNotSupportedError:
            return False
        except MCPError as refused:  # no changes to hear; a failed call still shows the server is gone
            log.info("MCP server %s sends no changes (%s)", self.name, refused)
            return True
        following = asyncio.create_task(self._follow(changes))
        stack.callback(following.cancel)
        return True

    async def _follow(self, changes: Subscription) -> None:
        try:
            async for _change in changes:
                self._relist.set()
            self._lose("the server closed its connection")
        except SubscriptionLost:
            self._lose("the connection to the server dropped")

    def _lose(self, why: str) -> None:
        self._lost_why = why
        self._lost.set()

    async def _list_tools(self) -> None:
        assert self._client is not None
        found: list[RemoteTool] = []
        cursor = None
        for _ in range(20):  # pages
            page = await self._client.list_tools(cursor=cursor, cache_mode="refresh")
            found += [_remote_tool(self.name, tool) for tool in page.tools]
            cursor = page.next_cursor
            if cursor is None:
                break
        self.tools = tuple(found)

    async def _on_message(self, message: Any) -> None:
        # The earlier protocol's notice of changed tools.
        if isinstance(message, types.ToolListChangedNotification):
            self._relist.set()

    async def call(self, tool: str, arguments: dict[str, Any]) -> tuple[bool, str]:
        """Runs a tool: whether the server said it failed (isError), and the text it returned."""
        client = self._client
        if client is None:
            why = f": {self.problem}" if self.problem else ""
            raise McpCallError(f"The MCP server '{self.name}' is not connected ({self.status}{why}).")
        timeout = self.config.timeout_s
        try:
            async with asyncio.timeout(timeout):
                result = await client.call_tool(tool, arguments)
        except TimeoutError:
            raise McpCallError(f"The MCP server '{self.name}' took longer than {timeout:g} s.") from None
        except Exception as error:
            # Whatever broke the call, the connection is made afresh; until then no call goes to it. (A late
            # failure of a connection already replaced leaves the new one alone.)
            if self._client is client:
                self._client, self.status = None, "reconnecting"
                self._lose("the server went away during a call")
            raise McpCallError(
                f"The MCP server '{self.name}' failed during the call ({_in_words(error)})."
            ) from None
        return bool(result.is_error), _text_of(result)


def _text_of(result: types.CallToolResult) -> str:
    parts = []
    for content in result.content:
        if isinstance(content, types.TextContent):
            parts.append(content.text)
        else:
            parts.append(f"[{content.type} content, not shown to the model]")
    return "\n".join(parts)
