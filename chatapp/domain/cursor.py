"""Page cursors: the position after a page, handed to a client as one opaque string and read back.

A cursor is its fields joined with "|", in URL-safe base64 without padding. Reading one back never trusts
it: anything that isn't a cursor of the expected shape raises ValueError, for the caller to answer plainly.
"""

from __future__ import annotations

import base64


def encode_cursor(*fields: object) -> str:
    raw = "|".join(str(f) for f in fields)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, fields: int) -> list[str]:
    """The cursor's `fields` fields, as text (the last one may hold "|"); ValueError for anything else."""
    padded = cursor + "=" * (-len(cursor) % 4)
    try:
        parts = base64.urlsafe_b64decode(padded.encode()).decode().split("|", fields - 1)
    except (UnicodeDecodeError, ValueError) as error:  # binascii.Error is a ValueError
        raise ValueError("invalid cursor") from error
    if len(parts) != fields:
        raise ValueError("invalid cursor")
    return parts
