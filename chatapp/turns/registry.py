"""The job registry: the one admission point for turns, and the bus that carries their updates to every tab.

A turn runs as a job on the server, apart from any tab. Starting one, refusing a second one in the same
conversation or past an owner's cap, and Stop all go through here, so the same rules hold whichever tab asks.
A job keeps what it has published; a tab that follows it (the one that asked, or another that opens the
conversation mid-answer, or the same one after a reload) gets all of it from the start, then the live
updates, in order, once each. Closing every tab doesn't stop a job; Stop does. A tool call that waits for
the user's approval hears it through here too, from whichever tab gives it.

`JobRegistry` is the interface; `MemoryJobRegistry` the in-process back end (one worker), and
jobs_redis.RedisJobRegistry the one for several workers. Every check is by owner, since any client can send
any event with any arguments.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol

from .config import get_settings
from .domain import ToolDecision
from .service import (
    AnswerDelta,
    AnswerDone,
    AnswerStarted,
    ConversationReady,
    LiveMetrics,
    Turn,
    TurnUpdate,
)

# A finished job stays this long, so a tab that starts following it late still gets its whole story.
KEEP_FINISHED_S = 60.0
_END = object()


BUSY = "An answer is still streaming in this conversation. Wait for it, or press Stop."


def past_the_cap(cap: int) -> str:
    return f"Too many answers are streaming for you at once (at most {cap}). Wait for one, or stop one."


class Refused(Exception):
    """The turn can't start now; the message says why, for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class JobInfo:
    """What a tab may know of a job, at one moment."""

    id: str
    owner: str
    conversation_id: str  # "" until a new conversation exists
    answering: bool  # until its answer is done (naming the conversation may follow)
    message_ids: tuple[str, ...]  # the question and the answer in flight, once they exist


class JobRegistry(Protocol):
    """Every call names the owner: another owner's job is, to the caller, no job at all."""

    async def start(self, turn: Turn) -> JobInfo:
        """Admits the turn and runs it, or raises Refused."""
        ...

    async def get(self, job_id: str, owner: str) -> JobInfo | None: ...

    async def answering_in(self, conversation_id: str, owner: str) -> JobInfo | None: ...

    async def stop(self, job_id: str, owner: str) -> bool: ...

    async def stop_conversation(self, conversation_id: str, owner: str) -> None: ...

    async def decide(self, job_id: str, owner: str, step_id: str, decision: ToolDecision) -> bool:
        """Passes the user's Allow or Deny to a tool call of the job that waits for it."""
        ...

    def follow(self, job_id: str, owner: str) -> AsyncIterator[TurnUpdate]:
        """Everything the job published so far, then each update as it comes, until the job ends."""
        ...

    async def live_conversations(self) -> frozenset[str]:
        """Where a live job, on any worker, is writing an answer: start-up recovery leaves those alone."""
        ...


@dataclass(eq=False)
class _Job:
    """A job of this process: what it published, kept for late followers, and who follows it now."""

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


class MemoryJobRegistry:
    """The jobs of this server process, in its memory (one worker)."""

    def __init__(self, max_answers_per_owner: int) -> None:
        self.max_answers_per_owner = max_answers_per_owner
        self._jobs: dict[str, _Job] = {}
        self._answering: dict[str, _Job] = {}  # by conversation id
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, turn: Turn) -> JobInfo:
        conversation_id = turn.conversation_id or ""
        if conversation_id in self._answering:
            raise Refused(BUSY)
        mine = sum(1 for job in self._jobs.values() if job.turn.owner == turn.owner and job.answering)
        if mine >= self.max_answers_per_owner:
            raise Refused(past_the_cap(self.max_answers_per_owner))
        job = _Job(turn=turn, conversation_id=conversation_id)
        self._jobs[turn.id] = job
        if conversation_id:
            self._answering[conversation_id] = job
        task = asyncio.create_task(self._run(job))
        self._tasks.add(task)  # a task nobody holds may be collected mid-answer
        task.add_done_callback(self._tasks.discard)
        return job.info()

    def _find(self, job_id: str, owner: str) -> _Job | None:
        job = self._jobs.get(job_id)
        return job if job is not None and job.turn.owner == owner else None

    async def get(self, job_id: str, owner: str) -> JobInfo | None:
        job = self._find(job_id, owner)
        return job.info() if job is not None else None

    async def answering_in(self, conversation_id: str, owner: str) -> JobInfo | None:
        job = self._answering.get(conversation_id) if conversation_id else None
        return job.info() if job is not None and job.turn.owner == owner else None

    async def stop(self, job_id: str, owner: str) -> bool:
        job = self._find(job_id, owner)
        if job is None or not job.answering:
            return False
        job.turn.stop()
        return True

    async def stop_conversation(self, conversation_id: str, owner: str) -> None:
        job = self._answering.get(conversation_id)
        if job is not None and job.turn.owner == owner:
            job.turn.stop()

    async def decide(self, job_id: str, owner: str, step_id: str, decision: ToolDecision) -> bool:
        job = self._find(job_id, owner)
        return job is not None and job.answering and job.turn.decide(step_id, decision)

    async def follow(self, job_id: str, owner: str) -> AsyncIterator[TurnUpdate]:
        job = self._find(job_id, owner)
        if job is not None:
            async for update in job.follow():
                yield update

    async def live_conversations(self) -> frozenset[str]:
        return frozenset(self._answering)

    async def _run(self, job: _Job) -> None:
        try:
            async for update in job.turn.updates():
                self._note(job, update)
                job.publish(update)
        finally:
            self._end_answer(job)
            job.finish()
            asyncio.get_running_loop().call_later(KEEP_FINISHED_S, self._jobs.pop, job.turn.id, None)

    def _note(self, job: _Job, update: TurnUpdate) -> None:
        if isinstance(update, ConversationReady):
            job.conversation_id = update.conversation.id
            self._answering.setdefault(job.conversation_id, job)
        elif isinstance(update, AnswerStarted):
            job.message_ids = (update.user.id, update.assistant.id)
        elif isinstance(update, AnswerDone):
            self._end_answer(job)

    def _end_answer(self, job: _Job) -> None:
        job.answering = False
        if self._answering.get(job.conversation_id) is job:
            del self._answering[job.conversation_id]


@functools.cache
def registry() -> JobRegistry:
    """This process's registry, made when first needed (nothing runs at import time): Redis's when Reflex
    runs on Redis (REFLEX_REDIS_URL, several workers), else this process's memory."""
    settings = get_settings()
    if settings.redis_url:
        from .jobs_redis import RedisJobRegistry

        return RedisJobRegistry(settings.redis_url, settings.max_answers_per_owner)
    return MemoryJobRegistry(max_answers_per_owner=settings.max_answers_per_owner)
