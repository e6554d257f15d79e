"""The job registry, both back ends (this process's memory, and a real Redis server as several workers share
it): admission, Stop and following a turn, with the mock provider at the provider seam."""

from __future__ import annotations

import asyncio
import typing

import pytest
import redis

from chatapp.domain import AnswerDelta, AnswerDone, ConversationReady, LiveMetrics, Refused, TurnUpdate
from chatapp.turns.job import merge_into
from chatapp.turns.memory import MemoryJobRegistry
from chatapp.turns.redis import RedisJobRegistry
from chatapp.turns.registry import JobRegistry

from .factories import OWNER, SOMEONE_ELSE, make_turn


def text_of(updates) -> str:
    return "".join(u.text for u in updates if isinstance(u, AnswerDelta))


async def follow_all(registry: JobRegistry, job_id: str, owner: str = OWNER) -> list:
    return [u async for u in registry.follow(job_id, owner)]


@pytest.fixture(params=["memory", "redis"])
async def new_registry(request):
    """Makes registries of one back end; with Redis each one stands for a worker of its own."""
    made: list = []
    url = None
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        redis.Redis.from_url(url).flushdb()

    def make(max_answers_per_owner: int = 3) -> JobRegistry:
        if url is None:
            registry = MemoryJobRegistry(max_answers_per_owner)
        else:
            registry = RedisJobRegistry(url, max_answers_per_owner)
        made.append(registry)
        return registry

    yield make
    for registry in made:
        if isinstance(registry, RedisJobRegistry):
            await registry.close()


async def test_a_follower_that_joins_mid_answer_sees_the_same_answer(mock_settings, new_registry):
    # LiveMetrics come by the clock, so only the rest is compared in kind and order.
    registry = new_registry()
    job = await registry.start(make_turn(mock_settings, "/mock tokens=40 rate=200"))
    first = registry.follow(job.id, OWNER)
    seen = [await anext(first) for _ in range(8)]  # the first tab, a few updates in

    late = await follow_all(registry, job.id)  # a second tab opens it now, and stays to the end
    seen += [u async for u in first]

    assert text_of(late) == text_of(seen) == " ".join(f"word{i}" for i in range(1, 41))
    assert [type(u) for u in late if not isinstance(u, AnswerDelta | LiveMetrics)] == [
        type(u) for u in seen if not isinstance(u, AnswerDelta | LiveMetrics)
    ]
    assert isinstance(late[0], ConversationReady)


async def test_a_second_answer_in_a_conversation_waits_for_the_first(mock_settings, new_registry):
    registry = new_registry()
    job = await registry.start(make_turn(mock_settings, "/mock tokens=20 rate=200"))
    updates = registry.follow(job.id, OWNER)
    conversation_id = (await anext(updates)).conversation.id

    with pytest.raises(Refused, match="still streaming"):
        await registry.start(make_turn(mock_settings, "again", conversation_id=conversation_id))
    [_ async for _ in updates]
    again = await registry.start(make_turn(mock_settings, "/mock tokens=3", conversation_id=conversation_id))
    assert text_of(await follow_all(registry, again.id)) == "word1 word2 word3"


async def test_an_owner_may_run_only_so_many_answers_at_once(mock_settings, new_registry):
    registry = new_registry(max_answers_per_owner=2)
    running = [await registry.start(make_turn(mock_settings, "/mock tokens=400 rate=100")) for _ in range(2)]

    with pytest.raises(Refused, match="at most 2"):
        await registry.start(make_turn(mock_settings, "one more"))
    other = await registry.start(
        make_turn(mock_settings, "/mock tokens=2", owner=SOMEONE_ELSE)
    )  # their own cap

    assert text_of(await follow_all(registry, other.id, SOMEONE_ELSE)) == "word1 word2"
    for job in running:
        assert await registry.stop(job.id, OWNER)


async def test_only_the_owner_can_follow_or_stop_a_job(mock_settings, new_registry):
    registry = new_registry()
    job = await registry.start(make_turn(mock_settings, "/mock tokens=200 rate=100"))
    ready = await anext(registry.follow(job.id, OWNER))
    conversation_id = ready.conversation.id

    assert await follow_all(registry, job.id, SOMEONE_ELSE) == []
    assert await registry.get(job.id, SOMEONE_ELSE) is None
    assert await registry.answering_in(conversation_id, SOMEONE_ELSE) is None
    assert not await registry.stop(job.id, SOMEONE_ELSE)
    await registry.stop_conversation(conversation_id, SOMEONE_ELSE)
    assert (await registry.answering_in(conversation_id, OWNER)).id == job.id

    await registry.stop_conversation(conversation_id, OWNER)
    done = [u for u in await follow_all(registry, job.id) if isinstance(u, AnswerDone)]
    assert done[-1].message.status == "stopped"


async def test_a_job_runs_on_with_nobody_following(mock_settings, new_registry):
    registry = new_registry()
    job = await registry.start(make_turn(mock_settings, "/mock tokens=30 rate=300"))
    abandoned = registry.follow(job.id, OWNER)
    await anext(abandoned)
    await abandoned.aclose()  # the only tab went away

    later = await follow_all(registry, job.id)  # it came back, after the end

    assert text_of(later) == " ".join(f"word{i}" for i in range(1, 31))
    assert any(isinstance(u, AnswerDone) and u.message.status == "complete" for u in later)


async def test_stop_and_following_reach_a_job_on_another_worker(mock_settings, redis_url):
    redis.Redis.from_url(redis_url).flushdb()
    running, elsewhere = RedisJobRegistry(redis_url, 3), RedisJobRegistry(redis_url, 3)
    try:
        # 2,000 words at 100 a second: twenty seconds, unless Stop reaches the worker that runs it.
        job = await running.start(make_turn(mock_settings, "/mock tokens=2000 rate=100"))
        followed = elsewhere.follow(job.id, OWNER)
        seen = [await anext(followed)]
        while not isinstance(seen[-1], AnswerDelta):
            seen.append(await anext(followed))

        assert await elsewhere.stop(job.id, OWNER)
        async with asyncio.timeout(60):  # a guard against hanging, not the proof: that is the status below
            seen += [u async for u in followed]
    finally:
        await running.close()
        await elsewhere.close()

    done = seen[-1]
    assert isinstance(done, AnswerDone) and done.message.status == "stopped"
    assert 0 < len(text_of(seen).split()) < 2000  # cut short, and what came before Stop was kept
    assert done.message.content == text_of(seen)


async def test_the_cap_and_one_answer_per_conversation_hold_across_workers(mock_settings, redis_url):
    redis.Redis.from_url(redis_url).flushdb()
    first, second = RedisJobRegistry(redis_url, 1), RedisJobRegistry(redis_url, 1)
    try:
        job = await first.start(make_turn(mock_settings, "/mock tokens=2000 rate=100"))
        with pytest.raises(Refused, match="at most 1"):
            await second.start(make_turn(mock_settings, "another conversation"))
        ready = await anext(second.follow(job.id, OWNER))
        other = RedisJobRegistry(redis_url, 5)  # even where the cap is higher, the conversation is taken
        with pytest.raises(Refused, match="still streaming"):
            await other.start(
                make_turn(mock_settings, "same conversation", conversation_id=ready.conversation.id)
            )
        await other.close()
        assert await second.stop(job.id, OWNER)
    finally:
        await first.close()
        await second.close()


async def test_every_kind_of_update_crosses_workers_intact(mock_settings, redis_url):
    redis.Redis.from_url(redis_url).flushdb()
    running, elsewhere = RedisJobRegistry(redis_url, 3), RedisJobRegistry(redis_url, 3)
    try:
        # A tool step, text for over a second (live numbers come every half second), and a new conversation
        # that is named once its answer completes: every kind of update there is.
        job = await running.start(make_turn(mock_settings, "/mock tool=calculator:6*7 tokens=80 rate=60"))
        here, there = running.follow(job.id, OWNER), elsewhere.follow(job.id, OWNER)
        local, remote = await asyncio.gather(_all(here), _all(there))
    finally:
        await running.close()
        await elsewhere.close()

    assert {type(u) for u in local} == set(typing.get_args(TurnUpdate))
    # The stream joins pieces of text that came within one write; joined the same way, both are the same.
    assert _joined(remote) == _joined(local)


async def _all(updates) -> list:
    return [u async for u in updates]


def _joined(updates: list) -> list:
    joined: list = []
    for update in updates:
        merge_into(joined, update)
    return joined


async def test_recovery_is_told_where_live_jobs_are_still_writing(mock_settings, new_registry):
    registry = new_registry()
    job = await registry.start(make_turn(mock_settings, "/mock tokens=40 rate=200"))
    updates = registry.follow(job.id, OWNER)
    conversation_id = (await anext(updates)).conversation.id

    assert await registry.live_conversations() == {conversation_id}
    [_ async for _ in updates]
    assert await registry.live_conversations() == frozenset()
