"""Providers: one small protocol, three implementations, chosen by configuration."""

from __future__ import annotations

import functools

from ..config import Settings
from .base import Provider


@functools.cache
def provider_for(settings: Settings) -> Provider:
    """One provider per configuration, so its client (and the local model) is built once."""
    if settings.provider == "openai":
        from .openai import OpenAIProvider

        return OpenAIProvider(settings)
    if settings.provider == "mock":
        from .mock import MockProvider

        return MockProvider(
            tokens_per_s=settings.mock_tokens_per_s, latency_ms=settings.mock_latency_ms, model=settings.model
        )
    from .local.provider import LocalProvider

    return LocalProvider(settings)


__all__ = ["Provider", "provider_for"]
