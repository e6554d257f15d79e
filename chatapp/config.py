"""Settings: one validated object, read from the environment (or a `.env` file) when first asked for.

Nothing here runs at import time. A value that doesn't parse stops the app with a message that names the
variable (SettingsError), never a traceback. The database URL has one source for the app and for
`reflex db migrate` alike: `CHATAPP_DB_URL`, or Reflex's own `REFLEX_DB_URL` (rxconfig.py reads it from here).
"""

from __future__ import annotations

import functools
import os
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, SettingsConfigDict

ProviderName = Literal["openai", "local", "mock"]

DEFAULT_DB_URL = "sqlite:///chatapp.db"
DEFAULT_MODELS: dict[str, str] = {"openai": "gpt-4o-mini", "local": "SmolLM2-135M-Instruct", "mock": "mock-1"}


class SettingsError(ValueError):
    """A setting that can't be used, explained by the variable's name."""


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_ignore_empty=True, extra="ignore", frozen=True)

    # openai: any OpenAI-compatible server. The key stays on the backend: never in state, logs or repr.
    openai_api_key: SecretStr = Field(SecretStr(""), validation_alias=_env("OPENAI_API_KEY"))
    openai_base_url: str | None = Field(None, validation_alias=_env("OPENAI_BASE_URL"))
    # Which provider: openai once a key or a server is named, else the bundled local model.
    provider: ProviderName | None = Field(
        None, validation_alias=_env("CHATAPP_PROVIDER"), validate_default=True
    )
    model: str = Field("", validation_alias=_env("CHATAPP_MODEL"), validate_default=True)
    db_url: str = Field(DEFAULT_DB_URL, validation_alias=_env("CHATAPP_DB_URL", "REFLEX_DB_URL"))
    connect_timeout_s: float = Field(5.0, gt=0, validation_alias=_env("CHATAPP_CONNECT_TIMEOUT"))
    read_timeout_s: float = Field(60.0, gt=0, validation_alias=_env("CHATAPP_READ_TIMEOUT"))
    # local: the bundled SmolLM2 GGUF unless another file is named, run in a process of its own.
    local_model_path: str | None = Field(None, validation_alias=_env("CHATAPP_LOCAL_MODEL_PATH"))
    local_max_tokens: int = Field(512, ge=1, le=2048, validation_alias=_env("CHATAPP_LOCAL_MAX_TOKENS"))
    local_model_socket: str | None = Field(None, validation_alias=_env("CHATAPP_LOCAL_MODEL_SOCKET"))
    local_threads: int | None = Field(None, ge=1, le=256, validation_alias=_env("CHATAPP_LOCAL_THREADS"))
    # mock: a scripted provider for tests and demos.
    mock_tokens_per_s: float = Field(40.0, gt=0, validation_alias=_env("CHATAPP_MOCK_TOKENS_PER_S"))
    mock_latency_ms: float = Field(300.0, ge=0, validation_alias=_env("CHATAPP_MOCK_LATENCY_MS"))
    system_prompt: str = Field(
        "You are a helpful, concise assistant.", validation_alias=_env("CHATAPP_SYSTEM_PROMPT")
    )
    max_message_chars: int = Field(16000, ge=1, validation_alias=_env("CHATAPP_MAX_MESSAGE_CHARS"))
    max_tool_rounds: int = Field(4, ge=0, validation_alias=_env("CHATAPP_MAX_TOOL_ROUNDS"))
    # A JSON file of MCP servers in the `mcpServers` format (chatapp/mcp_servers/config.py).
    mcp_config: str | None = Field(None, validation_alias=_env("CHATAPP_MCP_CONFIG"))
    # Prometheus at GET /metrics, off unless turned on. With a token, a scrape must send it as a bearer
    # token; without one, only this machine (a loopback address) is answered.
    metrics_enabled: bool = Field(False, validation_alias=_env("CHATAPP_METRICS"))
    metrics_token: SecretStr = Field(SecretStr(""), validation_alias=_env("CHATAPP_METRICS_TOKEN"))
    # Set for Reflex itself when it runs several workers; the job registry then keeps its jobs there too.
    redis_url: str | None = Field(None, validation_alias=_env("REFLEX_REDIS_URL"))
    max_answers_per_owner: int = Field(3, ge=1, validation_alias=_env("CHATAPP_MAX_ANSWERS_PER_OWNER"))
    flush_hz: float = Field(20.0, gt=0, le=1000, validation_alias=_env("CHATAPP_FLUSH_HZ"))

    @field_validator("provider", mode="before")
    @classmethod
    def _choose_provider(cls, value: object, info: ValidationInfo) -> object:
        if isinstance(value, str):
            return value.strip().lower()
        key: SecretStr | None = info.data.get("openai_api_key")
        return "openai" if (key and key.get_secret_value()) or info.data.get("openai_base_url") else "local"

    @field_validator("model")
    @classmethod
    def _default_model(cls, value: str, info: ValidationInfo) -> str:
        return value or DEFAULT_MODELS.get(info.data.get("provider") or "local", "")


def _variable(error: ErrorDetails) -> str:
    field = str(error["loc"][0]) if error["loc"] else ""
    info = Settings.model_fields.get(field)
    alias = info.validation_alias if info is not None else None
    return alias.choices[0] if isinstance(alias, AliasChoices) else field  # type: ignore[return-value]


@functools.cache
def get_settings() -> Settings:
    ours, reflex = os.environ.get("CHATAPP_DB_URL"), os.environ.get("REFLEX_DB_URL")
    if ours and reflex and ours != reflex:
        # Reflex's migrations would go to one database and the app to the other.
        raise SettingsError("CHATAPP_DB_URL and REFLEX_DB_URL name different databases: set only one.")
    try:
        return Settings()
    except ValidationError as error:
        problems = "; ".join(f"{_variable(e)}: {e['msg']}" for e in error.errors())
        raise SettingsError(f"chatapp can't start with these settings. {problems}") from None
