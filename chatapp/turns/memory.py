"""The job registry's in-process back end: the jobs of one worker, in its memory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from ..domain import AnswerDone, AnswerStarted, ConversationReady, Refused, ToolDecision, TurnUpdate
from .job import Job
from .registry import BUSY, KEEP_FINISHED_S, JobInfo, past_the_cap
from .turn import Turn


class MemoryJobRegistry:
    """The jobs of this server process, in its memory (one worker)."""

    def __init__(self, max_answers_per_owner: int) -> None:
        self.max_answers_per_owner = max_answers_per_owner
        self._jobs: dict[str, Job] = {}
        self._answering: dict[str, Job] = {}  # by conversation id
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, turn: Turn) -> JobInfo:
        conversation_id = turn.conversation_id or ""
        if conversation_id in self._answering:
            raise Refused(BUSY)
        mine = sum(1 for job in self._jobs.values() if job.turn.owner == turn.owner and job.answering)
        if mine >= self.max_answers_per_owner:
            raise Refused(past_the_cap(self.max_answers_per_owner))
        job = Job(turn=turn, conversation_id=conversation_id)
        self._jobs[turn.id] = job
        if conversation_id:
            self._answering[conversation_id] = job
        task = asyncio.create_task(self._run(job))
        self._tasks.add(task)  # a task nobody holds may be collected mid-answer
        task.add_done_callback(self._tasks.discard)
        return job.info()

    def _find(self, job_id: str, owner: str) -> Job | None:
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

    async def _run(self, job: Job) -> None:
        try:
            async for update in job.turn.updates():
                self._note(job, update)
                job.publish(update)
        finally:
            self._end_answer(job)
            job.finish()
            asyncio.get_running_loop().call_later(KEEP_FINISHED_S, self._jobs.pop, job.turn.id, None)

    def _note(self, job: Job, update: TurnUpdate) -> None:
        if isinstance(update, ConversationReady):
            job.conversation_id = update.conversation.id
            self._answering.setdefault(job.conversation_id, job)
        elif isinstance(update, AnswerStarted):
            job.message_ids = (update.user.id, update.assistant.id)
        elif isinstance(update, AnswerDone):
            self._end_answer(job)

    def _end_answer(self, job: Job) -> None:
        job.answering = False
        if self._answering.get(job.conversation_id) is job:
            del self._answering[job.conversation_id]
