"""The worker's group writes for answers in flight, on real SQLite and PostgreSQL databases: what is queued is
stored together, in one transaction, and nothing of one answer is lost because another's went away."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from chatapp import db
from chatapp.db.write_behind import FLUSH_EVERY_S, WriteBehind
from chatapp.domain import StatusEvent

OWNER = "owner-key-0123456789"


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
    return StatusEvent(kind=kind, at=db.utcnow(), message_id=message_id, detail="")  # type: ignore[arg-type]


def _commits(url: str) -> list[int]:
    counted = [0]
    sa.event.listen(db.engine(url), "commit", lambda _connection: counted.__setitem__(0, counted[0] + 1))
    return counted


async def test_many_answers_writes_are_stored_in_one_transaction(any_db_url):
    answers = [_streaming_answer(any_db_url) for _ in range(20)]
    writes = WriteBehind(any_db_url)
    commits = _commits(any_db_url)
    for conversation_id, answer_id in answers:
        for kind in ("request_sent", "first_token", "usage"):
            writes.add_event(conversation_id, _event(answer_id, kind))
        writes.save_partial(answer_id, "so far")
        writes.save_partial(answer_id, "so far, and more")  # only the latest text is written
    await asyncio.sleep(FLUSH_EVERY_S + 0.5)  # no one asked for a flush: the worker's timer did it

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
