"""What a delete takes with it: a conversation its messages, their tool calls and its events, by the
database's own ON DELETE CASCADE; a category only itself, its conversations staying without one. And the
migration that brought the cascade to an existing database (it copies each table on SQLite) keeps the search
index whole."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.command import upgrade

from chatapp import db
from chatapp.accounts.owners import owner_id
from chatapp.db.messages import add_events
from chatapp.domain import StatusEvent
from tests.e2e.appserver import migrate

from . import legacy_rows
from .factories import OWNER, OWNER_KEY
from .test_search import alembic, found, search

BEFORE_CASCADE = "c8e1a3f5b7d9"  # the MCP servers


def _counts(url: str) -> dict[str, int]:
    with sa.create_engine(url, poolclass=sa.NullPool).connect() as connection:
        return {
            table: connection.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one()
            for table in ("conversation", "message", "tool_call", "event", "category")
        }


def _conversation_with_everything(url: str, title: str) -> str:
    with db.session_for(url) as session:
        conversation = db.create_conversation(session, owner=OWNER, title=title)
        db.add_message(session, conversation_id=conversation.id, role="user", content=f"{title}: a question")
        answer = db.add_message(
            session, conversation_id=conversation.id, role="assistant", content="", status="streaming"
        )
        db.add_tool_step(
            session,
            message_id=answer.id,
            call_id="call_1",
            name="calculator",
            arguments="{}",
            status="running",
        )
        event = StatusEvent(kind="request_sent", at=db.utcnow(), message_id=answer.id)
        add_events(session, [(conversation.id, event)])
        db.save_answer(session, message_id=answer.id, content=f"{title}: an answer", status="complete")
        db.file_conversation(session, owner=OWNER, conversation_id=conversation.id, category="Travel")
    return conversation.id


def test_deleting_a_conversation_deletes_its_rows_and_the_search_forgets_it(any_db_url):
    kept = _conversation_with_everything(any_db_url, "Lisbon")
    gone = _conversation_with_everything(any_db_url, "Oslo")
    before = _counts(any_db_url)

    with db.session_for(any_db_url) as session:
        assert db.delete_conversation(session, owner=OWNER, conversation_id=gone)

    after = _counts(any_db_url)
    assert {table: before[table] - after[table] for table in before} == {
        "conversation": 1,
        "message": 2,
        "tool_call": 1,
        "event": 1,
        "category": 0,  # the category stays, for the conversation still in it
    }
    assert found(any_db_url, "oslo") == [] and found(any_db_url, "lisbon") == [kept]
    assert [hit.conversation_id for hit in search(any_db_url, "answer")] == [kept]


def test_deleting_a_category_leaves_its_conversations_without_one(any_db_url):
    trip = _conversation_with_everything(any_db_url, "Lisbon")
    with db.session_for(any_db_url) as session:
        (travel,) = db.list_categories(session, owner=OWNER)
        assert db.delete_category(session, owner=OWNER, category_id=travel.id)
        assert db.get_conversation(session, owner=OWNER, conversation_id=trip).category_id == ""
    assert _counts(any_db_url)["message"] == 2


def test_the_cascade_migration_keeps_rows_and_the_search_index_whole(empty_database):
    alembic(empty_database, upgrade, BEFORE_CASCADE)
    owner = owner_id(OWNER_KEY)
    older = legacy_rows.conversation(empty_database, owner, "Puffins of Iceland")
    legacy_rows.message(empty_database, older, "Where do puffins nest?")
    legacy_rows.message(empty_database, older, "On cliffs", "assistant")
    other = legacy_rows.conversation(empty_database, owner, "Whales")
    legacy_rows.message(empty_database, other, "When do whales pass by?")
    legacy_rows.file_under(empty_database, owner, other, "Nature")
    db.engine(empty_database).dispose()

    outcome = migrate(empty_database)
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr

    assert found(empty_database, "puffins", owner) == [older]  # titles and messages found as before
    assert [hit.conversation_id for hit in search(empty_database, "cliffs", owner)] == [older]
    with db.session_for(empty_database) as session:
        assert db.delete_conversation(session, owner=owner, conversation_id=older)
        (nature,) = db.list_categories(session, owner=owner)
        assert db.delete_category(session, owner=owner, category_id=nature.id)
        assert db.get_conversation(session, owner=owner, conversation_id=other).category_id == ""
    assert _counts(empty_database) == {
        "conversation": 1,
        "message": 1,
        "tool_call": 0,
        "event": 0,
        "category": 0,
    }
    assert found(empty_database, "puffins", owner) == [] and found(empty_database, "whales", owner) == [other]
    db.engine(empty_database).dispose()
