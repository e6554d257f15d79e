"""Whose conversations these are: a browser's random key, and the id the server keeps in its place.

The key lives in the browser (local storage) and is the bearer token of REST. The server stores and compares
only `owner_id(key)`, a SHA-256 of it, so a copy of the database, Redis or a log line never holds a key that
opens anything. The key is 24 random bytes: a hash of it can't be reversed by guessing.
"""

from __future__ import annotations

import hashlib
import secrets


def new_key() -> str:
    return secrets.token_urlsafe(24)


def is_valid_key(key: object) -> bool:
    """A key as this app makes them (any client can send any value in its place)."""
    return isinstance(key, str) and 16 <= len(key) <= 64 and all(c.isalnum() or c in "-_" for c in key)


def owner_id(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()
