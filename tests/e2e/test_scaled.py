"""The app as `make run-scaled` runs it: two workers, Reflex's state and the job registry in Redis, the
history in PostgreSQL. Each tab below may be served by either worker; an answer runs on one of them."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from .appserver import migrate, running_app
from .conftest import MOCK_ENV
from .test_browser import assistant_bubbles, send

pytest_plugins = ["tests.postgres", "tests.redis_server"]


@pytest.fixture(scope="module")
def scaled_app_url(tmp_path_factory, postgres_server, redis_url):
    db_url = postgres_server.create_database("scaled")
    migrate(db_url).check_returncode()
    env = {**MOCK_ENV, "REFLEX_REDIS_URL": redis_url, "GRANIAN_WORKERS": "2", "REFLEX_OPLOCK_ENABLED": "1"}
    with running_app(tmp_path_factory.mktemp("scaled-app"), env, db_url=db_url) as url:
        yield url


@pytest.fixture
def scaled_page(browser, scaled_app_url) -> Page:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    opened = context.new_page()
    opened.goto(scaled_app_url)
    opened.wait_for_selector("#chat-input")
    yield opened
    context.close()


def other_tab(page: Page, question: str) -> Page:
    other = page.context.new_page()
    other.goto(page.url)
    other.wait_for_selector("#chat-input")
    other.locator("#history .history-title", has_text=question).click()
    return other


def test_two_tabs_follow_one_answer_to_the_same_end_on_two_workers(scaled_page: Page):
    send(scaled_page, "/mock tokens=300 rate=60\nFollowed on two workers")
    expect(assistant_bubbles(scaled_page).last).to_contain_text("word20")

    other = other_tab(scaled_page, "Followed on two workers")
    words = " ".join(f"word{i}" for i in range(1, 301))
    for tab in (other, scaled_page):
        expect(assistant_bubbles(tab).last).to_contain_text("word300", timeout=20_000)
        expect(tab.locator("#monitor-status")).to_have_text("done")
        assert " ".join(assistant_bubbles(tab).last.inner_text().split()).count(words) == 1


def test_stop_in_the_other_tab_stops_the_answer_on_whichever_worker_runs_it(scaled_page: Page):
    send(scaled_page, "/mock tokens=2000 rate=40\nStopped from the other tab")
    expect(assistant_bubbles(scaled_page).last).to_contain_text("word5")

    other = other_tab(scaled_page, "Stopped from the other tab")
    other.locator("#stop-button").click()
    for tab in (scaled_page, other):
        expect(tab.locator("#messages .cf-status-stopped")).to_be_visible()
    assert "word2000" not in assistant_bubbles(scaled_page).last.inner_text()


def test_a_reload_mid_answer_picks_the_stream_up_on_two_workers(scaled_page: Page):
    send(scaled_page, "/mock tokens=300 rate=60\nReloaded on two workers")
    expect(assistant_bubbles(scaled_page).last).to_contain_text("word20")
    scaled_page.reload()
    scaled_page.wait_for_selector("#chat-input")

    answer = assistant_bubbles(scaled_page).last
    expect(answer).to_contain_text("word300", timeout=20_000)
    expect(scaled_page.locator("#monitor-status")).to_have_text("done")
    text = " ".join(answer.inner_text().split())
    assert text.count("word20 ") == 1 and " ".join(f"word{i}" for i in range(1, 301)) in text
