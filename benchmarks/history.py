"""History at scale: how fast the sidebar's first page and a search answer with 10,000 conversations.

Seeds a fresh SQLite database (WAL, as the app runs it) with 10,000 conversations of one owner, four
messages each, plus another owner's 2,000, then times the storage calls the sidebar and search make. The ten
seed words are common (each is in nearly every message); one conversation in a thousand also mentions a rare
word.
Prints numbers; asserts nothing. Run: `.venv/bin/python benchmarks/history.py`.
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chatapp import db  # noqa: E402

OWNER = "benchmark-owner-key-0001"
CONVERSATIONS = 10_000
RUNS = 20
RARE_WORD = "quokka"
RARE_EVERY = 1_000
WORDS = [
    "puffin",
    "glacier",
    "budget",
    "invoice",
    "kernel",
    "sourdough",
    "marathon",
    "telescope",
    "violin",
    "harbor",
]


def seed(url: str) -> None:
    rng = random.Random(7)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with db.session_for(url) as session:
        for owner, count in ((OWNER, CONVERSATIONS), ("someone-else-entirely", 2_000)):
            for n in range(count):
                moment = start + timedelta(minutes=n)
                conversation = db.ConversationRow(
                    owner=owner,
                    title=f"Chat {n} about {rng.choice(WORDS)}",
                    created_at=moment,
                    updated_at=moment,
                )
                session.add(conversation)
                for position in range(4):
                    text = " ".join(rng.choice(WORDS) for _ in range(40))
                    if n % RARE_EVERY == 0 and position == 1:
                        text += f" and a {RARE_WORD}"
                    session.add(
                        db.MessageRow(
                            conversation_id=conversation.id,
                            position=position,
                            role="user" if position % 2 == 0 else "assistant",
                            content=text,
                            created_at=moment,
                            updated_at=moment,
                        )
                    )
            session.commit()


def timed(call) -> tuple[float, float]:
    samples = []
    for _ in range(RUNS):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), max(samples)


def main() -> None:
    url = f"sqlite:///{tempfile.mkdtemp()}/history.db"
    db.create_tables(url)
    started = time.perf_counter()
    seed(url)
    elapsed = time.perf_counter() - started
    print(f"seeded {CONVERSATIONS:,} conversations (+2,000 of another owner) in {elapsed:.1f} s")
    with db.session_for(url) as session:
        _, cursor = db.list_conversations(session, owner=OWNER, limit=50)

        def search(query: str) -> Callable[[], object]:
            return lambda: db.search_messages(session, owner=OWNER, query=query, limit=20)

        cases = {
            "sidebar, first page of 50": lambda: db.list_conversations(session, owner=OWNER, limit=50),
            "sidebar, next page": lambda: db.list_conversations(
                session, owner=OWNER, limit=50, cursor=cursor
            ),
            "search, a common word": search("telescope"),
            "search, a rare word": search(RARE_WORD),
            "search, a prefix (as typed)": search("teles"),
            "search, two words": search("violin harbor"),
            "search, no match": search("zeppelin"),
        }
        print("\n| query | median | worst of 20 |\n|---|---:|---:|")
        for name, call in cases.items():
            median, worst = timed(call)
            print(f"| {name} | {median:.1f} ms | {worst:.1f} ms |")


if __name__ == "__main__":
    main()
