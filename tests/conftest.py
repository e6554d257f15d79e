"""Shared fixtures: a real SQLite database per test and settings read from a controlled environment."""

from __future__ import annotations

import pytest

from chatapp import db
from chatapp.config import get_settings
from chatapp.turns import jobs

# Throwaway PostgreSQL and Redis servers, started the first time a test asks for one, and the fixtures of the
# OpenAI-compatible and MCP test servers.
pytest_plugins = [
    "tests.postgres",
    "tests.redis_server",
    "tests.fakes.openai_server",
    "tests.fakes.mcp_servers",
]


@pytest.fixture
def db_url(tmp_path, monkeypatch) -> str:
    """A fresh SQLite file (WAL needs a file, not :memory:) with the app's tables; settings point at it."""
    url = f"sqlite:///{tmp_path / 'chat.db'}"
    monkeypatch.setenv("CHATAPP_DB_URL", url)
    db.create_tables(url)
    get_settings.cache_clear()
    jobs.registry.cache_clear()  # each test's event loop runs its own jobs
    yield url
    get_settings.cache_clear()
    jobs.registry.cache_clear()
    db.engine(url).dispose()


@pytest.fixture
def mock_settings(db_url, monkeypatch):
    """Settings for the mock provider, fast enough for tests."""
    monkeypatch.setenv("CHATAPP_PROVIDER", "mock")
    monkeypatch.setenv("CHATAPP_MOCK_LATENCY_MS", "0")
    monkeypatch.setenv("CHATAPP_MOCK_TOKENS_PER_S", "2000")
    get_settings.cache_clear()
    return get_settings()


def pytest_collection_modifyitems(items):
    """Browser tests run last: Playwright's sync API keeps an event loop running in the main thread for the
    rest of the session, and async tests can't start their own after that."""
    items.sort(key=lambda item: "/e2e/" in str(item.path))
