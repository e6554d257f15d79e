"""A real browser (Debian's chromium through Playwright) against the real app in production mode."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from ..fakes.mcp_servers import TESTBOX
from .appserver import CHROMIUM_ARGS, REFLEX_RESPAWNING, running_app

# The app, the browser and the tests share two cores: waits get room for a busy machine (CI included).
expect.set_options(timeout=15_000)

MOCK_ENV = {
    "CHATAPP_PROVIDER": "mock",
    "CHATAPP_MOCK_LATENCY_MS": "150",
    "CHATAPP_MOCK_TOKENS_PER_S": "80",
}


# Every browser test that takes `page` runs on both: `make run` (one process, SQLite, the job registry in
# memory) and `make run-scaled` (two workers sharing Redis and PostgreSQL, through its launcher).
APP_MODES = ["one-worker", "two-workers"]


@pytest.fixture(scope="session", params=APP_MODES)
def app_mode(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def app_dir(tmp_path_factory, app_mode):
    return tmp_path_factory.mktemp(f"app-{app_mode}")


@pytest.fixture(scope="session")
def app_db_url(request, app_dir, app_mode) -> str:
    """The app's own database, for tests that seed more history than a user would type."""
    if app_mode == "one-worker":
        return f"sqlite:///{app_dir / 'app.db'}"
    return request.getfixturevalue("postgres_server").create_database("scaled")


def mcp_env(app_dir: Path) -> dict[str, str]:
    """The test MCP server (tests/fakes/mcp_testbox.py), over stdio, as the app's one MCP server."""
    config = app_dir / "mcp.json"
    config.write_text(json.dumps({"mcpServers": {"testbox": {"command": sys.executable, "args": [TESTBOX]}}}))
    return {"CHATAPP_MCP_CONFIG": str(config)}


@pytest.fixture(scope="session")
def app_url(request, app_dir, app_mode, app_db_url) -> str:
    env = {**MOCK_ENV, **mcp_env(app_dir)}
    if app_mode == "one-worker":
        app = running_app(app_dir, env, db_url=app_db_url)
    else:
        redis_url = request.getfixturevalue("redis_url")
        app = running_app(app_dir, {**env, **scaled_env(redis_url)}, app_db_url, REFLEX_RESPAWNING)
    with app as url:
        yield url


def scaled_env(redis_url: str) -> dict[str, str]:
    """What scripts/run-scaled.sh sets, on two workers."""
    return {"REFLEX_REDIS_URL": redis_url, "GRANIAN_WORKERS": "2"}


@pytest.fixture(scope="session")
def browser() -> Browser:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@contextlib.contextmanager
def page_on(browser: Browser, url: str, width: int = 1400, color_scheme: str | None = None) -> Iterator[Page]:
    """A fresh browser profile: its own local storage, so its own owner key and history."""
    context = browser.new_context(viewport={"width": width, "height": 900}, color_scheme=color_scheme)
    opened = context.new_page()
    opened.set_default_timeout(20_000)
    opened.goto(url)
    opened.wait_for_selector("#chat-input")
    yield opened
    context.close()


@pytest.fixture
def page(browser, app_url) -> Page:
    with page_on(browser, app_url) as opened:
        yield opened
