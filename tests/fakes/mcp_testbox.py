"""A real MCP server for the tests, written with the SDK: `python tests/fakes/mcp_testbox.py` speaks stdio,
`python tests/fakes/mcp_testbox.py http PORT` Streamable HTTP on 127.0.0.1:PORT/mcp. Its tools: read-only
ones, one annotated destructive, a slow one, one that fails, one that ends the process mid-call, and one that
adds a tool and says the list changed."""

from __future__ import annotations

import asyncio
import os
import sys

from mcp.server.mcpserver import Context, MCPServer
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


@box.tool(annotations=ToolAnnotations(readOnlyHint=True))
async def grow(name: str, ctx: Context) -> str:
    """Adds a read-only tool of this name, and tells the client that the list of tools changed."""

    def greet() -> str:
        return f"hello from {name}"

    box.add_tool(greet, name=name, annotations=ToolAnnotations(readOnlyHint=True))
    await ctx.notify_tools_changed()  # to a client of the 2026-07-28 protocol, on its stream of changes
    await ctx.session.send_tool_list_changed()  # to one of the earlier protocol, as a notification
    return f"added {name}"


if __name__ == "__main__":
    if sys.argv[1:2] == ["http"]:
        box.run(transport="streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        box.run()
