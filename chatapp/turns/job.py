"""A job of this process: a running turn, what it published (kept for late followers), and who follows it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from ..domain import AnswerDelta, LiveMetrics, TurnUpdate
from .registry import JobInfo
from .turn import Turn

_END = object()


@dataclass(eq=False)
class Job:
    """Both back ends keep their own jobs in one of these: the Redis one also writes them to Redis."""

    turn: Turn
    conversation_id: str
    answering: bool = True
    finished: bool = False
    message_ids: tuple[str, ...] = ()
    published: list[TurnUpdate] = field(default_factory=list)
    listeners: set[asyncio.Queue[object]] = field(default_factory=set)

    def info(self) -> JobInfo:
        turn = self.turn
        return JobInfo(turn.id, turn.owner, self.conversation_id, self.answering, self.message_ids)

    def publish(self, update: TurnUpdate) -> None:
        # Kept short for a late follower: pieces of text in a row as one, and only the latest numbers.
        merge_into(self.published, update)
        for queue in self.listeners:
            queue.put_nowait(update)

    def finish(self) -> None:
        self.answering, self.finished = False, True
        for queue in self.listeners:
            queue.put_nowait(_END)

    async def follow(self) -> AsyncIterator[TurnUpdate]:
        queue: asyncio.Queue[object] = asyncio.Queue()
        # The story so far and the subscription in one step, with no await between: no gap, no repeat.
        for earlier in self.published:
            queue.put_nowait(earlier)
        if self.finished:
            queue.put_nowait(_END)
        else:
            self.listeners.add(queue)
        try:
            while (update := await queue.get()) is not _END:
                yield update  # type: ignore[misc]
        finally:
            self.listeners.discard(queue)


def merge_into(updates: list[TurnUpdate], update: TurnUpdate) -> None:
    """Appends `update`, joined with the last one where only the sum matters: text to text, the latest
    numbers instead of the previous ones."""
    last = updates[-1] if updates else None
    if isinstance(update, AnswerDelta) and isinstance(last, AnswerDelta):
        updates[-1] = AnswerDelta(last.text + update.text)
    elif isinstance(update, LiveMetrics) and isinstance(last, LiveMetrics):
        updates[-1] = update
    else:
        updates.append(update)
