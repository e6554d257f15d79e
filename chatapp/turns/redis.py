"""The job registry's Redis back end: the same rules as memory.MemoryJobRegistry, for several workers.

A job runs on the worker that admitted it; what every worker must agree on lives in Redis:
- `chatapp:job:<id>`, a hash (owner, conversation, answering, the messages in flight, the worker's pid), and
  `chatapp:answering:<conversation>`, the job answering there. The running worker refreshes both by a
  heartbeat; if it dies they expire within JOB_TTL_S, and the conversation is free again.
- `chatapp:owner:<owner>`, a sorted set of that owner's answering jobs, scored by when each one's heartbeat
  runs out: the per-owner cap counts the live ones. One Lua script admits a job, so two workers can't both
  take the last place, or the same conversation.
- `chatapp:job:<id>:updates`, a stream of every update the job published, in order, as JSON lists: a
  follower on another worker reads it from the start, then blocks for what comes next. Its last entry says
  the job ended. A worker writes its jobs' new entries together, one pipeline per STREAM_EVERY_S.
A follower on the worker that runs the job (most often the tab that asked) follows it in memory, as with
one worker: no round trip and no decoding.
- `chatapp:control`, a channel: Stop, and the user's Allow or Deny of a tool call, from any worker reach the
  worker that runs the job.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import AsyncIterator

import redis.asyncio as aioredis
from pydantic import BaseModel, ValidationError

from ..domain import AnswerDone, AnswerStarted, ConversationReady, Refused, ToolDecision, TurnUpdate
from .job import Job
from .redis_streams import Streams, decode
from .registry import BUSY, KEEP_FINISHED_S, JobInfo, past_the_cap
from .turn import Turn

log = logging.getLogger(__name__)

JOB_TTL_S = 10.0
HEARTBEAT_S = 2.0
FOLLOW_BLOCK_MS = 1000
# A job's stream gets at most one entry per this interval: fewer, fuller entries to encode and send, for
# followers whose tabs are flushed every 50 ms at best anyway.
STREAM_EVERY_S = 0.1
CONTROL_CHANNEL = "chatapp:control"
# Quick commands share this many connections per worker: a burst of questions waits a moment for a free one
# instead of opening one each (a new connection costs handshakes, and redis-py reads its own package
# metadata for it: a third of a worker's time when a hundred people asked at once).
COMMAND_CONNECTIONS = 16

# KEYS: the conversation's key ("" for a new conversation), the owner's set, the job's hash.
# ARGV: job id, owner, conversation id, now (ms), heartbeat deadline (ms), the cap, the TTL (ms), the pid.
_ADMIT = """
if KEYS[1] ~= '' and redis.call('EXISTS', KEYS[1]) == 1 then return 'busy' end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[4])
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[6]) then return 'cap' end
if KEYS[1] ~= '' then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[7]) end
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[7])
redis.call('HSET', KEYS[3], 'owner', ARGV[2], 'conversation_id', ARGV[3], 'answering', '1', 'message_ids', '',
  'worker', ARGV[8])
redis.call('PEXPIRE', KEYS[3], ARGV[7])
return 'ok'
"""

# KEYS: the conversation's key. ARGV: the job id. Frees the conversation only if this job still holds it.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
"""

ANSWERING_PREFIX = "chatapp:answering:"


def _job_key(job_id: str) -> str:
    return f"chatapp:job:{job_id}"


def _updates_key(job_id: str) -> str:
    return f"chatapp:job:{job_id}:updates"


def _answering_key(conversation_id: str) -> str:
    return ANSWERING_PREFIX + conversation_id if conversation_id else ""


def _owner_key(owner: str) -> str:
    return f"chatapp:owner:{owner}"


class RedisJobRegistry:
    def __init__(self, url: str, max_answers_per_owner: int) -> None:
        self.max_answers_per_owner = max_answers_per_owner
        pool = aioredis.BlockingConnectionPool.from_url(
            url, max_connections=COMMAND_CONNECTIONS, decode_responses=True
        )
        self._redis = aioredis.Redis.from_pool(pool)
        # What waits has connections of its own, so it never holds up the quick commands: Stop's channel,
        # and a follower on another worker blocking on its job's stream for up to FOLLOW_BLOCK_MS.
        self._waits = aioredis.Redis.from_url(url, decode_responses=True)
        self._streams = Streams(self._redis, STREAM_EVERY_S)
        self._running: dict[str, Job] = {}  # the jobs this worker runs, kept KEEP_FINISHED_S once done
        self._tasks: set[asyncio.Task[None]] = set()
        self._listening: asyncio.Future[None] | None = None

    async def start(self, turn: Turn) -> JobInfo:
        await self._listen_for_controls()
        conversation_id = turn.conversation_id or ""
        now_ms = time.time() * 1000
        verdict = await self._redis.eval(  # type: ignore[misc]
            _ADMIT,
            3,
            _answering_key(conversation_id),
            _owner_key(turn.owner),
            _job_key(turn.id),
            turn.id,
            turn.owner,
            conversation_id,
            int(now_ms),
            int(now_ms + JOB_TTL_S * 1000),
            self.max_answers_per_owner,
            int(JOB_TTL_S * 1000),
            os.getpid(),
        )
        if verdict == "busy":
            raise Refused(BUSY)
        if verdict == "cap":
            raise Refused(past_the_cap(self.max_answers_per_owner))
        job = Job(turn=turn, conversation_id=conversation_id)
        self._running[turn.id] = job
        self._spawn(self._run(job))
        return JobInfo(turn.id, turn.owner, conversation_id, True, ())

    async def get(self, job_id: str, owner: str) -> JobInfo | None:
        local = self._running.get(job_id)
        if local is not None:  # this worker runs it: its own copy is the latest
            return local.info() if local.turn.owner == owner else None
        fields = await self._redis.hgetall(_job_key(job_id))  # type: ignore[misc]
        if not fields or fields.get("owner") != owner:
            return None
        ids = tuple(fields["message_ids"].split(",")) if fields.get("message_ids") else ()
        return JobInfo(job_id, owner, fields["conversation_id"], fields["answering"] == "1", ids)

    async def answering_in(self, conversation_id: str, owner: str) -> JobInfo | None:
        job_id = await self._redis.get(_answering_key(conversation_id)) if conversation_id else None
        job = await self.get(job_id, owner) if job_id else None
        return job if job is not None and job.answering else None

    async def stop(self, job_id: str, owner: str) -> bool:
        job = await self.get(job_id, owner)
        if job is None or not job.answering:
            return False
        if job_id in self._running:
            self._running[job_id].turn.stop()
        else:
            await self._redis.publish(CONTROL_CHANNEL, json.dumps({"job": job_id}))
        return True

    async def decide(self, job_id: str, owner: str, step_id: str, decision: ToolDecision) -> bool:
        job = await self.get(job_id, owner)
        if job is None or not job.answering:
            return False
        if job_id in self._running:
            return self._running[job_id].turn.decide(step_id, decision)
        # Its worker checks that the step waits; from here, that the job is the owner's and answering.
        control = {"job": job_id, "step": step_id, "decision": decision}
        await self._redis.publish(CONTROL_CHANNEL, json.dumps(control))
        return True

    async def stop_conversation(self, conversation_id: str, owner: str) -> None:
        job = await self.answering_in(conversation_id, owner)
        if job is not None:
            await self.stop(job.id, owner)

    async def follow(self, job_id: str, owner: str) -> AsyncIterator[TurnUpdate]:
        local = self._running.get(job_id)
        if local is not None:
            if local.turn.owner == owner:
                async for update in local.follow():
                    yield update
            return
        if await self.get(job_id, owner) is None:
            return
        last = "0-0"
        while True:
            read = await self._waits.xread({_updates_key(job_id): last}, block=FOLLOW_BLOCK_MS, count=1000)
            if not read:
                if not await self._redis.exists(_job_key(job_id)):
                    return  # its worker died: nothing more will come
                continue
            for _stream, entries in read:
                for entry_id, fields in entries:
                    last = entry_id
                    if "end" in fields:
                        return
                    for update in decode(fields["u"]):
                        yield update

    async def live_conversations(self) -> frozenset[str]:
        keys = self._redis.scan_iter(match=ANSWERING_PREFIX + "*", count=500)
        return frozenset([key.removeprefix(ANSWERING_PREFIX) async for key in keys])

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        self._streams.close()
        await self._redis.aclose()
        await self._waits.aclose()

    # The worker's side: running its jobs, keeping them alive, hearing Stop and the user's decisions.

    def _spawn(self, work) -> asyncio.Task[None]:
        task = asyncio.create_task(work)
        self._tasks.add(task)  # a task nobody holds may be collected mid-answer
        task.add_done_callback(self._tasks.discard)
        return task

    async def _run(self, local: Job) -> None:
        turn = local.turn
        job = _job_key(turn.id)
        answered = False
        beating = self._spawn(self._beat(local))
        stream = _updates_key(turn.id)
        try:
            async for update in turn.updates():
                if isinstance(update, AnswerDone):  # the conversation is free before any tab hears it
                    await self._end_answer(turn, local.conversation_id)
                    local.answering, answered = False, True
                # Tabs here hear it first; Redis, which only tabs elsewhere and other workers read, next.
                named = ""  # a new conversation's id, once it exists
                if isinstance(update, ConversationReady) and not local.conversation_id:
                    named = local.conversation_id = update.conversation.id
                elif isinstance(update, AnswerStarted):
                    local.message_ids = (update.user.id, update.assistant.id)
                local.publish(update)
                self._streams.add(stream, update)
                if named:
                    async with self._redis.pipeline(transaction=False) as note:
                        note.set(_answering_key(named), turn.id, px=int(JOB_TTL_S * 1000), nx=True)
                        note.hset(job, "conversation_id", named)
                        await note.execute()
                elif isinstance(update, AnswerStarted):
                    await self._redis.hset(job, "message_ids", ",".join(local.message_ids))  # type: ignore[misc]
        finally:
            beating.cancel()
            local.finish()
            asyncio.get_running_loop().call_later(KEEP_FINISHED_S, self._running.pop, turn.id, None)
            with contextlib.suppress(aioredis.RedisError):
                if not answered:  # it ended without an answer: cancelled, say
                    await self._end_answer(turn, local.conversation_id)
                await self._streams.end(stream)
                async with self._redis.pipeline(transaction=False) as keep:
                    for key in (job, stream):
                        keep.expire(key, int(KEEP_FINISHED_S))
                    await keep.execute()

    async def _end_answer(self, turn: Turn, conversation_id: str) -> None:
        # One round trip: a hundred answers ending together on a worker make a hundred of these at once.
        async with self._redis.pipeline(transaction=False) as end:
            end.hset(_job_key(turn.id), "answering", "0")
            end.zrem(_owner_key(turn.owner), turn.id)
            if conversation_id:
                end.eval(_RELEASE, 1, _answering_key(conversation_id), turn.id)
            await end.execute()

    async def _beat(self, local: Job) -> None:
        turn = local.turn
        ttl_ms = int(JOB_TTL_S * 1000)
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            try:
                async with self._redis.pipeline(transaction=False) as beat:
                    beat.pexpire(_job_key(turn.id), ttl_ms)
                    beat.pexpire(_updates_key(turn.id), ttl_ms)
                    beat.zadd(_owner_key(turn.owner), {turn.id: time.time() * 1000 + ttl_ms}, xx=True)
                    beat.pexpire(_owner_key(turn.owner), ttl_ms)
                    if local.conversation_id:  # once it exists
                        beat.pexpire(_answering_key(local.conversation_id), ttl_ms)
                    await beat.execute()
            except aioredis.RedisError:
                log.warning("a job's heartbeat missed Redis; it tries again", exc_info=True)

    async def _listen_for_controls(self) -> None:
        """Subscribes once, before this worker admits its first job, so no Stop for it can go unheard."""
        if self._listening is None:
            self._listening = asyncio.get_running_loop().create_future()
            self._spawn(self._hear_controls(self._listening))
        await asyncio.shield(self._listening)

    async def _hear_controls(self, subscribed: asyncio.Future[None]) -> None:
        """Hears the control channel until the worker stops; a lost connection subscribes again, and a
        message that isn't one of ours (anyone with access to Redis can publish) is logged and passed over."""
        while True:
            try:
                async with self._waits.pubsub() as pubsub:
                    await pubsub.subscribe(CONTROL_CHANNEL)
                    while await pubsub.get_message(timeout=1.0) is None:  # the server's word: subscribed
                        pass
                    if not subscribed.done():
                        subscribed.set_result(None)
                    async for message in pubsub.listen():
                        if message["type"] == "message":
                            self._control(message["data"])
            except aioredis.RedisError:
                log.warning("the control channel lost Redis; subscribing again", exc_info=True)
                await asyncio.sleep(1.0)

    def _control(self, raw: str) -> None:
        try:
            control = _Control.model_validate_json(raw)
        except ValidationError:
            log.warning("a message on %s that isn't a control was passed over", CONTROL_CHANNEL)
            return
        job = self._running.get(control.job)
        if job is None:
            return
        if control.decision is not None:
            job.turn.decide(control.step, control.decision)
        else:
            job.turn.stop()


class _Control(BaseModel):
    """What the control channel carries: Stop (a job's id alone), or the user's decision on a step."""

    job: str
    step: str = ""
    decision: ToolDecision | None = None
