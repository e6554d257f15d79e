"""Settings, read from the environment when first asked for; nothing here runs at import time."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from typing import Literal

ProviderName = Literal["openai", "local", "mock"]

DEFAULT_DB_URL = "sqlite:///chatapp.db"


@dataclass(frozen=True)
class Settings:
    provider: ProviderName
    db_url: str
    # openai: any OpenAI-compatible server. The key stays on the backend; it is never put in state.
    openai_api_key: str = field(repr=False)
    openai_base_url: str | None
    model: str
    connect_timeout_s: float
    read_timeout_s: float
    # local: the bundled SmolLM2 GGUF unless another file is named.
    local_model_path: str | None
    local_max_tokens: int
    # mock: a scripted provider for tests and demos.
    mock_tokens_per_s: float
    mock_latency_ms: float
    system_prompt: str
    max_message_chars: int
    max_tool_rounds: int
    flush_hz: float


def _choose_provider() -> ProviderName:
    chosen = os.environ.get("CHATAPP_PROVIDER", "").strip().lower()
    if chosen in ("openai", "local", "mock"):
        return chosen  # type: ignore[return-value]
    if chosen:
        raise ValueError(f"CHATAPP_PROVIDER must be openai, local or mock, not {chosen!r}")
    if os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL"):
        return "openai"
    return "local"


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw else default


@functools.cache
def get_settings() -> Settings:
    provider = _choose_provider()
    default_model = {"openai": "gpt-4o-mini", "local": "SmolLM2-135M-Instruct", "mock": "mock-1"}[provider]
    return Settings(
        provider=provider,
        db_url=os.environ.get("CHATAPP_DB_URL", DEFAULT_DB_URL),
        openai_api_key=os.environ.get("OPENAI_API_KEY", ""),
        openai_base_url=os.environ.get("OPENAI_BASE_URL") or None,
        model=os.environ.get("CHATAPP_MODEL", default_model),
        connect_timeout_s=_float("CHATAPP_CONNECT_TIMEOUT", 5.0),
        read_timeout_s=_float("CHATAPP_READ_TIMEOUT", 60.0),
        local_model_path=os.environ.get("CHATAPP_LOCAL_MODEL_PATH") or None,
        local_max_tokens=int(_float("CHATAPP_LOCAL_MAX_TOKENS", 512)),
        mock_tokens_per_s=_float("CHATAPP_MOCK_TOKENS_PER_S", 40.0),
        mock_latency_ms=_float("CHATAPP_MOCK_LATENCY_MS", 300.0),
        system_prompt=os.environ.get("CHATAPP_SYSTEM_PROMPT", "You are a helpful, concise assistant."),
        max_message_chars=int(_float("CHATAPP_MAX_MESSAGE_CHARS", 16000)),
        max_tool_rounds=int(_float("CHATAPP_MAX_TOOL_ROUNDS", 4)),
        flush_hz=_float("CHATAPP_FLUSH_HZ", 20.0),
    )
