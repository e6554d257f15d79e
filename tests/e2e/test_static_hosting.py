"""The frontend from `reflex export`, served by a plain static server, chatting with a separate backend."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, Page, expect

from .appserver import exported_frontend, free_port, running_backend, static_server
from .conftest import MOCK_ENV
from .test_browser import chat_reload_and_reopen, export_json, send_and_wait


@dataclass(frozen=True)
class Hosting:
    site: str  # the static server's origin, where the browser opens the app
    api: str  # the backend's origin, baked into the bundle at export


@pytest.fixture(scope="module")
def hosting(tmp_path_factory) -> Iterator[Hosting]:
    workdir = tmp_path_factory.mktemp("static")
    api_port, site_port = free_port(), free_port()
    site = f"http://127.0.0.1:{site_port}"
    # Only the static site's origin may call the backend: the README's advice, and what the last test checks.
    backend_env = MOCK_ENV | {"REFLEX_CORS_ALLOWED_ORIGINS": site}
    with running_backend(workdir, api_port, backend_env) as api:
        files = exported_frontend(workdir, api_url=api)
        with static_server(workdir, files, site_port) as served:
            yield Hosting(site=served, api=api)


@pytest.fixture
def page(browser: Browser, hosting: Hosting) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(20_000)
    opened.goto(hosting.site)
    opened.wait_for_selector("#chat-input")
    yield opened
    context.close()


def test_a_chat_through_the_static_site_is_kept_across_a_reload(page: Page):
    chat_reload_and_reopen(page, "Hello from a static host")


def test_the_page_reads_the_rest_api_on_the_backend_origin(page: Page, hosting: Hosting):
    send_and_wait(page, "/mock tokens=3 rate=200\nAsked over REST")
    page.locator("#settings-button").click()
    key = page.locator("#owner-key").inner_text().strip()
    expect(page.get_by_role("dialog")).to_contain_text(f"{hosting.api}/chats")  # the URL baked in at export

    fetch = """async ([url, key]) => {
        const headers = key ? {Authorization: `Bearer ${key}`} : {};
        const response = await fetch(url, {headers});
        return {status: response.status, body: await response.json()};
    }"""
    listed = page.evaluate(fetch, [f"{hosting.api}/chats", key])
    assert listed["status"] == 200
    assert [chat["title"] for chat in listed["body"]["chats"]] == ["Asked over REST"]
    refused = page.evaluate(fetch, [f"{hosting.api}/chats", ""])
    assert refused["status"] == 401 and "error" in refused["body"]


def test_an_import_uploads_to_the_backend_origin(page: Page, tmp_path):
    send_and_wait(page, "/mock tokens=2 rate=200\nCarried over")
    page.locator("#import-upload input[type=file]").set_input_files(export_json(page, tmp_path / "chat.json"))
    expect(page.locator("#history .history-row", has_text="Carried over")).to_have_count(2)


def test_the_backend_turns_away_origins_it_was_not_told_about(hosting: Hosting):
    def preflight(origin: str) -> tuple[int, str | None]:
        request = urllib.request.Request(
            f"{hosting.api}/chats",
            method="OPTIONS",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        try:
            with urllib.request.urlopen(request) as response:
                return response.status, response.headers["access-control-allow-origin"]
        except urllib.error.HTTPError as refused:
            return refused.code, refused.headers["access-control-allow-origin"]

    assert preflight(hosting.site) == (200, hosting.site)
    status, allowed = preflight("http://elsewhere.example")
    assert status == 400 and allowed is None
