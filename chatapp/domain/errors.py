"""The failures a caller must tell apart, each one class; every message is written for the user."""

from __future__ import annotations

from typing import Literal

ProviderErrorKind = Literal["auth", "rate_limit", "server", "unreachable", "bad_request", "interrupted"]


class ProviderError(Exception):
    """A failure the user must be told about in plain words; `kind` says which one."""

    def __init__(self, kind: ProviderErrorKind, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.retry_after_s = retry_after_s  # a rate limit's advised wait, when the server gave one


class InputError(ValueError):
    """The user's input can't be accepted as it is (empty, too long, unknown conversation)."""


class Refused(Exception):
    """An answer can't start now (one streams in that conversation, or too many for its owner)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
