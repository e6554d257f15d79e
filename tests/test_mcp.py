"""MCP servers through the official SDK, against a real server (tests/fakes/mcp_testbox.py) over stdio and
over Streamable HTTP on a loopback port: tools listed with their hints, calls, errors, timeouts, a server that
dies mid-call and comes back, and the tools the hub offers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys

import pytest

from chatapp.mcp_servers import connection as mcp_connection
from chatapp.mcp_servers.config import ServerConfig, load
from chatapp.mcp_servers.connection import McpCallError, ServerConnection, qualified_name
from chatapp.mcp_servers.hub import McpHub, hub
from chatapp.turns import tools

from .factories import until
from .fakes.mcp_servers import TESTBOX


def stdio_server(name: str = "testbox", timeout_s: float = 5.0) -> ServerConfig:
    return ServerConfig(
        name=name, approve="writes", timeout_s=timeout_s, command=sys.executable, args=(TESTBOX,)
    )


@contextlib.asynccontextmanager
async def running(connection: ServerConnection):
    task = asyncio.create_task(connection.run())
    try:
        await until(lambda: connection.status == "connected")
        yield connection
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_stdio_server_lists_its_tools_with_their_hints_and_runs_them():
    async with running(ServerConnection(stdio_server())) as connection:
        listed = {tool.name: tool for tool in connection.tools}
        added = await connection.call("add", {"a": 2, "b": 3})
        failed = await connection.call("fail", {"reason": "no such thing"})

    assert {"add", "echo", "delete_file", "fail", "slow", "die"} <= set(listed)
    assert (listed["add"].qualified, listed["add"].read_only, listed["add"].destructive) == (
        "testbox__add",
        True,
        False,
    )
    assert (listed["delete_file"].read_only, listed["delete_file"].destructive) == (False, True)
    assert listed["add"].parameters["required"] == ["a", "b"]  # the server's schema, as it gave it
    assert added == (False, "5")
    assert failed[0] is True and "fail" in failed[1]


@pytest.fixture(params=["auto", "legacy"], ids=["2026-07-28", "earlier-protocol"])
def protocol(request, monkeypatch):
    """Both protocols the SDK speaks: the newer one streams changes and has no ping, the earlier one
    notifies and is pinged."""
    monkeypatch.setattr(mcp_connection, "CLIENT_MODE", request.param)
    monkeypatch.setattr(mcp_connection, "PING_EVERY_S", 0.1)
    return request.param


async def test_a_quiet_connection_stays_up(protocol):
    async with running(ServerConnection(stdio_server())) as connection:
        await asyncio.sleep(1.0)  # ten ping intervals
        assert (connection.status, connection.problem) == ("connected", "")
        assert await connection.call("add", {"a": 1, "b": 2}) == (False, "3")


async def test_tools_are_listed_again_when_the_server_says_they_changed(protocol):
    async with running(ServerConnection(stdio_server())) as connection:
        assert "hello" not in {tool.name for tool in connection.tools}
        assert await connection.call("grow", {"name": "hello"}) == (False, "added hello")
        await until(lambda: "hello" in {tool.name for tool in connection.tools})
        assert await connection.call("hello", {}) == (False, "hello from hello")


async def test_a_call_past_the_servers_timeout_is_an_error_and_the_connection_stays():
    async with running(ServerConnection(stdio_server(timeout_s=0.5))) as connection:
        with pytest.raises(McpCallError, match="took longer than 0.5 s"):
            await connection.call("slow", {"seconds": 5})
        assert await connection.call("add", {"a": 1, "b": 1}) == (False, "2")


async def test_a_server_that_dies_mid_call_is_an_error_then_it_is_connected_again(monkeypatch, protocol):
    monkeypatch.setattr(mcp_connection, "BACKOFF_S", (0.2,))
    async with running(ServerConnection(stdio_server())) as connection:
        with pytest.raises(McpCallError, match="failed during the call"):
            await connection.call("die", {})
        await until(lambda: connection.status != "connected")
        with pytest.raises(McpCallError, match="not connected"):
            await connection.call("add", {"a": 1, "b": 1})
        await until(lambda: connection.status == "connected")
        assert await connection.call("add", {"a": 20, "b": 22}) == (False, "42")


async def test_a_streamable_http_server_on_a_loopback_port_runs_tools(http_testbox):
    config = ServerConfig(
        name="web", approve="never", timeout_s=5.0, url=http_testbox, headers={"X-Test": "1"}
    )
    async with running(ServerConnection(config)) as connection:
        assert await connection.call("echo", {"text": "over http"}) == (False, "echo: over http")


async def test_an_unreachable_server_keeps_trying_and_says_why():
    config = ServerConfig(name="gone", approve="never", timeout_s=1.0, url="http://127.0.0.1:9/mcp")
    connection = ServerConnection(config)
    task = asyncio.create_task(connection.run())
    await until(lambda: connection.status == "reconnecting")
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)

    assert connection.problem and connection.tools == ()


def test_tool_names_fit_what_a_model_accepts():
    assert qualified_name("files", "read_file") == "files__read_file"
    odd = qualified_name("files", "read.file/v2")
    assert odd.startswith("files__read_file_v2") and len(odd) <= 64
    assert qualified_name("files", "read.file") != qualified_name("files", "read_file")
    assert len(qualified_name("s" * 32, "t" * 100)) == 64


async def test_the_hub_offers_every_tool_beside_the_built_in_ones_and_says_which_ask_first(
    tmp_path, monkeypatch, mock_settings
):
    config = tmp_path / "mcp.json"
    config.write_text(json.dumps({"mcpServers": {"testbox": {"command": sys.executable, "args": [TESTBOX]}}}))
    monkeypatch.setenv("CHATAPP_MCP_CONFIG", str(config))
    from chatapp.config import get_settings

    get_settings.cache_clear()
    hub.cache_clear()
    box = hub()
    box.start()
    try:
        await until(lambda: box.connections["testbox"].status == "connected")
        offered = {spec["function"]["name"] for spec in tools.specs()}
        outcome = await tools.call(
            "testbox__echo", '{"text": "hello"}', tools.ToolContext("o", mock_settings.db_url)
        )
        echo, delete = tools.remote("testbox__echo"), tools.remote("testbox__delete_file")
    finally:
        await box.stop()
        hub.cache_clear()

    assert {"calculator", "testbox__echo", "testbox__add", "testbox__delete_file"} <= offered
    assert (outcome.status, outcome.result) == ("ok", "echo: hello")
    # "writes", the default: a read-only tool runs at once, one that may act waits for the user.
    assert echo is not None and delete is not None
    assert (echo.needs_approval, delete.needs_approval) == (False, True)
    assert tools.remote("calculator") is None


def test_a_bad_config_file_gives_no_servers_and_the_hub_says_why(tmp_path):
    bad = tmp_path / "mcp.json"
    bad.write_text("{oops")

    box = McpHub(load(str(bad)))

    assert box.connections == {} and "is not JSON" in box.problem
