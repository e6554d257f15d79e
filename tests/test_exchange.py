"""Export as Markdown and JSON, and importing the JSON back, against a real database."""

from __future__ import annotations

import json
import uuid

import pytest

from chatapp import db
from chatapp.domain import ChatOptions, InputError, Metrics
from chatapp.rest import exchange

from .factories import OWNER, SOMEONE_ELSE

OPTIONS = ChatOptions(
    model="gpt-4o",
    system_prompt="Show the working.",
    temperature=0.2,
    max_tokens=300,
    servers_off=("search",),
    tools_allowed=("files__write_file",),
)


FULL_METRICS = Metrics(
    model="gpt-4o-mini",
    provider="openai",
    prompt_tokens=1_204,
    completion_tokens=311,
    token_source="reported",
    estimated_prompt_tokens=1_198,
    estimated_completion_tokens=305,
    encoding="cl100k_base (bundled)",
    cost_usd=0.0003672,
    price="openai gpt-4o-mini: $0.15/input MTok, $0.6/output MTok",
    ttft_ms=212.37,
    duration_ms=4_018.9,
    tokens_per_s=77.38,
    itl_p50_ms=11.5,
    itl_p95_ms=31.25,
    context_tokens=1_198,
    context_window=128_000,
)


def every_kind_of_message(url: str) -> str:
    """A conversation with each status an answer ends in, every metric, tool calls that worked and failed,
    a category, a pin and its own settings; returns its id."""
    with db.session_for(url) as session:
        chat = db.create_conversation(session, owner=OWNER, title="Everything «at once» 🧪", options=OPTIONS)
        db.file_conversation(session, owner=OWNER, conversation_id=chat.id, category="Research")
        db.set_pinned(session, owner=OWNER, conversation_id=chat.id, pinned=True)
        for status, error in (
            ("complete", ""),
            ("stopped", ""),
            ("interrupted", ""),
            ("error", "The model server refused the API key (401)."),
        ):
            db.add_message(
                session, conversation_id=chat.id, role="user", content=f"A question, then {status}"
            )
            answer = db.add_message(session, conversation_id=chat.id, role="assistant", content="")
            if status == "complete":
                for server, name, arguments, outcome, result in (
                    ("", "calculator", '{"expression": "1299/4"}', "ok", "324.75"),
                    ("", "current_time", '{"timezone": "Mars/Olympus"}', "error", "Unknown time zone"),
                    ("files", "files__read_file", '{"path": "notes.md"}', "ok", "# Notes"),
                    ("files", "files__delete_file", '{"path": "notes.md"}', "denied", "The user declined."),
                ):
                    step = db.add_tool_step(
                        session,
                        message_id=answer.id,
                        call_id=f"call_{name}",
                        name=name,
                        arguments=arguments,
                        server=server,
                        status="waiting" if outcome == "denied" else "running",
                    )
                    db.finish_tool_step(
                        session, step_id=step.id, status=outcome, result=result, duration_ms=1.25
                    )
            db.save_answer(
                session,
                message_id=answer.id,
                content=f"An answer that ended {status}.\n\n```python\nprint('ü')\n```",
                status=status,
                metrics=FULL_METRICS,
                error=error,
            )
        return chat.id


def export_of(url: str, conversation_id: str) -> str:
    with db.session_for(url) as session:
        conversation = db.get_conversation(session, owner=OWNER, conversation_id=conversation_id)
        assert conversation is not None
        messages = db.list_messages(session, conversation_id=conversation_id)
        categories = {c.id: c.name for c in db.list_categories(session, owner=OWNER)}
    return exchange.to_json(conversation, messages, categories)


def test_an_export_imported_into_an_empty_database_exports_byte_for_byte_the_same(any_db_url, tmp_path):
    source = f"sqlite:///{tmp_path / 'source.db'}"
    db.create_tables(source)
    exported = export_of(source, every_kind_of_message(source))

    with db.session_for(any_db_url) as session:
        restored = db.import_conversation(session, owner=OWNER, draft=exchange.from_json(exported.encode()))

    assert export_of(any_db_url, restored.id) == exported
    data = json.loads(exported)
    assert (data["pinned"], data["category"], data["settings"]["temperature"]) == (True, "Research", 0.2)
    answers = [m for m in data["messages"] if m["role"] == "assistant"]
    assert [a["status"] for a in answers] == ["complete", "stopped", "interrupted", "error"]
    assert answers[3]["error"] == "The model server refused the API key (401)."
    assert [(c["name"], c["status"], c.get("server")) for c in answers[0]["tool_calls"]] == [
        ("calculator", "ok", None),
        ("current_time", "error", None),
        ("files__read_file", "ok", "files"),
        ("files__delete_file", "denied", "files"),
    ]
    assert data["settings"]["servers_off"] == ["search"]
    # What runs without asking is this installation's permission, never in a file.
    assert "tools_allowed" not in data["settings"] and "files__write_file" not in exported
    # Every one of an answer's numbers is in the file, not only those a reader sees first.
    assert answers[0]["usage"]["estimated"] == {"prompt_tokens": 1_198, "completion_tokens": 305}
    assert answers[0]["timings"]["inter_token_p95_ms"] == 31.25
    assert answers[0]["context"] == {"tokens": 1_198, "window": 128_000}
    assert answers[0]["usage"]["encoding"] == "cl100k_base (bundled)"
    assert data["totals"]["tokens"] == 4 * (1_204 + 311)


def test_importing_the_same_file_twice_keeps_both_under_new_ids_the_second_time(db_url):
    exported = export_of(db_url, every_kind_of_message(db_url))

    with db.session_for(db_url) as session:
        again = db.import_conversation(session, owner=OWNER, draft=exchange.from_json(exported.encode()))
        titles = [c.title for c in db.list_conversations(session, owner=OWNER)[0]]

    original, copy = json.loads(exported), json.loads(export_of(db_url, again.id))
    assert copy["id"] != original["id"] and titles == [original["title"]] * 2
    assert {m["id"] for m in copy["messages"]}.isdisjoint(m["id"] for m in original["messages"])
    assert [m["content"] for m in copy["messages"]] == [m["content"] for m in original["messages"]]
    assert copy["category_id"] == original["category_id"]  # the owner's own category, by name


def test_markdown_export_reads_as_the_conversation(db_url):
    conversation_id = every_kind_of_message(db_url)
    with db.session_for(db_url) as session:
        conversation = db.get_conversation(session, owner=OWNER, conversation_id=conversation_id)
        assert conversation is not None
        text = exchange.to_markdown(conversation, db.list_messages(session, conversation_id=conversation_id))

    assert text.startswith("# Everything «at once» 🧪\n")
    assert "**You**" in text and "A question, then complete" in text
    assert "**Assistant**" in text and "An answer that ended complete." in text
    assert "tool `calculator`" in text and "324.75" in text
    assert "tool `delete_file` on MCP server `files`" in text and "→ denied" in text
    assert "gpt-4o-mini" in text and "· stopped" in text


NOW = "2026-12-01T09:30:00.250Z"


def _message(**fields) -> dict:
    """A message as an export holds it, with `fields` changed."""
    return {"id": str(uuid.uuid4()), "role": "user", "content": "hi", "status": "complete"} | {
        "created_at": NOW,
        "updated_at": NOW,
        **fields,
    }


def _export(messages: list[dict], **fields) -> bytes:
    chat = {"format": exchange.FORMAT, "id": str(uuid.uuid4()), "title": "t", "created_at": NOW}
    return json.dumps(chat | {"updated_at": NOW, "messages": messages, **fields}).encode()


TOOL_CALL = {"id": str(uuid.uuid4()), "call_id": "c", "name": "calculator", "arguments": "{}", "result": ""}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"not json at all", "not JSON"),
        (b'{"title": "x", "messages": []}', "not a chatapp conversation export"),
        (_export([_message(role="system")]), r"messages\[0\].role: expected user or assistant"),
        (_export([_message(content=5)]), r"messages\[0\].content: expected text"),
        (b" " * (exchange.MAX_IMPORT_BYTES + 1), "too large"),
        (b'{"format": "chatapp.conversation/1", "messages": ' + b"[" * 200_000, "nests too deeply"),
        (_export([_message()] * 2_001), "2,001 messages; an import takes 2,000 at most"),
        (
            _export([_message(), _message(role="assistant", usage="abc")]),
            r"messages\[1\].usage: expected an object",
        ),
        (
            _export([_message(role="assistant", tool_calls="abc")]),
            r"messages\[0\].tool_calls: expected a list",
        ),
        (
            _export(
                [_message(role="assistant", tool_calls=[TOOL_CALL | {"status": "ok", "duration_ms": "fast"}])]
            ),
            r"messages\[0\].tool_calls\[0\].duration_ms: expected a number",
        ),
        (_export([_message(content="q" * 16_001)]), r"messages\[0\].content: longer than 16,000"),
        (
            _export([_message(role="assistant", usage={"prompt_tokens": -1})]),
            r"messages\[0\].usage.prompt_tokens: expected a number of at least 0",
        ),
        (_export([_message(id="../../etc/passwd")]), r"messages\[0\].id: expected an id"),
        (_export([_message(created_at="yesterday")]), r"messages\[0\].created_at: expected a UTC time"),
        (_export([_message(status="done")]), r"messages\[0\].status: expected 'complete'"),
        (_export([_message()], pinned="yes"), "pinned: expected true or false"),
        (
            _export([_message(created_at="0001-01-01T00:00:00+01:00")]),
            r"messages\[0\].created_at: out of range",
        ),
        (_export([], updated_at="2099-01-01T00:00:00Z"), "updated_at: not a time between 1970 and now"),
        (_export([], settings={"temperature": 9}), "Temperature"),
    ],
)
def test_a_file_that_is_not_an_export_gets_a_plain_error(raw, message):
    with pytest.raises(InputError, match=message):
        exchange.from_json(raw)


def test_an_import_keeps_text_as_the_database_can_store_it():
    # NUL is refused by PostgreSQL, a lone surrogate by every encoder: both came through JSON escapes.
    raw = _export([_message(content="@")], title="nul@title").replace(b"@", b"\\u0000\\ud800")

    imported = exchange.from_json(raw)

    assert (imported.title, imported.messages[0].content) == ("nul\ufffdtitle", "\ufffd")


def test_restoring_a_deleted_conversation_into_the_same_browser_keeps_its_id(db_url):
    conversation_id = every_kind_of_message(db_url)
    exported = export_of(db_url, conversation_id)
    with db.session_for(db_url) as session:
        db.delete_conversation(session, owner=OWNER, conversation_id=conversation_id)
        restored = db.import_conversation(session, owner=OWNER, draft=exchange.from_json(exported.encode()))

    # Its category is still there (deleting a conversation keeps it): found by name, no reason for new ids.
    assert restored.id == conversation_id
    assert export_of(db_url, restored.id) == exported


def test_another_browser_importing_an_export_gets_its_own_ids_and_category(db_url):
    exported = export_of(db_url, every_kind_of_message(db_url))
    with db.session_for(db_url) as session:
        theirs = db.import_conversation(
            session, owner=SOMEONE_ELSE, draft=exchange.from_json(exported.encode())
        )
        (their_category,) = db.list_categories(session, owner=SOMEONE_ELSE)
        mine = db.get_conversation(session, owner=OWNER, conversation_id=json.loads(exported)["id"])

    original = json.loads(exported)
    assert theirs.id != original["id"] and mine is not None  # the first owner's copy is untouched
    assert (their_category.name, their_category.id != original["category_id"]) == ("Research", True)
    assert theirs.category_id == their_category.id


def test_a_file_that_claims_tools_are_allowed_allows_nothing(db_url):
    # A conversation someone hands over must not switch off the question before a tool acts.
    raw = _export([_message()], settings={"tools_allowed": ["files__delete_file"], "servers_off": ["web"]})

    with db.session_for(db_url) as session:
        restored = db.import_conversation(session, owner=OWNER, draft=exchange.from_json(raw))

    assert (restored.options.tools_allowed, restored.options.servers_off) == ((), ("web",))
