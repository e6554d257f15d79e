"""Tools: the calculator, current_time and search_conversations, and how `tools.call` turns every failure into
an error result the model can read."""

from __future__ import annotations

import json
import re
import threading
import time

import pytest

from chatapp import db
from chatapp.turns import tools
from chatapp.turns.tools import ToolContext, ToolError

from .factories import OWNER, SOMEONE_ELSE


def calculate(expression: str) -> str:
    return tools.calculator(ToolContext(owner=OWNER, db_url="sqlite://"), {"expression": expression})


# --- calculator ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("0.1 + 0.2", "3/10 ≈ 0.3"),
        ("(2 + 3) * 7 / 4", "35/4 ≈ 8.75"),
        ("12345678901234567890 * 98765432109876543210", str(12345678901234567890 * 98765432109876543210)),
        ("2 ** 100 + 1", str(2**100 + 1)),
        ("10 // 3", "3"),
        ("-7 % 3", "2"),
        ("2 ** -3", "1/8 ≈ 0.125"),
        ("2^10", "1024"),
        ("6 × 7 ÷ 2", "21"),
        ("1/3", "1/3 ≈ 0.333333333333333"),
    ],
)
def test_calculator_is_exact(expression, expected):
    assert calculate(expression) == expected


@pytest.mark.parametrize(
    "expression", ["__import__('os')", "a.b", "x", "abs(-1)", "[1, 2]", "1 if 1 else 2", "True"]
)
def test_calculator_rejects_anything_but_arithmetic(expression):
    with pytest.raises(ToolError, match="Only numbers"):
        calculate(expression)


def test_calculator_rejects_text_that_is_not_an_expression():
    with pytest.raises(ToolError, match="not an arithmetic expression"):
        calculate("import os")


@pytest.mark.parametrize("expression", ["1 / 0", "1 // 0", "5 % 0", "1 / (2 - 2)", "0 ** -1"])
def test_calculator_reports_division_by_zero(expression):
    with pytest.raises(ToolError, match="Division by zero"):
        calculate(expression)


@pytest.mark.parametrize(
    "expression", ["(9999**10000)**10000", "9**9**9", "2**100000", "(2**10000)**10000", "2**0.5"]
)
def test_calculator_refuses_huge_powers_quickly(expression):
    started = time.perf_counter()
    with pytest.raises(ToolError):
        calculate(expression)
    assert time.perf_counter() - started < 0.5


def test_calculator_refuses_an_over_long_expression():
    with pytest.raises(ToolError, match="longer than 500 characters"):
        calculate("1+" * 250 + "1")


@pytest.mark.parametrize("expression", ["9**9999", "9**9999 / 7", "2**2000 / 3", "(2**9000) * (2**9000)"])
def test_calculator_shows_or_plainly_refuses_large_results_within_its_limits(expression):
    try:
        result = calculate(expression)
    except ToolError:
        return  # a plain refusal is acceptable
    assert result.split("/")[0].isdigit()


# --- current time ----------------------------------------------------------------------------------


def test_current_time_names_the_requested_zone():
    result = tools.current_time(ToolContext(OWNER, "sqlite://"), {"timezone": "Asia/Tokyo"})
    assert "Asia/Tokyo" in result
    assert "JST" in result and "UTC+0900" in result
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", result)


def test_current_time_defaults_to_utc():
    assert "(UTC+0000, UTC)" in tools.current_time(ToolContext(OWNER, "sqlite://"), {})


@pytest.mark.parametrize(
    "zone", ["Mars/Olympus_Mons", "../../etc/passwd", "/etc/localtime", "Europe/" + "x" * 5_000, "UTC\x00"]
)
async def test_current_time_with_an_unknown_zone_is_a_tool_error_that_names_no_file(zone):
    outcome = await tools.call(
        "current_time", json.dumps({"timezone": zone}), ToolContext(OWNER, "sqlite://")
    )
    assert outcome.status == "error"
    assert outcome.result.startswith(f"Unknown time zone '{zone[:64]}'")
    assert "/usr/" not in outcome.result and len(outcome.result) < 200


# --- search conversations --------------------------------------------------------------------------


def _conversation(url: str, owner: str, title: str, *contents: str) -> str:
    with db.session_for(url) as session:
        conversation = db.create_conversation(session, owner=owner, title=title)
        for content in contents:
            db.add_message(session, conversation_id=conversation.id, role="user", content=content)
    return conversation.id


async def _search(url: str, query: str, owner: str = OWNER, **extra) -> list[dict]:
    outcome = await tools.call(
        "search_conversations", json.dumps({"query": query, **extra}), ToolContext(owner, url)
    )
    assert outcome.status == "ok", outcome.result
    return json.loads(outcome.result)["results"]


async def test_search_finds_a_conversation_by_its_title(db_url):
    wanted = _conversation(db_url, OWNER, "Holiday plans for Lisbon", "What should I pack?")
    _conversation(db_url, OWNER, "Tax return", "Which forms do I need?")
    results = await _search(db_url, "lisbon")
    assert [r["id"] for r in results] == [wanted]
    assert results[0]["title"] == "Holiday plans for Lisbon"


async def test_search_finds_a_conversation_by_message_text_and_returns_a_snippet(db_url):
    wanted = _conversation(db_url, OWNER, "Cooking", "How long do I boil a soft egg?", "About six minutes.")
    _conversation(db_url, OWNER, "Garden", "When do tulips bloom?")
    results = await _search(db_url, "egg")
    assert results == [{"id": wanted, "title": "Cooking", "snippet": "How long do I boil a soft egg?"}]


async def test_search_never_returns_another_owners_conversation(db_url):
    mine = _conversation(db_url, OWNER, "My notes", "the secret recipe is here")
    theirs = {
        _conversation(db_url, SOMEONE_ELSE, "Their notes", "the secret recipe is there too"),
        _conversation(db_url, SOMEONE_ELSE, "secret recipe", "a title match of someone else's"),
    }
    assert [r["id"] for r in await _search(db_url, "secret recipe")] == [mine]
    assert {r["id"] for r in await _search(db_url, "secret recipe", owner=SOMEONE_ELSE)} == theirs


async def test_search_respects_the_limit(db_url):
    for n in range(4):
        _conversation(db_url, OWNER, f"Chat {n}", "common words")
    assert len(await _search(db_url, "common", limit=2)) == 2


async def test_search_with_nothing_found_says_so(db_url):
    _conversation(db_url, OWNER, "Chat", "hello")
    outcome = await tools.call("search_conversations", '{"query": "zebra"}', ToolContext(OWNER, db_url))
    assert outcome.status == "ok"
    assert json.loads(outcome.result) == {"results": [], "note": "Nothing found for 'zebra'."}


@pytest.mark.parametrize("query", ["", "   "])
async def test_search_with_an_empty_query_is_an_error(db_url, query):
    outcome = await tools.call(
        "search_conversations", json.dumps({"query": query}), ToolContext(OWNER, db_url)
    )
    assert outcome == tools.ToolOutcome("error", "The query is empty.", outcome.duration_ms)


# --- tools.call ------------------------------------------------------------------------------------


@pytest.fixture
async def throwaway_tools():
    """A slow tool with a short timeout and a tool that crashes; removed from the registry afterwards.
    Async so its teardown frees the abandoned thread before the event loop waits for its executor."""
    release = threading.Event()

    @tools.tool("test_slow", "Waits.", {}, timeout_s=0.05)
    def slow(_context, _arguments):
        release.wait(5)
        return "too late"

    @tools.tool("test_broken", "Crashes.", {"n": {"type": "number"}})
    def broken(_context, _arguments):
        raise RuntimeError("boom")

    yield
    release.set()
    tools.REGISTRY.pop("test_slow", None)
    tools.REGISTRY.pop("test_broken", None)


CONTEXT = ToolContext(OWNER, "sqlite://")


async def test_call_runs_a_tool_and_reports_ok_with_its_duration():
    outcome = await tools.call("calculator", '{"expression": "2 + 2"}', CONTEXT)
    assert (outcome.status, outcome.result) == ("ok", "4")
    assert outcome.duration_ms >= 0


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        ("no_such_tool", "{}", "Unknown tool 'no_such_tool'. Available tools: calculator, current_time"),
        ("calculator", '{"expression": ', "The arguments are not valid JSON"),
        ("calculator", '["1 + 1"]', "The arguments must be a JSON object."),
        ("calculator", '"1 + 1"', "The arguments must be a JSON object."),
        ("calculator", "{}", "Missing argument(s): expression."),
        (
            "calculator",
            '{"expression": "1", "precision": 3}',
            "Unknown argument 'precision'. Expected: expression.",
        ),
        ("calculator", '{"expression": 5}', "Argument 'expression' must be of type string."),
        ("search_conversations", '{"query": "x", "limit": "3"}', "Argument 'limit' must be of type integer."),
        (
            "search_conversations",
            '{"query": "x", "limit": true}',
            "Argument 'limit' must be of type integer.",
        ),
        ("calculator", '{"expression": "1 / 0"}', "Division by zero."),
    ],
)
async def test_call_turns_bad_calls_into_a_plain_error(name, raw, message):
    outcome = await tools.call(name, raw, CONTEXT)
    assert outcome.status == "error"
    assert outcome.result.startswith(message)


async def test_call_turns_an_exception_inside_a_tool_into_an_error(throwaway_tools):
    outcome = await tools.call("test_broken", '{"n": 1.5}', CONTEXT)
    # Its kind only: an exception's text may name the server's files (the log has it whole).
    assert outcome.status == "error"
    assert outcome.result == "The tool failed (RuntimeError); the details are in the server's log."


async def test_call_abandons_a_tool_that_runs_past_its_timeout(throwaway_tools):
    started = time.perf_counter()
    outcome = await tools.call("test_slow", "", CONTEXT)
    assert time.perf_counter() - started < 1
    assert outcome.status == "error"
    assert outcome.result == "The tool took longer than 0.05 s and was abandoned."


async def test_call_measures_duration_with_the_injected_clock():
    readings = iter([10.0, 10.25])
    outcome = await tools.call("calculator", '{"expression": "1"}', CONTEXT, clock=lambda: next(readings))
    assert outcome.duration_ms == pytest.approx(250)


# --- specs -----------------------------------------------------------------------------------------


def test_specs_are_valid_openai_function_specs():
    specs = tools.specs()
    assert {spec["function"]["name"] for spec in specs} >= {
        "calculator",
        "current_time",
        "search_conversations",
    }
    for spec in specs:
        assert spec["type"] == "function"
        function = spec["function"]
        assert re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", function["name"])
        assert function["description"]
        parameters = function["parameters"]
        assert parameters["type"] == "object"
        assert isinstance(parameters["properties"], dict)
        assert set(parameters["required"]) <= set(parameters["properties"])
        for schema in parameters["properties"].values():
            assert schema["type"] in {"string", "integer", "number", "boolean", "array", "object"}
            assert schema["description"]
        json.dumps(spec)  # sent as JSON


def test_calculator_spec_requires_its_expression():
    (spec,) = [s for s in tools.specs() if s["function"]["name"] == "calculator"]
    assert spec["function"]["parameters"]["required"] == ["expression"]
    assert spec["function"]["parameters"]["additionalProperties"] is False
