"""The job registry: the one admission point for turns, and the bus that carries their updates to every tab.

A turn runs as a job on the server, apart from any tab. Starting one, refusing a second one in the same
conversation or past an owner's cap, and Stop all go through here, so the same rules hold whichever tab asks.
A job keeps what it has published; a tab that follows it (the one that asked, or another that opens the
conversation mid-answer, or the same one after a reload) gets all of it from the start, then the live
updates, in order, once each. Closing every tab doesn't stop a job; Stop does. A tool call that waits for
the user's approval hears it through here too, from whichever tab gives it.

`JobRegistry` is the interface; `memory.MemoryJobRegistry` the in-process back end (one worker),
`redis.RedisJobRegistry` the one for several workers, and `jobs.registry()` picks this process's. Every check
is by owner, since any client can send any event with any arguments.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from ..domain import ToolDecision, TurnUpdate
from .turn import Turn

# A finished job stays this long, so a tab that starts following it late still gets its whole story.
KEEP_FINISHED_S = 60.0
BUSY = "An answer is still streaming in this conversation. Wait for it, or press Stop."


def past_the_cap(cap: int) -> str:
    return f"Too many answers are streaming for you at once (at most {cap}). Wait for one, or stop one."


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
