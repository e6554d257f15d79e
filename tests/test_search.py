"""Search: chatapp.db.search on a real SQLite file and a real PostgreSQL server, and the migration that builds
its index over rows already there."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.command import downgrade, upgrade
from alembic.config import Config

from chatapp import db
from chatapp.accounts.owners import owner_id
from chatapp.db.search import SNIPPET_CHARS, snippet
from tests.e2e.appserver import ROOT, migrate

from . import legacy_rows
from .factories import OWNER, OWNER_KEY, SOMEONE_ELSE

BEFORE_SEARCH = "e7a2c9d4b6f1"  # the conversation settings


def chat(url: str, title: str, *contents: str, owner: str = OWNER) -> tuple[str, list[str]]:
    """A conversation with these messages; returns its id and the messages' ids."""
    with db.session_for(url) as session:
        conversation = db.create_conversation(session, owner=owner, title=title)
        ids = [
            db.add_message(session, conversation_id=conversation.id, role="user", content=content).id
            for content in contents
        ]
    return conversation.id, ids


def search(url: str, query: str, owner: str = OWNER, limit: int = 5) -> list[db.SearchHit]:
    with db.session_for(url) as session:
        return db.search_messages(session, owner=owner, query=query, limit=limit)


def found(url: str, query: str, owner: str = OWNER) -> list[str]:
    return [hit.conversation_id for hit in search(url, query, owner)]


def test_a_word_matches_the_start_of_a_word_as_it_is_typed(any_db_url):
    python, _ = chat(any_db_url, "Snakes", "How do I write a Python decorator?")
    chat(any_db_url, "Cooking", "The marathon is on Sunday")

    assert found(any_db_url, "pyth") == [python]
    assert found(any_db_url, "pyth deco") == [python]
    assert found(any_db_url, "thon") == []


def test_every_word_is_required(any_db_url):
    both, _ = chat(any_db_url, "Travel", "Trains from Lisbon to Porto")
    chat(any_db_url, "Travel too", "Trains from Madrid")

    assert found(any_db_url, "trains porto") == [both]
    assert found(any_db_url, "trains porto zebra") == []


def test_most_recent_match_comes_first_up_to_the_limit(any_db_url):
    ids = [chat(any_db_url, f"Chat {n}", f"common words {n}")[0] for n in range(4)]
    chat(any_db_url, "Unrelated", "nothing here")

    assert found(any_db_url, "common") == ids[::-1]
    assert [hit.conversation_id for hit in search(any_db_url, "common", limit=2)] == ids[::-1][:2]


def test_a_title_alone_matches_and_opens_the_latest_message(any_db_url):
    lisbon, (_, latest) = chat(any_db_url, "Holiday plans for Lisbon", "What should I pack?", "And shoes?")

    [hit] = search(any_db_url, "LISBON holiday")

    assert (hit.conversation_id, hit.title, hit.message_id, hit.snippet) == (
        lisbon,
        "Holiday plans for Lisbon",
        latest,
        "And shoes?",
    )


def test_a_message_holding_every_word_wins_over_the_title(any_db_url):
    _, (wanted, _) = chat(any_db_url, "Puffins", "Where do puffins nest?", "Thanks, bye")

    [hit] = search(any_db_url, "puffins")

    assert hit.message_id == wanted and hit.snippet == "Where do puffins nest?"


def test_a_title_matches_only_when_it_holds_every_word(any_db_url):
    # Words split between the title and a message don't match: either holds all of them, or it isn't a match.
    chat(any_db_url, "Python help", "hello", "what about decorators?")

    assert found(any_db_url, "python decorators") == []


def test_title_and_message_matches_come_together_by_latest_activity(any_db_url):
    by_title, _ = chat(any_db_url, "Kayak trip", "what to bring?")
    by_message, _ = chat(any_db_url, "Weekend", "rent a kayak")
    by_both, (paddles,) = chat(any_db_url, "Kayak club", "kayak paddles")
    newest_by_title, _ = chat(any_db_url, "Kayaks compared", "which one?")
    with db.session_for(any_db_url) as session:  # new activity brings older ones to the top
        db.add_message(session, conversation_id=by_title, role="assistant", content="a dry bag")
        db.add_message(session, conversation_id=by_both, role="assistant", content="see you")

    hits = search(any_db_url, "kayak")

    assert [hit.conversation_id for hit in hits] == [by_both, by_title, newest_by_title, by_message]
    assert hits[0].message_id == paddles
    assert [hit.conversation_id for hit in search(any_db_url, "kayak", limit=2)] == [by_both, by_title]


def test_a_long_conversation_does_not_hide_older_matches(any_db_url):
    older, (one,) = chat(any_db_url, "Old", "one kayak")
    longer, ids = chat(any_db_url, "Long", *(f"kayak number {n}" for n in range(40)))

    hits = search(any_db_url, "kayak", limit=2)

    assert [(hit.conversation_id, hit.message_id) for hit in hits] == [(longer, ids[-1]), (older, one)]


def test_another_owners_conversations_are_never_found(any_db_url):
    mine, _ = chat(any_db_url, "My notes", "the secret recipe is here")
    theirs = {
        chat(any_db_url, "Their notes", "the secret recipe is there too", owner=SOMEONE_ELSE)[0],
        chat(any_db_url, "Secret recipe", "a title match of someone else's", owner=SOMEONE_ELSE)[0],
    }

    assert found(any_db_url, "secret recipe") == [mine]
    assert set(found(any_db_url, "secret recipe", owner=SOMEONE_ELSE)) == theirs


@pytest.mark.parametrize(
    "query",
    [
        *('"near', "near*", "NEAR(", "NEAR(near harbor)", "-near", "near:", "harbor:near", "(near"),
        *("^near", "near!", "near & harbor", "!near", "near <-> harbor", "near:*", "'near'", "near';--"),
        *("\\near", "{near}", "near\x00", "[near]", "near+harbor", "near/harbor", "near,harbor"),
    ],
)
def test_search_syntax_in_a_query_is_only_text(any_db_url, query):
    conversation, _ = chat(any_db_url, "Boats", "The boats wait near the harbor")
    chat(any_db_url, "Other", "nothing to see")

    assert found(any_db_url, query) == [conversation]


def test_operator_words_are_searched_as_words(any_db_url):
    rock, _ = chat(any_db_url, "Music", "rock and roll")
    chat(any_db_url, "Maths", "one plus one")

    assert found(any_db_url, "AND") == [rock]
    assert found(any_db_url, "rock OR maths") == []
    assert found(any_db_url, "NOT rock") == []


def test_punctuation_separates_words_and_is_never_a_wildcard(any_db_url):
    snake, _ = chat(any_db_url, "Python", "rename it to snake_case")
    chat(any_db_url, "Other", "snakeXcase is not a style")
    chat(any_db_url, "Sale", "everything is 50% off")

    assert found(any_db_url, "snake_case") == [snake]
    assert found(any_db_url, "%") == found(any_db_url, "_") == []


@pytest.mark.parametrize("query", ["", "   ", "\n\t", "!!! ... ---", '"" *'])
def test_a_query_without_words_finds_nothing(any_db_url, query):
    chat(any_db_url, "Anything", "some text")

    assert search(any_db_url, query) == []


def test_an_answer_saved_while_it_streams_is_found_by_its_latest_text_only(any_db_url):
    conversation, _ = chat(any_db_url, "Weather", "Will it rain?")
    with db.session_for(any_db_url) as session:
        answer = db.add_message(
            session, conversation_id=conversation, role="assistant", content="", status="streaming"
        )
        for text in ("Probably", "Probably sunshine", "Probably sunshine tomorrow"):
            db.save_partial_answers(session, {answer.id: text})
        db.save_answer(session, message_id=answer.id, content="Drizzle, then sun.", status="complete")

    [hit] = search(any_db_url, "drizzle")
    assert (hit.message_id, hit.snippet) == (answer.id, "Drizzle, then sun.")
    assert search(any_db_url, "sunshine") == search(any_db_url, "probably") == []
    if any_db_url.startswith("sqlite"):
        with db.engine(any_db_url).begin() as connection:  # raises if the index and the table disagree
            connection.exec_driver_sql(
                "INSERT INTO message_fts(message_fts, rank) VALUES ('integrity-check', 1)"
            )


def test_deleted_and_rewound_messages_leave_the_results(any_db_url):
    doomed, _ = chat(any_db_url, "Glacier trip", "glaciers melt")
    rewound, (question, _) = chat(any_db_url, "Edited", "tell me about volcanoes", "volcanoes erupt")
    with db.session_for(any_db_url) as session:
        assert db.delete_conversation(session, owner=OWNER, conversation_id=doomed)
        assert db.rewind_to(
            session, owner=OWNER, conversation_id=rewound, message_id=question, content="tell me about lakes"
        )

    assert search(any_db_url, "glacier") == []
    assert search(any_db_url, "volcanoes") == []
    assert [(hit.conversation_id, hit.message_id) for hit in search(any_db_url, "lakes")] == [
        (rewound, question)
    ]


def test_a_renamed_conversation_is_found_by_its_new_title_only(any_db_url):
    conversation, _ = chat(any_db_url, "New chat", "hello")
    with db.session_for(any_db_url) as session:
        db.rename_conversation(session, owner=OWNER, conversation_id=conversation, title="Budget 2027")

    assert found(any_db_url, "budget") == [conversation]
    assert found(any_db_url, "new chat") == []


def test_case_does_not_matter_in_any_script(any_db_url):
    greek, _ = chat(any_db_url, "Ταξίδι", "ΚΑΛΗΜΈΡΑ από την Αθήνα")
    german, _ = chat(any_db_url, "Reise", "Straße nach München")

    assert found(any_db_url, "καλημέρα") == [greek]
    assert found(any_db_url, "MÜNCHEN") == [german]


def test_accents_do_not_matter_on_sqlite(db_url):
    dessert, _ = chat(db_url, "Desserts", "Crème brûlée for the café")

    assert found(db_url, "creme brulee cafe") == [dessert]
    assert found(db_url, "CRÈME") == [dessert]


# --- snippets -------------------------------------------------------------------------------------


def test_the_snippet_shows_plain_text_around_the_first_match_cut_between_words():
    before = "word " * 60
    text = before + "here the Puffins\nnest in June, " + "after " * 60

    shown = snippet(text, ["puffin"])

    assert shown.startswith("…word word") and shown.endswith("after after…")
    assert "here the Puffins nest in June, after" in shown
    assert len(shown) <= SNIPPET_CHARS + 2


def test_a_short_text_is_its_own_snippet_and_a_missing_word_shows_the_start():
    assert snippet("  How long do I boil\nan egg?  ", ["egg"]) == "How long do I boil an egg?"
    assert snippet("Lisbon " * 40, ["budget"]) == " ".join(["Lisbon"] * 23) + "…"


def test_the_snippet_finds_the_word_whatever_its_case_and_accents():
    assert snippet("word " * 100 + "Crème brûlée", ["CREME"]).endswith("word Crème brûlée")


# --- the migration --------------------------------------------------------------------------------


def alembic(url: str, action, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(ROOT / "alembic"))
    config.set_main_option("sqlalchemy.url", url)
    action(config, revision)


def search_objects(url: str) -> set[str]:
    with sa.create_engine(url, poolclass=sa.NullPool).connect() as connection:
        inspector = sa.inspect(connection)
        names = set(inspector.get_table_names())
        for table in ("message", "conversation"):
            names |= {index["name"] for index in inspector.get_indexes(table)}
    return {name for name in names if "fts" in name}


def test_the_migration_indexes_rows_already_there_and_its_downgrade_drops_the_index(empty_database):
    alembic(empty_database, upgrade, BEFORE_SEARCH)
    older = legacy_rows.conversation(empty_database, OWNER_KEY, "Trip to Reykjavik")
    question = legacy_rows.message(empty_database, older, "Where do puffins nest?")
    assert search_objects(empty_database) == set()

    outcome = migrate(empty_database)
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr
    owner = owner_id(OWNER_KEY)  # as the rows made before are owned now (test_db.py checks that migration)
    newer, _ = chat(empty_database, "Reykjavik again", "More puffins", owner=owner)

    assert [(h.conversation_id, h.message_id) for h in search(empty_database, "puffins nest", owner)] == [
        (older, question)
    ]
    assert found(empty_database, "reykjavik", owner) == [newer, older]
    assert search_objects(empty_database)

    alembic(empty_database, downgrade, BEFORE_SEARCH)
    assert search_objects(empty_database) == set()
    after = legacy_rows.conversation(empty_database, OWNER_KEY, "After the downgrade")
    legacy_rows.message(empty_database, after, "no trigger is left to fail this")
    db.engine(empty_database).dispose()


def test_answers_still_streaming_leave_the_index_when_the_database_is_migrated(empty_database):
    alembic(empty_database, upgrade, "d1f3a5c7e9b2")  # where every save of a streaming answer was indexed
    conversation = legacy_rows.conversation(empty_database, OWNER_KEY, "Weather")
    legacy_rows.message(empty_database, conversation, "Will it rain?")
    answer_id = legacy_rows.message(empty_database, conversation, "Probably", "assistant", "streaming")
    if empty_database.startswith("sqlite"):  # the old triggers indexed it
        assert [hit.message_id for hit in search(empty_database, "probably", OWNER_KEY)] == [answer_id]

    outcome = migrate(empty_database)
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr
    owner = owner_id(OWNER_KEY)
    assert search(empty_database, "probably", owner) == []
    with db.session_for(empty_database) as session:
        db.save_partial_answers(session, {answer_id: "Probably sunshine"})
        assert search(empty_database, "sunshine", owner) == []  # not while it streams
        db.save_answer(session, message_id=answer_id, content="Drizzle, then sun.", status="complete")

    assert [hit.message_id for hit in search(empty_database, "drizzle", owner)] == [answer_id]
    if empty_database.startswith("sqlite"):
        with db.engine(empty_database).begin() as connection:  # raises if the index and the table disagree
            connection.exec_driver_sql(
                "INSERT INTO message_fts(message_fts, rank) VALUES ('integrity-check', 1)"
            )
    db.engine(empty_database).dispose()
