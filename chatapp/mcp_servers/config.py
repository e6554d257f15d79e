"""The `mcpServers` file that Claude Desktop, Cursor and LibreChat users already have, read and checked.

```json
{"mcpServers": {"files": {"command": "uvx", "args": ["mcp-server-fetch"], "env": {"KEY": "..."}},
                "search": {"url": "https://example.com/mcp", "headers": {"Authorization": "Bearer ..."},
                           "approve": "always"}}}
```

A server is a command on this host (stdio) or a URL (Streamable HTTP). Whoever runs the app writes this file;
the browser never names a server. Its secrets (env, headers) stay on the backend: only names and statuses
are shown. A file that can't be read gives one clear message and no servers, and the app starts anyway.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

# Which calls wait for the user: none, those of tools not marked read-only, or all of them.
Approval = Literal["never", "writes", "always"]
# A server's name is part of its tools' names, which the model sees (OpenAI allows [A-Za-z0-9_-]).
SERVER_NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
MAX_CONFIG_BYTES = 1_000_000


class _Server(BaseModel):
    model_config = ConfigDict(extra="forbid")

    command: str | None = Field(None, min_length=1)
    args: list[str] = []
    env: dict[str, str] = {}
    cwd: str | None = None
    url: str | None = Field(None, pattern=r"^https?://")
    headers: dict[str, str] = {}
    approve: Approval = "writes"
    timeout_s: float = Field(30.0, gt=0, le=600)
    disabled: bool = False

    @model_validator(mode="after")
    def _one_transport(self) -> _Server:
        if (self.command is None) == (self.url is None):
            raise ValueError('give either "command" (a program to run) or "url" (a Streamable HTTP endpoint)')
        return self


class _File(BaseModel):
    model_config = ConfigDict(extra="ignore")  # the same file may hold other apps' settings

    mcpServers: dict[str, _Server]  # the key every client of this format uses


@dataclass(frozen=True)
class ServerConfig:
    name: str
    approve: Approval
    timeout_s: float
    command: str | None = None
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict, repr=False)  # secrets: never in a repr or a log
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def transport(self) -> Literal["stdio", "http"]:
        return "stdio" if self.command else "http"


@dataclass(frozen=True)
class McpConfig:
    servers: tuple[ServerConfig, ...] = ()
    problem: str = ""  # why the file gave no servers, in words for the log and the monitor


def load(path: str | None) -> McpConfig:
    """The servers of the file at `path` (none without one). Never raises: a bad file is a `problem`."""
    if not path:
        return McpConfig()
    where = f"CHATAPP_MCP_CONFIG ({path})"
    try:
        raw = Path(path).read_bytes()[: MAX_CONFIG_BYTES + 1]
    except OSError as error:
        return McpConfig(problem=f"{where} can't be read: {error.strerror or error}.")
    if len(raw) > MAX_CONFIG_BYTES:
        return McpConfig(problem=f"{where} is larger than 1 MB; it can't be an MCP configuration.")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        return McpConfig(problem=f"{where} is not JSON ({error}).")
    try:
        parsed = _File.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        at = ".".join(str(part) for part in first["loc"])
        return McpConfig(problem=f"{where}: {at}: {first['msg']}.")
    servers = []
    for name, server in parsed.mcpServers.items():
        if not SERVER_NAME.fullmatch(name):
            return McpConfig(
                problem=f"{where}: the server name {name[:40]!r} may hold only letters, digits, - and _ "
                "(32 at most): it becomes part of its tools' names."
            )
        if server.disabled:
            continue
        servers.append(
            ServerConfig(
                name=name,
                approve=server.approve,
                timeout_s=server.timeout_s,
                command=server.command,
                args=tuple(server.args),
                env=dict(server.env),
                cwd=server.cwd,
                url=server.url,
                headers=dict(server.headers),
            )
        )
    return McpConfig(servers=tuple(servers))
