"""Export as Markdown and JSON, and importing the JSON back, against a real database."""

from __future__ import annotations

import json

import pytest

from chatapp import db, exchange
from chatapp.domain import ChatOptions, InputError, Metrics

OWNER = "exchange-test-owner-key"
METRICS = Metrics(
    model="gpt-4o-mini",
    provider="openai",
    prompt_tokens=120,
    completion_tokens=30,
    token_source="reported",
    cost_usd=0.000036,
    price="openai gpt-4o-mini: $0.15/input MTok, $0.6/output MTok",
    ttft_ms=210.0,
    duration_ms=900.0,
    tokens_per_s=42.5,
)


OPTIONS = ChatOptions(model="gpt-4o", system_prompt="Show the working.", temperature=0.2, max_tokens=300)


def seeded(url: str):
    with db.session_for(url) as session:
        conversation = db.create_conversation(session, owner=OWNER, title="Cabin maths", options=OPTIONS)
        db.add_message(session, conversation_id=conversation.id, role="user", content="Split 1299 in 4")
        answer = db.add_message(session, conversation_id=conversation.id, role="assistant", content="")
        step = db.add_tool_step(
            session,
            message_id=answer.id,
            call_id="call_0",
            name="calculator",
            arguments='{"expression": "1299/4"}',
        )
        db.finish_tool_step(session, step_id=step.id, status="ok", result="1299/4 ≈ 324.75", duration_ms=2.0)
        db.save_answer(
            session, message_id=answer.id, content="**324.75** each.", status="complete", metrics=METRICS
        )
        return conversation, db.list_messages(session, conversation_id=conversation.id)


def test_json_export_imports_back_with_its_metrics_and_tool_calls(db_url):
    conversation, messages = seeded(db_url)

    title, options, drafts = exchange.from_json(exchange.to_json(conversation, messages).encode())
    with db.session_for(db_url) as session:
        copy = db.import_conversation(session, owner=OWNER, title=title, options=options, drafts=drafts)
        imported = db.list_messages(session, conversation_id=copy.id)

    assert copy.id != conversation.id and copy.title == "Cabin maths"
    assert copy.options == OPTIONS
    assert [(m.role, m.content, m.status) for m in imported] == [
        (m.role, m.content, m.status) for m in messages
    ]
    original, again = messages[1].metrics, imported[1].metrics
    for field in (
        "model",
        "provider",
        "prompt_tokens",
        "completion_tokens",
        "token_source",
        "cost_usd",
        "price",
    ):
        assert getattr(again, field) == getattr(original, field), field
    assert (again.ttft_ms, again.duration_ms, again.tokens_per_s) == (210.0, 900.0, 42.5)
    (step,) = imported[1].steps
    assert (step.name, step.arguments, step.status, step.result) == (
        "calculator",
        '{"expression": "1299/4"}',
        "ok",
        "1299/4 ≈ 324.75",
    )


def test_markdown_export_reads_as_the_conversation(db_url):
    conversation, messages = seeded(db_url)

    text = exchange.to_markdown(conversation, messages)

    assert text.startswith("# Cabin maths\n")
    assert "**You**" in text and "Split 1299 in 4" in text
    assert "**Assistant**" in text and "**324.75** each." in text
    assert "tool `calculator`" in text and "324.75" in text
    assert "gpt-4o-mini" in text


def _export(messages: list[dict]) -> bytes:
    return json.dumps({"format": exchange.FORMAT, "messages": messages}).encode()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"not json at all", "not JSON"),
        (b'{"title": "x", "messages": []}', "not a chatapp conversation export"),
        (
            json.dumps(
                {"format": exchange.FORMAT, "messages": [{"role": "system", "content": "x"}]}
            ).encode(),
            "role",
        ),
        (
            json.dumps({"format": exchange.FORMAT, "messages": [{"role": "user", "content": 5}]}).encode(),
            "text",
        ),
        (b" " * (exchange.MAX_IMPORT_BYTES + 1), "too large"),
        (b'{"format": "chatapp.conversation/1", "messages": ' + b"[" * 200_000, "nests too deeply"),
        (
            _export([{"role": "user", "content": "x"}] * 2_001),
            "2,001 messages; an import takes 2,000 at most",
        ),
        (
            _export([{"role": "user"}, {"role": "assistant", "usage": "abc"}]),
            r"messages\[1\].usage: expected an object",
        ),
        (_export([{"role": "assistant", "tool_calls": "abc"}]), r"messages\[0\].tool_calls: expected a list"),
        (
            _export([{"role": "assistant", "tool_calls": [{"name": "calculator", "duration_ms": "fast"}]}]),
            r"messages\[0\].tool_calls\[0\].duration_ms: expected a number",
        ),
        (_export([{"role": "user", "content": "q" * 16_001}]), r"messages\[0\].content: longer than 16,000"),
        (
            _export([{"role": "assistant", "usage": {"prompt_tokens": -1}}]),
            "prompt_tokens: expected a whole number",
        ),
        (
            json.dumps({"format": exchange.FORMAT, "settings": {"temperature": 9}, "messages": []}).encode(),
            "Temperature",
        ),
    ],
)
def test_a_file_that_is_not_an_export_gets_a_plain_error(raw, message):
    with pytest.raises(InputError, match=message):
        exchange.from_json(raw)


def test_an_import_keeps_text_as_the_database_can_store_it():
    # NUL is refused by PostgreSQL, a lone surrogate by every encoder: both came through JSON escapes.
    message = b'{"role": "user", "content": "a\\u0000b\\ud800c"}'
    raw = b'{"format": "chatapp.conversation/1", "title": "nul\\u0000title", "messages": [' + message + b"]}"

    title, _options, (draft,) = exchange.from_json(raw)

    assert (title, draft.content) == ("nultitle", "ab\ufffdc")
