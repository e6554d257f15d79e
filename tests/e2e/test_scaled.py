"""The app as `make run-scaled` runs it: two workers, Reflex's state and the job registry in Redis, the
history in PostgreSQL. Each tab below may be served by either worker; an answer runs on one of them."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from .appserver import migrate, running_app
from .conftest import MOCK_ENV, page_on
from .test_browser import reload_mid_answer, stop_from_another_tab, two_tabs_follow_one_answer

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
    with page_on(browser, scaled_app_url) as opened:
        yield opened


def test_two_tabs_follow_one_answer_to_the_same_end_on_two_workers(scaled_page: Page):
    two_tabs_follow_one_answer(scaled_page, "Followed on two workers")


def test_stop_in_the_other_tab_stops_the_answer_on_whichever_worker_runs_it(scaled_page: Page):
    stop_from_another_tab(scaled_page, "Stopped from the other tab")


def test_a_reload_mid_answer_picks_the_stream_up_on_two_workers(scaled_page: Page):
    reload_mid_answer(scaled_page)
