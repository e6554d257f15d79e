"""How much of a long conversation a tab is sent at once, and from where."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def version(moment: datetime) -> float:
    """A timestamp to compare, whether the database gave it back with its zone or without (SQLite)."""
    return moment.replace(tzinfo=moment.tzinfo or UTC).timestamp()


# A tab is sent the latest messages of a conversation, up to both limits, and more on request: a
# conversation of thousands of answers would otherwise arrive whole (32 MB seen) on every open.
SNAPSHOT_MESSAGES = 200
SNAPSHOT_CHARS = 1_000_000


# How much further back than its pages a search result may widen what a tab is sent: a hit near the start of
# a very long conversation opens it at its end instead of sending all of it.
RESULT_PAGES = 4
TOO_FAR_BACK = (
    "That message is further back than a conversation shows at once: “Show earlier messages” at the top "
    "brings it."
)


def latest(views: list[dict[str, Any]], pages: int, keep_id: str = "") -> int:
    """Where the shown part of a conversation starts: the last `pages` pages of messages, and from `keep_id`
    on if that message is older (a search result being opened) but within RESULT_PAGES more."""
    start = pages_back(views, pages)
    if keep_id:
        at = next((i for i, view in enumerate(views) if view["id"] == keep_id), start)
        if at < start and at >= pages_back(views, pages + RESULT_PAGES):
            start = at
    return start


def pages_back(views: list[dict[str, Any]], pages: int) -> int:
    """The start of the last `pages` pages, each page up to both limits."""
    start, chars = len(views), 0
    while start > 0 and len(views) - start < pages * SNAPSHOT_MESSAGES:
        chars += len(views[start - 1]["content"])
        if chars > pages * SNAPSHOT_CHARS and start < len(views):
            break
        start -= 1
    return start
