"""The provider protocol: every model, remote or local or scripted, is one async generator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Protocol

from ..domain import PromptMessage, ProviderEvent


class Provider(Protocol):
    name: str  # "openai" | "local" | "mock"
    model: str

    def stream(self, messages: Sequence[PromptMessage]) -> AsyncIterator[ProviderEvent]:
        """Yields text deltas as they arrive, then at most one usage report.

        Raises ProviderError for anything the user must be told. Closing the iterator (Stop) must cancel the
        underlying request promptly.
        """
        ...
