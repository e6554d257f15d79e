"""Storage: chatapp.db on a real SQLite file and a real PostgreSQL server, and the app's migration on both."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from alembic import command
from chatapp import db
from chatapp.accounts.owners import owner_id
from chatapp.domain import Metrics
from chatapp.web.state_files import keep_state_files_private
from tests.e2e.appserver import ROOT, migrate

from . import legacy_rows
from .factories import OWNER, OWNER_KEY, SOMEONE_ELSE, SOMEONE_ELSE_KEY


def new_conversation(url: str, owner: str = OWNER, title: str = "A chat") -> str:
    with db.session_for(url) as session:
        return db.create_conversation(session, owner=owner, title=title).id


def add(url: str, conversation_id: str, content: str, **fields) -> str:
    with db.session_for(url) as session:
        fields.setdefault("role", "user")
        return db.add_message(session, conversation_id=conversation_id, content=content, **fields).id


def messages(url: str, conversation_id: str):
    with db.session_for(url) as session:
        return db.list_messages(session, conversation_id=conversation_id)


def test_sqlite_file_runs_in_wal_mode_with_a_busy_timeout(db_url):
    with db.engine(db_url).connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_ids_are_uuids(any_db_url):
    conversation_id = new_conversation(any_db_url)
    message_ids = [add(any_db_url, conversation_id, "hi"), add(any_db_url, conversation_id, "again")]

    for value in [conversation_id, *message_ids]:
        assert str(uuid.UUID(value, version=4)) == value
    assert len({conversation_id, *message_ids}) == 3


def test_message_positions_keep_insertion_order(any_db_url):
    first, second = new_conversation(any_db_url), new_conversation(any_db_url)
    # Twelve, so ordering positions as text ("10" < "2") would show; interleaved, so positions are per chat.
    for n in range(12):
        add(any_db_url, first, f"first {n}")
        add(any_db_url, second, f"second {n}")

    assert [m.content for m in messages(any_db_url, first)] == [f"first {n}" for n in range(12)]
    assert [m.content for m in messages(any_db_url, second)] == [f"second {n}" for n in range(12)]


def test_a_message_needs_an_existing_conversation(any_db_url):
    with pytest.raises(sa.exc.IntegrityError):
        add(any_db_url, str(uuid.uuid4()), "orphan")


def test_save_answer_updates_content_status_and_metrics_in_place(any_db_url):
    conversation_id = new_conversation(any_db_url)
    add(any_db_url, conversation_id, "question")
    answer_id = add(any_db_url, conversation_id, "", role="assistant", status="streaming")
    metrics = Metrics(
        model="gpt-4o-mini",
        provider="openai",
        prompt_tokens=12,
        completion_tokens=34,
        token_source="reported",
        cost_usd=0.00123,
        ttft_ms=210.5,
        duration_ms=1500.0,
        tokens_per_s=22.7,
    )

    with db.session_for(any_db_url) as session:
        partial = db.save_answer(session, message_id=answer_id, content="Hel", status="streaming")
        saved = db.save_answer(
            session, message_id=answer_id, content="Hello", status="complete", metrics=metrics
        )

    stored = messages(any_db_url, conversation_id)
    assert len(stored) == 2
    assert stored[1] == saved
    assert saved.id == answer_id
    assert (saved.content, saved.status, saved.metrics) == ("Hello", "complete", metrics)
    assert saved.created_at == partial.created_at
    assert saved.updated_at > partial.updated_at


def test_save_answer_keeps_an_error_and_returns_none_for_an_unknown_message(any_db_url):
    conversation_id = new_conversation(any_db_url)
    answer_id = add(any_db_url, conversation_id, "", role="assistant", status="streaming")

    with db.session_for(any_db_url) as session:
        failed = db.save_answer(
            session, message_id=answer_id, content="Hal", status="error", error="rate limited"
        )
        unknown = db.save_answer(session, message_id=str(uuid.uuid4()), content="x", status="complete")

    assert (failed.content, failed.status, failed.error) == ("Hal", "error", "rate limited")
    assert unknown is None


def test_delete_conversation_removes_it_with_its_messages(any_db_url):
    doomed, kept = new_conversation(any_db_url), new_conversation(any_db_url)
    for conversation_id in (doomed, kept):
        add(any_db_url, conversation_id, "question")
        add(any_db_url, conversation_id, "answer", role="assistant")

    with db.session_for(any_db_url) as session:
        assert db.delete_conversation(session, owner=OWNER, conversation_id=doomed)
        assert db.get_conversation(session, owner=OWNER, conversation_id=doomed) is None
    with db.engine(any_db_url).connect() as connection:
        left = connection.execute(sa.select(db.MessageRow.conversation_id)).scalars().all()

    assert left == [kept, kept]


def test_another_owner_can_neither_delete_nor_rename(any_db_url):
    conversation_id = new_conversation(any_db_url, title="Mine")
    add(any_db_url, conversation_id, "question")

    with db.session_for(any_db_url) as session:
        mine = {"conversation_id": conversation_id}
        assert not db.delete_conversation(session, owner=SOMEONE_ELSE, **mine)
        assert not db.rename_conversation(session, owner=SOMEONE_ELSE, title="Theirs", **mine)
        unchanged = db.get_conversation(session, owner=OWNER, **mine)
        assert db.rename_conversation(session, owner=OWNER, title="Renamed", **mine)
        renamed = db.get_conversation(session, owner=OWNER, **mine)

    assert (unchanged.title, unchanged.message_count) == ("Mine", 1)
    assert renamed.title == "Renamed"


def test_unfinished_answers_become_interrupted_and_finished_ones_stay(any_db_url):
    first, second = new_conversation(any_db_url), new_conversation(any_db_url)
    statuses = ["complete", "streaming", "stopped", "error", "interrupted"]
    for status in statuses:
        add(any_db_url, first, status, role="assistant", status=status)
    add(any_db_url, second, "streaming", role="assistant", status="streaming")

    with db.session_for(any_db_url) as session:
        # Another worker still writes the second one's answer: it is left alone.
        assert db.mark_unfinished_as_interrupted(session, live_conversations=frozenset([second])) == 1
        assert [m.status for m in messages(any_db_url, second)] == ["streaming"]
        assert db.mark_unfinished_as_interrupted(session) == 1

    assert [m.status for m in messages(any_db_url, first)] == [
        "complete",
        "interrupted",
        "stopped",
        "error",
        "interrupted",
    ]
    assert [m.status for m in messages(any_db_url, second)] == ["interrupted"]


def test_pages_split_conversations_with_the_same_timestamp(any_db_url):
    ids = {new_conversation(any_db_url) for _ in range(5)}
    with db.engine(any_db_url).begin() as connection:
        connection.execute(sa.update(db.ConversationRow).values(updated_at=db.utcnow()))

    seen: list[str] = []
    cursor = None
    with db.session_for(any_db_url) as session:
        for _ in range(3):
            page, cursor = db.list_conversations(session, owner=OWNER, limit=2, cursor=cursor)
            seen += [c.id for c in page]

    assert cursor is None
    assert sorted(seen) == sorted(ids)


def test_migration_builds_the_schema_the_models_describe(empty_database):
    outcome = migrate(empty_database)
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr

    models = sa.MetaData()
    for row in (db.CategoryRow, db.ConversationRow, db.MessageRow, db.ToolCallRow, db.EventRow):
        row.__table__.to_metadata(models)
    head = ScriptDirectory(str(ROOT / "alembic")).get_current_head()
    migrated = sa.create_engine(empty_database, poolclass=sa.NullPool)
    with migrated.connect() as connection:
        tables = {"alembic_version", "conversation", "message", "tool_call", "event", "category"}
        assert {name for name in sa.inspect(connection).get_table_names() if "_fts" not in name} == tables
        assert connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == head
        # The search index is no model's (test_search.py checks it), and autogenerate leaves it alone.
        assert compare_metadata(MigrationContext.configure(connection), models) == []


def test_a_migrated_database_is_not_reported_as_needing_migrations(empty_database):
    migrate(empty_database).check_returncode()
    again = migrate(empty_database)  # what `make run` does on every start

    assert again.returncode == 0
    assert "schema changes" not in again.stdout + again.stderr


def test_autogenerate_still_sees_a_real_change_to_the_models(empty_database):
    migrate(empty_database).check_returncode()
    models = sa.MetaData()
    for row in (db.CategoryRow, db.ConversationRow, db.MessageRow, db.ToolCallRow, db.EventRow):
        row.__table__.to_metadata(models)
    sa.Table("note", models, sa.Column("id", sa.Integer, primary_key=True))

    with sa.create_engine(empty_database, poolclass=sa.NullPool).connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), models)
    assert [(kind, table.name) for kind, table in diff] == [("add_table", "note")]


def test_pinned_conversations_come_first_and_pages_cross_into_the_others(any_db_url):
    ids = [new_conversation(any_db_url, title=f"chat {n}") for n in range(7)]  # the newest is last
    with db.session_for(any_db_url) as session:
        for conversation_id in (ids[1], ids[3]):
            assert db.set_pinned(session, owner=OWNER, conversation_id=conversation_id, pinned=True)
        assert not db.set_pinned(session, owner=SOMEONE_ELSE, conversation_id=ids[0], pinned=True)
        seen, cursor = [], None
        while True:
            page, cursor = db.list_conversations(session, owner=OWNER, limit=3, cursor=cursor)
            seen += [(c.id, c.pinned) for c in page]
            if cursor is None:
                break
        pinned_only, _ = db.list_conversations(session, owner=OWNER, pinned=True)

    expected = [ids[3], ids[1], ids[6], ids[5], ids[4], ids[2], ids[0]]
    assert [conversation_id for conversation_id, _ in seen] == expected
    assert [pinned for _, pinned in seen] == [True, True, False, False, False, False, False]
    assert [c.id for c in pinned_only] == [ids[3], ids[1]]


def test_categories_file_filter_rename_and_delete_without_losing_conversations(any_db_url):
    trip, budget, loose = (new_conversation(any_db_url, title=t) for t in ("Trip", "Budget", "Loose"))
    with db.session_for(any_db_url) as session:
        assert db.file_conversation(session, owner=OWNER, conversation_id=trip, category="Travel")
        assert db.file_conversation(session, owner=OWNER, conversation_id=budget, category="  travel ")
        assert not db.file_conversation(session, owner=SOMEONE_ELSE, conversation_id=loose, category="X")
        (travel,) = db.list_categories(session, owner=OWNER)  # one category: names match without case
        filed, _ = db.list_conversations(session, owner=OWNER, category_id=travel.id)
        assert {c.id for c in filed} == {trip, budget}

        assert db.rename_category(session, owner=OWNER, category_id=travel.id, name="Holidays")
        db.file_conversation(session, owner=OWNER, conversation_id=loose, category="Work")
        work = db.find_category(session, owner=OWNER, name="work")
        assert not db.rename_category(session, owner=OWNER, category_id=work.id, name="holidays")  # taken
        assert [c.name for c in db.list_categories(session, owner=OWNER)] == ["Holidays", "Work"]

        assert db.delete_category(session, owner=OWNER, category_id=travel.id)
        everything, _ = db.list_conversations(session, owner=OWNER)
        db.file_conversation(session, owner=OWNER, conversation_id=loose, category="")

    assert {c.id: c.category_id for c in everything} == {trip: "", budget: "", loose: work.id}
    with db.session_for(any_db_url) as session:
        assert db.get_conversation(session, owner=OWNER, conversation_id=loose).category_id == ""


def test_the_owner_migration_keeps_every_conversation_reachable_by_its_key(empty_database):
    # Before it, owners were stored as the browsers' keys themselves.
    config = Config()
    config.set_main_option("script_location", str(ROOT / "alembic"))
    config.set_main_option("sqlalchemy.url", empty_database)
    command.upgrade(config, "f2c4e6a8b0d1")
    key, other_key = OWNER_KEY, SOMEONE_ELSE_KEY
    mine = legacy_rows.conversation(empty_database, key, "mine")
    legacy_rows.file_under(empty_database, key, mine, "Work")
    theirs = legacy_rows.conversation(empty_database, other_key, "theirs")
    db.engine(empty_database).dispose()

    outcome = migrate(empty_database)
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr

    with db.session_for(empty_database) as session:
        (found,), _ = db.list_conversations(session, owner=owner_id(key), limit=10)
        assert (found.id, found.title) == (mine, "mine")
        assert [c.name for c in db.list_categories(session, owner=owner_id(key))] == ["Work"]
        assert db.get_conversation(session, owner=owner_id(other_key), conversation_id=theirs) is not None
        query = "SELECT owner FROM conversation UNION SELECT owner FROM category"
        stored = {row[0] for row in session.connection().exec_driver_sql(query)}
    assert stored == {owner_id(key), owner_id(other_key)}
    db.engine(empty_database).dispose()


def test_the_directory_of_reflex_state_files_is_private(tmp_path, monkeypatch):
    # The files there hold each tab's state, its owner key among it.
    states = tmp_path / "states"
    states.mkdir(mode=0o755)
    monkeypatch.setenv("REFLEX_STATES_WORKDIR", str(states))

    keep_state_files_private()

    assert states.stat().st_mode & 0o777 == 0o700
