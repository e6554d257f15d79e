"""The worker's group writes for answers in flight, on real SQLite and PostgreSQL databases: what is queued is
stored together, in one transaction, and nothing of one answer is lost because another's went away."""

from __future__ import annotations

import asyncio
import time

import sqlalchemy as sa

from chatapp import db
from chatapp.accounts.owners import owner_id
from chatapp.db.write_behind import WriteBehind
from chatapp.domain import DEFAULT_OPTIONS, StatusEvent

from .factories import OWNER, OWNER_KEY, SOMEONE_ELSE


def _streaming_answer(url: str) -> tuple[str, str]:
    """(conversation id, answer id) of a new conversation whose answer is streaming."""
    with db.session_for(url) as session:
        conversation = db.create_conversation(session, owner=OWNER, title="t")
        db.add_message(session, conversation_id=conversation.id, role="user", content="q")
        answer = db.add_message(
            session, conversation_id=conversation.id, role="assistant", content="", status="streaming"
        )
    return conversation.id, answer.id


def _event(message_id: str, kind: str = "first_token") -> StatusEvent:
    # Events are listed by their time; two made within one microsecond would come back in either order.
    time.sleep(0.000_01)
    return StatusEvent(kind=kind, at=db.utcnow(), message_id=message_id, detail="")  # type: ignore[arg-type]


def _commits(url: str) -> list[int]:
    counted = [0]
    sa.event.listen(db.engine(url), "commit", lambda _connection: counted.__setitem__(0, counted[0] + 1))
    return counted


def _inserts(url: str) -> list[int]:
    counted = [0]

    def count(_connection, _cursor, statement: str, *_args) -> None:
        counted[0] += statement.lstrip().upper().startswith("INSERT")

    sa.event.listen(db.engine(url), "before_cursor_execute", count)
    return counted


class HeldTimer:
    """The writer's pause between groups, held until the test lets it go."""

    def __init__(self) -> None:
        self.waiting = asyncio.Event()
        self._go = asyncio.Event()

    async def pause(self) -> None:
        self.waiting.set()
        await self._go.wait()
        self._go.clear()

    def fire(self) -> None:
        self._go.set()


async def test_many_answers_writes_are_stored_in_one_transaction_when_the_timer_fires(any_db_url):
    answers = [_streaming_answer(any_db_url) for _ in range(20)]
    timer = HeldTimer()
    writes = WriteBehind(any_db_url, pause=timer.pause)
    commits = _commits(any_db_url)
    for conversation_id, answer_id in answers:
        for kind in ("request_sent", "first_token", "usage"):
            writes.add_event(conversation_id, _event(answer_id, kind))
        writes.save_partial(answer_id, "so far")
        writes.save_partial(answer_id, "so far, and more")  # only the latest text is written
    await timer.waiting.wait()
    assert commits[0] == 0  # queued: nothing is written before the timer fires

    timer.fire()  # no one asked for a flush: the worker's timer does it
    await writes.timer_done()

    assert commits[0] == 1
    with db.session_for(any_db_url) as session:
        for conversation_id, _ in answers:
            events = db.list_events(session, conversation_id=conversation_id)
            answer = db.list_messages(session, conversation_id=conversation_id)[-1]
            assert [e.kind for e in events] == ["request_sent", "first_token", "usage"]
            assert answer.content == "so far, and more"


async def test_a_flush_returns_once_everything_queued_is_stored(any_db_url):
    conversation_id, answer_id = _streaming_answer(any_db_url)
    writes = WriteBehind(any_db_url)
    writes.add_event(conversation_id, _event(answer_id))
    writes.save_partial(answer_id, "the text so far")
    await writes.flush()

    with db.session_for(any_db_url) as session:
        assert len(db.list_events(session, conversation_id=conversation_id)) == 1
        assert db.list_messages(session, conversation_id=conversation_id)[-1].content == "the text so far"


async def test_a_conversation_deleted_meanwhile_costs_the_others_nothing(any_db_url):
    kept, kept_answer = _streaming_answer(any_db_url)
    gone, gone_answer = _streaming_answer(any_db_url)
    writes = WriteBehind(any_db_url)
    writes.add_event(kept, _event(kept_answer))
    writes.add_event(gone, _event(gone_answer))
    writes.save_partial(kept_answer, "still here")
    with db.session_for(any_db_url) as session:
        db.delete_conversation(session, owner=OWNER, conversation_id=gone)
    await writes.flush()

    with db.session_for(any_db_url) as session:
        assert [e.message_id for e in db.list_events(session, conversation_id=kept)] == [kept_answer]
        assert db.list_messages(session, conversation_id=kept)[-1].content == "still here"
        assert db.list_events(session, conversation_id=gone) == []


async def test_a_partial_save_after_the_final_one_changes_nothing(any_db_url):
    conversation_id, answer_id = _streaming_answer(any_db_url)
    with db.session_for(any_db_url) as session:
        db.save_answer(session, message_id=answer_id, content="the whole answer", status="complete")
    writes = WriteBehind(any_db_url)
    writes.save_partial(answer_id, "the who")
    await writes.flush()

    with db.session_for(any_db_url) as session:
        assert db.list_messages(session, conversation_id=conversation_id)[-1].content == "the whole answer"


def _begin(writes: WriteBehind, owner: str, conversation_id: str | None = None, **fields):
    return writes.write_now(
        db.begin_answer,
        owner=owner,
        conversation_id=conversation_id,
        title="Packing list",
        options=DEFAULT_OPTIONS,
        question="What do I pack for a week of rain?",
        answer_again=fields.get("answer_again", False),
        default_model="mock-1",
        provider="mock",
    )


async def test_questions_asked_at_once_are_stored_together_and_each_gets_its_own(any_db_url):
    writes = WriteBehind(any_db_url)
    commits, inserts = _commits(any_db_url), _inserts(any_db_url)
    owners = [owner_id(f"{OWNER_KEY}-{i}") for i in range(30)]  # thirty browsers
    begun = await asyncio.gather(*(_begin(writes, owner) for owner in owners))

    # The first goes alone; the others gather while it commits. Each group's new rows go in with one INSERT
    # per table (conversations, messages), not one per question.
    assert commits[0] <= 2
    assert inserts[0] <= 4
    assert len({b.conversation.id for b in begun}) == 30
    with db.session_for(any_db_url) as session:
        for i, b in enumerate(begun):
            found = db.get_conversation(session, owner=owners[i], conversation_id=b.conversation.id)
            assert found is not None and found.message_count == 2
            question, answer = db.list_messages(session, conversation_id=b.conversation.id)
            assert (question.id, question.content) == (b.question.id, "What do I pack for a week of rain?")
            assert (answer.id, answer.status, answer.metrics.model) == (b.answer.id, "streaming", "mock-1")
            # Newest first never ties the two, and the conversation was last changed by the answer.
            assert question.created_at < answer.created_at == found.updated_at


async def test_a_question_that_cannot_be_stored_fails_alone(any_db_url):
    writes = WriteBehind(any_db_url)
    someone_elses, _ = _streaming_answer(any_db_url)
    first = await _begin(writes, OWNER)
    results = await asyncio.gather(
        _begin(writes, OWNER),
        _begin(writes, SOMEONE_ELSE, conversation_id=someone_elses),  # not theirs
        _begin(writes, OWNER, conversation_id=first.conversation.id, answer_again=True),  # no question left
        _begin(writes, OWNER, conversation_id=first.conversation.id),
        return_exceptions=True,
    )

    assert isinstance(results[1], db.NothingToAnswer) and "no longer exists" in str(results[1])
    assert isinstance(results[2], db.NothingToAnswer) and "no question left" in str(results[2])
    with db.session_for(any_db_url) as session:
        assert len(db.list_messages(session, conversation_id=results[0].conversation.id)) == 2
        assert len(db.list_messages(session, conversation_id=first.conversation.id)) == 4
        assert len(db.list_messages(session, conversation_id=someone_elses)) == 2


async def test_a_final_save_in_the_same_transaction_as_a_late_partial_one_wins(any_db_url):
    conversation_id, answer_id = _streaming_answer(any_db_url)
    writes = WriteBehind(any_db_url)
    writes.save_partial(answer_id, "the who")
    saved = await writes.write_now(
        db.save_answer, message_id=answer_id, content="the whole answer", status="complete"
    )

    assert saved is not None and saved.content == "the whole answer"
    with db.session_for(any_db_url) as session:
        assert db.list_messages(session, conversation_id=conversation_id)[-1].content == "the whole answer"


async def test_a_question_whose_turn_was_cancelled_meanwhile_is_stored_whole(any_db_url):
    writes = WriteBehind(any_db_url)
    asking = asyncio.create_task(_begin(writes, OWNER))
    await asyncio.sleep(0)  # queued, then the turn goes away (Stop, a closing worker)
    asking.cancel()
    await writes.flush()

    with db.engine(any_db_url).connect() as connection:
        [(conversations, messages)] = connection.exec_driver_sql(
            "SELECT (SELECT count(*) FROM conversation), (SELECT count(*) FROM message)"
        ).all()
    assert (conversations, messages) == (1, 2)
