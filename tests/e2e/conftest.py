"""A real browser (Debian's chromium through Playwright) against the real app in production mode."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from .appserver import CHROMIUM_ARGS, running_app

# The app, the browser and the tests share two cores: waits get room for a busy machine (CI included).
expect.set_options(timeout=15_000)

MOCK_ENV = {
    "CHATAPP_PROVIDER": "mock",
    "CHATAPP_MOCK_LATENCY_MS": "150",
    "CHATAPP_MOCK_TOKENS_PER_S": "80",
}


@pytest.fixture(scope="session")
def app_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("app")


@pytest.fixture(scope="session")
def app_db_url(app_dir) -> str:
    """The app's own database, for tests that seed more history than a user would type."""
    return f"sqlite:///{app_dir / 'app.db'}"


@pytest.fixture(scope="session")
def app_url(app_dir) -> str:
    with running_app(app_dir, MOCK_ENV) as url:
        yield url


@pytest.fixture(scope="session")
def browser() -> Browser:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@contextlib.contextmanager
def page_on(browser: Browser, url: str) -> Iterator[Page]:
    """A fresh browser profile: its own local storage, so its own owner key and history."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
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
