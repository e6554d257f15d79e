"""A real MCP server for the tests, written with the SDK: `python tests/fakes/mcp_testbox.py` speaks stdio,
`python tests/fakes/mcp_testbox.py http PORT` Streamable HTTP on 127.0.0.1:PORT/mcp. Its tools: read-only
ones, one annotated destructive, a slow one, one that fails, and one that ends the process mid-call."""

from __future__ import annotations

import asyncio
import os
import sys

from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations

box = MCPServer("testbox")


@box.tool(annotations=ToolAnnotations(readOnlyHint=True))
def add(a: int, b: int) -> int:
    """Adds two whole numbers."""
    return a + b


@box.tool(annotations=ToolAnnotations(readOnlyHint=True))
def echo(text: str) -> str:
    """Says the text back."""
    return f"echo: {text}"


@box.tool(annotations=ToolAnnotations(destructiveHint=True))
def delete_file(path: str) -> str:
    """Deletes a file (here, only says it would)."""
    return f"would delete {path}"


@box.tool(annotations=ToolAnnotations(readOnlyHint=True))
def fail(reason: str) -> str:
    """Always fails, with the reason."""
    raise ValueError(reason)


@box.tool(annotations=ToolAnnotations(readOnlyHint=True))
async def slow(seconds: float) -> str:
    """Answers after a while."""
    await asyncio.sleep(seconds)
    return "done"


@box.tool(annotations=ToolAnnotations(readOnlyHint=True))
def die() -> str:
    """Ends the server's process in the middle of the call."""
    os._exit(3)


if __name__ == "__main__":
    if sys.argv[1:2] == ["http"]:
        box.run(transport="streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        box.run()
