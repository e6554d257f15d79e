"""The test MCP server (mcp_testbox.py) as the tests start it: over stdio through an mcpServers file the app
reads (`mcp_servers`, `connected`), or over Streamable HTTP on a free loopback port (`http_testbox`). Its
fixtures are shared through tests/conftest.py."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from chatapp.config import get_settings
from chatapp.mcp_servers.hub import hub

from ..factories import until

TESTBOX = str(Path(__file__).with_name("mcp_testbox.py"))


@pytest.fixture
def http_testbox():
    """The test server over Streamable HTTP on a free loopback port; yields its URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, TESTBOX, "http", str(port)], stderr=subprocess.DEVNULL)
    yield f"http://127.0.0.1:{port}/mcp"
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def mcp_servers(tmp_path, monkeypatch):
    """Writes an mcpServers file naming the test server `testbox` (over stdio unless given a `url`) and points
    the app at it; call it again to change the server's settings."""

    def configure(**testbox: object) -> None:
        server = testbox if "url" in testbox else {"command": sys.executable, "args": [TESTBOX], **testbox}
        path = tmp_path / "mcp.json"
        path.write_text(json.dumps({"mcpServers": {"testbox": server}}))
        monkeypatch.setenv("CHATAPP_MCP_CONFIG", str(path))
        get_settings.cache_clear()

    configure()
    return configure


@pytest.fixture
async def connected(mcp_servers):
    """This process's hub, started and connected to the test server as the file names it."""
    hub.cache_clear()
    box = hub()
    box.start()
    await until(lambda: box.connections["testbox"].status == "connected")
    yield box
    await box.stop()
    hub.cache_clear()
