"""The app as a new user gets it: no provider variable at all, so the bundled model answers, offline."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from chatapp.providers.local.paths import bundled_model_path, default_socket_path

from .appserver import running_app
from .conftest import page_on
from .test_browser import assistant_bubbles, send, send_and_wait


@pytest.fixture(scope="module")
def default_app_url(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("default-app")) as url:  # no CHATAPP_* or OPENAI_* variable
        yield url


@pytest.fixture
def default_page(browser, default_app_url) -> Page:
    with page_on(browser, default_app_url) as opened:
        yield opened


def model_process_pid() -> int:
    """The running model process of the bundled model, found by the socket it serves."""
    socket_path = default_socket_path(bundled_model_path())
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"chatapp.providers.local.worker" in command and socket_path.encode() in command:
                return int(entry.name)
    raise AssertionError("no model process is running")


def test_the_bundled_model_answers_with_its_numbers_in_the_monitor(default_page: Page):
    send_and_wait(default_page, "What is the capital of France?")

    expect(assistant_bubbles(default_page).last).to_contain_text("Paris")
    monitor = default_page.locator("#monitor")
    expect(default_page.locator("#monitor-status")).to_have_text("done")
    expect(monitor.locator("[data-stat=model]")).to_contain_text("SmolLM2-135M-Instruct")
    assert re.fullmatch(r"\d[\d,]* ms", monitor.locator("[data-stat=ttft]").inner_text())
    assert float(monitor.locator("[data-stat=tokens_per_s]").inner_text()) > 5
    # Counted by the model itself, not estimated: llama.cpp reports what it evaluated.
    assert int(monitor.locator("[data-stat=completion_reported]").inner_text()) > 3
    assert int(monitor.locator("[data-stat=prompt_reported]").inner_text()) > 10
    assert monitor.locator("[data-stat=cost]").inner_text() == "$0.00"


def test_the_model_dying_mid_answer_leaves_the_app_up_and_the_next_question_answered(default_page: Page):
    send(default_page, "Write a long story about a dragon who learns to bake bread.")
    expect(default_page.locator("#monitor-status")).to_have_text("streaming")
    os.kill(model_process_pid(), signal.SIGKILL)  # what a crash in llama.cpp does

    expect(default_page.locator("#messages .cf-status-error")).to_be_visible()
    messages = default_page.locator("#messages")
    expect(messages).to_contain_text("The local model stopped unexpectedly; it is restarting")
    kept = assistant_bubbles(default_page).last.inner_text()

    default_page.reload()  # the server kept what the user saw, marked as an error
    default_page.wait_for_selector("#chat-input")
    expect(default_page.locator("#messages .cf-status-error")).to_be_visible()
    expect(assistant_bubbles(default_page).last).to_contain_text(kept.split()[0])

    send_and_wait(default_page, "What is the capital of France?")
    expect(assistant_bubbles(default_page).last).to_contain_text("Paris")
