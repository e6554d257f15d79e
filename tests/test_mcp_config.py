"""Reading the `mcpServers` file: the servers it names, and one plain message for a file that is no use."""

from __future__ import annotations

import json

import pytest

from chatapp.mcp_servers.config import load


def written(tmp_path, content) -> str:
    path = tmp_path / "mcp.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def test_no_file_named_means_no_servers_and_no_problem():
    assert load(None).servers == () and load(None).problem == ""


def test_stdio_and_http_servers_are_read_with_their_approval_setting(tmp_path):
    config = load(
        written(
            tmp_path,
            {
                "mcpServers": {
                    "files": {"command": "uvx", "args": ["mcp-server-fetch"], "env": {"TOKEN": "s3cret"}},
                    "search": {"url": "http://127.0.0.1:9/mcp", "headers": {"Authorization": "Bearer k"}},
                    "old": {"command": "x", "disabled": True},
                    "careful": {"url": "https://example.com/mcp", "approve": "always"},
                },
                "globalShortcut": "Ctrl+Space",  # Claude Desktop keeps its own settings in the same file
            },
        )
    )

    assert config.problem == ""
    files, search, careful = config.servers
    assert (files.name, files.transport, files.command, files.args) == (
        "files",
        "stdio",
        "uvx",
        ("mcp-server-fetch",),
    )
    assert (search.transport, search.url, search.approve) == ("http", "http://127.0.0.1:9/mcp", "writes")
    assert careful.approve == "always"
    assert "s3cret" not in repr(files) and "Bearer" not in repr(search)  # secrets stay out of logs


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "is not JSON"),
        ({"servers": {}}, "mcpServers: Field required"),
        ({"mcpServers": {"a": {}}}, 'give either "command"'),
        ({"mcpServers": {"a": {"command": "x", "url": "http://h/mcp"}}}, 'give either "command"'),
        ({"mcpServers": {"a": {"url": "file:///etc/passwd"}}}, "mcpServers.a.url"),
        ({"mcpServers": {"a": {"command": "x", "approve": "sometimes"}}}, "mcpServers.a.approve"),
        ({"mcpServers": {"a b.c": {"command": "x"}}}, "may hold only letters, digits"),
        ({"mcpServers": {"a": {"command": "x", "comand": "typo"}}}, "mcpServers.a.comand"),
    ],
)
def test_a_file_that_cannot_be_used_gives_one_plain_problem_and_no_servers(tmp_path, content, problem):
    config = load(written(tmp_path, content))

    assert config.servers == ()
    assert problem in config.problem and config.problem.startswith("CHATAPP_MCP_CONFIG (")


def test_a_missing_file_is_named_in_the_problem(tmp_path):
    config = load(str(tmp_path / "nowhere.json"))

    assert "can't be read" in config.problem and "nowhere.json" in config.problem
