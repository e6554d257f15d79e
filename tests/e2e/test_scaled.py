"""What only several workers have: the one running an answer dies. Every other browser test runs on two
workers as well (see conftest's app modes); this one gets an app of its own, since it kills part of it."""

from __future__ import annotations

import os
import signal
import time

import pytest
import redis
from playwright.sync_api import Page, expect

from .appserver import REFLEX_RESPAWNING, running_app
from .conftest import MOCK_ENV, page_on, scaled_env
from .test_browser import assistant_bubbles, send, send_and_wait


@pytest.fixture(scope="module")
def scaled_app_url(tmp_path_factory, postgres_server, redis_url):
    """The app as `make run-scaled` starts it (with its launcher), on 2 workers."""
    db_url = postgres_server.create_database("killed")
    env = {**MOCK_ENV, **scaled_env(redis_url)}
    with running_app(tmp_path_factory.mktemp("scaled-app"), env, db_url, REFLEX_RESPAWNING) as url:
        yield url


@pytest.fixture
def scaled_page(browser, scaled_app_url) -> Page:
    with page_on(browser, scaled_app_url) as opened:
        yield opened


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
