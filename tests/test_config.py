"""Settings: read from the environment or a .env file, validated, explained by the variable's name."""

from __future__ import annotations

import subprocess

import pytest

from chatapp.config import DEFAULT_DB_URL, SettingsError, get_settings
from tests.e2e.appserver import BIN, ROOT

VARIABLES = ("CHATAPP_PROVIDER", "CHATAPP_MODEL", "CHATAPP_DB_URL", "REFLEX_DB_URL", "OPENAI_API_KEY")


@pytest.fixture
def environment(monkeypatch, tmp_path):
    """No chatapp variables, in a directory of its own (so no .env file but the test's)."""
    for name in (*VARIABLES, "OPENAI_BASE_URL", "CHATAPP_READ_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def test_out_of_the_box_the_bundled_model_answers(environment):
    settings = get_settings()

    assert settings.provider == "local"
    assert (settings.model, settings.db_url) == ("SmolLM2-135M-Instruct", DEFAULT_DB_URL)


def test_an_api_key_chooses_openai_and_never_shows_in_a_repr(environment):
    environment.setenv("OPENAI_API_KEY", "sk-secret-value")
    settings = get_settings()

    assert (settings.provider, settings.model) == ("openai", "gpt-4o-mini")
    assert settings.openai_api_key.get_secret_value() == "sk-secret-value"
    assert "sk-secret-value" not in repr(settings) + str(settings)


def test_a_mistyped_number_names_its_variable(environment):
    environment.setenv("CHATAPP_READ_TIMEOUT", "abc")

    with pytest.raises(SettingsError, match="CHATAPP_READ_TIMEOUT: Input should be a valid number"):
        get_settings()


def test_an_unknown_provider_is_refused_by_name(environment):
    environment.setenv("CHATAPP_PROVIDER", "gemini")

    with pytest.raises(SettingsError, match="CHATAPP_PROVIDER"):
        get_settings()


def test_reflexs_own_database_variable_is_the_apps_too(environment):
    environment.setenv("REFLEX_DB_URL", "sqlite:///elsewhere.db")

    assert get_settings().db_url == "sqlite:///elsewhere.db"


def test_two_database_variables_that_disagree_are_refused(environment):
    environment.setenv("REFLEX_DB_URL", "sqlite:///one.db")
    environment.setenv("CHATAPP_DB_URL", "sqlite:///two.db")

    with pytest.raises(SettingsError, match="different databases"):
        get_settings()


def test_a_dotenv_file_is_read_and_the_environment_wins(environment, tmp_path):
    (tmp_path / ".env").write_text("CHATAPP_PROVIDER=mock\nCHATAPP_MAX_TOOL_ROUNDS=2\n")
    environment.setenv("CHATAPP_MAX_TOOL_ROUNDS", "3")
    settings = get_settings()

    assert (settings.provider, settings.model, settings.max_tool_rounds) == ("mock", "mock-1", 3)


def test_reflex_stops_with_the_message_not_a_traceback():
    env = {"PATH": f"{BIN}:/usr/bin:/bin", "CHATAPP_READ_TIMEOUT": "abc", "REFLEX_TELEMETRY_ENABLED": "false"}
    done = subprocess.run(
        [str(BIN / "reflex"), "db", "migrate"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )

    assert done.returncode != 0
    assert "CHATAPP_READ_TIMEOUT: Input should be a valid number" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def test_only_the_documented_names_are_read(environment):
    # A shell often has MODEL, PROVIDER or DB_URL for something else entirely.
    environment.setenv("MODEL", "someone-elses")
    environment.setenv("DB_URL", "sqlite:///someone-elses.db")
    settings = get_settings()

    assert (settings.model, settings.db_url) == ("SmolLM2-135M-Instruct", DEFAULT_DB_URL)
