"""The app as `make run-scaled` runs it: two workers, Reflex's state and the job registry in Redis, the
history in PostgreSQL. Each tab below may be served by either worker; an answer runs on one of them."""

from __future__ import annotations

import os
import signal
import time

import pytest
import redis
from playwright.sync_api import Page, expect

from .appserver import REFLEX_RESPAWNING, migrate, running_app
from .conftest import MOCK_ENV, page_on
from .test_browser import (
    assistant_bubbles,
    catch_up_on_return,
    reload_mid_answer,
    send,
    send_and_wait,
    stop_from_another_tab,
    two_tabs_follow_one_answer,
)

pytest_plugins = ["tests.postgres", "tests.redis_server"]


@pytest.fixture(scope="module")
def scaled_app_url(tmp_path_factory, postgres_server, redis_url):
    """The app as `make run-scaled` starts it (with its launcher), on 2 workers."""
    db_url = postgres_server.create_database("scaled")
    migrate(db_url).check_returncode()
    env = {**MOCK_ENV, "REFLEX_REDIS_URL": redis_url, "GRANIAN_WORKERS": "2", "REFLEX_OPLOCK_ENABLED": "1"}
    with running_app(
        tmp_path_factory.mktemp("scaled-app"), env, db_url=db_url, reflex=REFLEX_RESPAWNING
    ) as url:
        yield url


@pytest.fixture
def scaled_page(browser, scaled_app_url) -> Page:
    with page_on(browser, scaled_app_url) as opened:
        yield opened


def test_two_tabs_follow_one_answer_to_the_same_end_on_two_workers(scaled_page: Page):
    two_tabs_follow_one_answer(scaled_page, "Followed on two workers")


def test_stop_in_the_other_tab_stops_the_answer_on_whichever_worker_runs_it(scaled_page: Page):
    stop_from_another_tab(scaled_page, "Stopped from the other tab")


def test_a_reload_mid_answer_picks_the_stream_up_on_two_workers(scaled_page: Page):
    reload_mid_answer(scaled_page)


def test_a_tab_coming_back_catches_up_with_another_tab_on_two_workers(scaled_page: Page):
    catch_up_on_return(scaled_page, "Left open on two workers")


def worker_running_an_answer(redis_url: str) -> int:
    """The pid of the worker whose job is answering now, as the job registry records it in Redis."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for key in client.scan_iter(match="chatapp:job:*"):
            if not key.endswith(":updates") and client.hget(key, "answering") == "1":
                return int(client.hget(key, "worker"))
        time.sleep(0.1)
    raise AssertionError("no job is answering")


# Last in this module: the app it shares with the tests above loses a worker (Granian starts a new one).
def test_a_killed_worker_leaves_its_partial_answer_interrupted_and_the_other_worker_serves(
    scaled_page: Page, redis_url: str
):
    send(scaled_page, "/mock tokens=2000 rate=40\nAnswer on the worker that dies")
    answer = assistant_bubbles(scaled_page).last
    expect(answer).to_contain_text("word80")  # 2 s in: the answer was saved on the way (every second)
    os.kill(worker_running_an_answer(redis_url), signal.SIGKILL)

    # The tab reconnects to the worker left. The answer stays as last saved, marked as cut off.
    expect(scaled_page.locator("#messages .cf-status-interrupted")).to_be_visible(timeout=30_000)
    expect(answer).to_contain_text("word10")
    scaled_page.reload()
    answer = assistant_bubbles(scaled_page).last
    expect(scaled_page.locator("#messages .cf-status-interrupted")).to_be_visible()
    expect(answer).to_contain_text("word10")
    assert "word2000" not in answer.inner_text()

    # And the app goes on answering.
    send_and_wait(scaled_page, "/mock tokens=5 rate=200\nStill there?")
    expect(assistant_bubbles(scaled_page).last).to_contain_text("word5")
