"""The tool loop through the real service and database, with the mock provider at the provider seam."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from chatapp import db
from chatapp.domain import (
    AnswerDelta,
    AnswerDone,
    AnswerStarted,
    ConversationReady,
    Message,
    PromptMessage,
    StatusEvent,
    ToolCall,
    ToolStep,
    ToolStepUpdate,
    TurnUpdate,
)
from chatapp.turns import request, tools
from chatapp.turns.turn import Turn

from .factories import conversation_of, fast_mock, make_turn, run_turn

QUESTION = "What is 6 times 7?"
SIX_TIMES_SEVEN = '{"expression": "6*7"}'


def timeline(updates: list[TurnUpdate]) -> list[str]:
    """The answer's updates as short labels, a run of text deltas as one "text". What follows the answer
    (a new conversation being named) is left to test_service."""
    labels: list[str] = []
    for update in updates:
        if isinstance(update, ConversationReady):
            label = "ready"
        elif isinstance(update, AnswerStarted):
            label = "started"
        elif isinstance(update, AnswerDelta):
            label = "text"
        elif isinstance(update, ToolStepUpdate):
            label = f"step {update.step.name} {update.step.status}"
        elif isinstance(update, StatusEvent):
            label = update.kind
        else:
            assert isinstance(update, AnswerDone)
            labels.append("done")
            break
        if not (label == "text" and labels[-1:] == ["text"]):
            labels.append(label)
    return labels


def shown_steps(updates: list[TurnUpdate]) -> list[ToolStep]:
    return [update.step for update in updates if isinstance(update, ToolStepUpdate)]


def streamed_text(updates: list[TurnUpdate]) -> str:
    return "".join(update.text for update in updates if isinstance(update, AnswerDelta))


@dataclass(frozen=True)
class Stored:
    answer: Message
    events: list[StatusEvent]


def stored(db_url: str, updates: list[TurnUpdate]) -> Stored:
    conversation_id = conversation_of(updates)
    with db.session_for(db_url) as session:
        messages = db.list_messages(session, conversation_id=conversation_id)
        events = db.list_events(session, conversation_id=conversation_id)
    assert [m.role for m in messages] == ["user", "assistant"]
    return Stored(messages[-1], events)


# --- a tool that runs well -------------------------------------------------------------------------


async def test_tool_call_runs_is_saved_and_its_result_goes_back_to_the_model(mock_settings):
    provider = fast_mock()
    provider.script(tool_calls=(("calculator", SIX_TIMES_SEVEN),))
    provider.script("Six times seven is 42.")

    updates = await run_turn(mock_settings, QUESTION, provider=provider)

    assert timeline(updates) == [
        "ready",
        "started",
        "request_sent",
        "usage",
        "step calculator running",
        "tool_started",
        "step calculator ok",
        "tool_finished",
        "request_sent",
        "text",
        "first_token",
        "text",
        "usage",
        "finished",
        "done",
    ]
    running, finished = shown_steps(updates)
    assert running.id == finished.id
    assert (running.status, running.result, running.duration_ms) == ("running", "", None)
    assert (finished.name, finished.arguments, finished.status, finished.result) == (
        "calculator",
        SIX_TIMES_SEVEN,
        "ok",
        "42",
    )
    # The model's second request carries its own tool call and the result, tied by the call's id.
    call = ToolCall(id="call_0_0", name="calculator", arguments=SIX_TIMES_SEVEN)
    assert provider.requests[-1][-2:] == [
        PromptMessage("assistant", "", tool_calls=(call,)),
        PromptMessage("tool", "42", tool_call_id="call_0_0"),
    ]
    assert provider.offered == [list(tools.REGISTRY)] * 2

    saved = stored(mock_settings.db_url, updates)
    answer = saved.answer
    assert (answer.status, answer.error) == ("complete", "")
    assert answer.content == streamed_text(updates) and answer.content.endswith("Six times seven is 42.")
    assert answer.steps == (finished,)  # what was shown is what was kept
    assert finished.call_id == "call_0_0" and finished.message_id == answer.id
    assert finished.duration_ms is not None and finished.duration_ms >= 0
    assert [e.kind for e in saved.events] == [
        "request_sent",
        "usage",
        "tool_started",
        "tool_finished",
        "request_sent",
        "first_token",
        "usage",
        "finished",
        "labelled",  # the new conversation was named after its first answer
    ]
    assert {e.message_id for e in saved.events} == {answer.id}
    tool_started, tool_finished = (e for e in saved.events if e.kind.startswith("tool_"))
    assert tool_started.detail == f"calculator {SIX_TIMES_SEVEN}"
    assert tool_finished.detail.startswith("calculator ok in ")
    assert answer.metrics.token_source == "reported"  # both requests reported their usage


# --- tools that fail: the model is told, the answer goes on ----------------------------------------


@pytest.mark.parametrize(
    ("name", "arguments", "result"),
    [
        ("calculator", '{"expression": "1/0"}', "Division by zero."),
        ("web_search", '{"query": "weather"}', "Unknown tool 'web_search'. Available tools: calculator"),
        ("calculator", '{"expression": "6*7"', "The arguments are not valid JSON"),
    ],
    ids=["tool_raises", "unknown_tool", "bad_json"],
)
async def test_failing_tool_call_becomes_an_error_step_the_model_sees(mock_settings, name, arguments, result):
    provider = fast_mock()
    provider.script(tool_calls=((name, arguments),))
    provider.script("Sorry, that did not work.")

    updates = await run_turn(mock_settings, QUESTION, provider=provider)

    assert [(s.name, s.status) for s in shown_steps(updates)] == [(name, "running"), (name, "error")]
    assert "tool_finished" in timeline(updates) and timeline(updates)[-2:] == ["finished", "done"]
    tool_result = provider.requests[-1][-1]
    assert tool_result.role == "tool" and tool_result.tool_call_id == "call_0_0"
    assert tool_result.content.startswith(f"Error: {result}")
    answer = stored(mock_settings.db_url, updates).answer
    assert (answer.status, answer.error) == ("complete", "")
    assert answer.content.endswith("Sorry, that did not work.")
    (step,) = answer.steps
    assert (step.name, step.arguments, step.status) == (name, arguments, "error")
    assert step.result.startswith(result)
    assert step.duration_ms is not None


async def test_a_tool_call_too_large_for_its_columns_is_stored_cut_and_answered_as_an_error(
    any_db_url, mock_settings
):
    # A model server may send anything: a 300-character name was an error from PostgreSQL, ending the turn.
    settings = mock_settings.model_copy(update={"db_url": any_db_url})
    provider = fast_mock()
    huge = '{"expression": "' + "1+" * 60_000 + '1"}'
    provider.script(tool_calls=(("n" * 300, "{}"), ("calculator", huge)))
    provider.script("Done.")

    updates = await run_turn(settings, QUESTION, provider=provider)

    answer = stored(any_db_url, updates).answer
    named, sized = answer.steps
    assert (len(named.name), named.status) == (128, "error")
    assert (len(sized.arguments), sized.status) == (100_000, "error")
    assert sized.result == "The arguments are longer than 100,000 characters."
    assert answer.status == "complete" and answer.content.endswith("Done.")


async def test_an_answer_that_would_not_end_is_cut_off_at_the_limit_and_saved(mock_settings, monkeypatch):
    monkeypatch.setattr(request, "MAX_ANSWER_CHARS", 40)
    provider = fast_mock()
    provider.script("word " * 100)

    updates = await run_turn(mock_settings, QUESTION, provider=provider)

    answer = stored(mock_settings.db_url, updates).answer
    assert (answer.status, answer.content) == ("error", ("word " * 8))
    assert answer.error == "The answer reached 40 characters, the most one may hold, and was cut off there."


# --- the round limit -------------------------------------------------------------------------------


async def test_past_the_round_limit_tools_are_withheld_and_the_model_answers_in_words(mock_settings):
    settings = mock_settings.model_copy(update={"max_tool_rounds": 2})
    provider = fast_mock()

    # The directive asks for a tool in each of 9 rounds: only the limit can end this answer.
    updates = await run_turn(settings, "/mock tool=calculator:6*7 rounds=9\nkeep going", provider=provider)

    assert len(provider.requests) == 3
    assert provider.offered == [list(tools.REGISTRY), list(tools.REGISTRY), []]
    assert [(s.name, s.status) for s in shown_steps(updates) if s.status != "running"] == [
        ("calculator", "ok"),
        ("calculator", "ok"),
    ]
    saved = stored(settings.db_url, updates)
    answer = saved.answer
    assert answer.status == "complete"
    assert answer.content == streamed_text(updates) and "keep going" in answer.content
    assert [(s.call_id, s.result) for s in answer.steps] == [("call_0_0", "42"), ("call_1_0", "42")]
    sent = [e.detail for e in saved.events if e.kind == "request_sent"]
    assert ["tools withheld" in detail for detail in sent] == [False, False, True]
    assert "round 3" in sent[-1]


async def test_provider_without_tool_support_is_offered_none(mock_settings):
    provider = fast_mock()
    provider.supports_tools = False  # as the local model is

    updates = await run_turn(mock_settings, "/mock tool=calculator:6*7\nhi", provider=provider)

    assert provider.offered == [[]]
    assert shown_steps(updates) == []
    answer = stored(mock_settings.db_url, updates).answer
    assert (answer.status, answer.steps) == ("complete", ())


# --- Stop while a tool runs ------------------------------------------------------------------------


@dataclass(frozen=True)
class SlowTool:
    started: threading.Event
    release: threading.Event


@pytest.fixture
def slow_tool(monkeypatch) -> Iterator[SlowTool]:
    """A registered tool that runs until released (or 10 s), far longer than a test waits."""
    slow = SlowTool(threading.Event(), threading.Event())

    def run_slowly(_context: tools.ToolContext, _arguments: dict) -> str:
        slow.started.set()
        slow.release.wait(10)
        return "too late"

    parameters = {"type": "object", "properties": {}, "required": []}
    registered = tools.Tool("slow", "Takes its time.", parameters, run_slowly, timeout_s=30)
    monkeypatch.setitem(tools.REGISTRY, "slow", registered)
    yield slow
    slow.release.set()


async def stop_once_the_tool_runs(turn: Turn, slow: SlowTool) -> tuple[list[TurnUpdate], float]:
    """Runs the turn, pressing Stop once the slow tool is running; returns the updates and Stop's delay."""
    updates: list[TurnUpdate] = []
    stopped_at = 0.0
    try:
        async with asyncio.timeout(5):
            async for update in turn.updates():
                updates.append(update)
                if isinstance(update, StatusEvent) and update.kind == "tool_started":
                    assert await asyncio.to_thread(slow.started.wait, 5)
                    stopped_at = time.perf_counter()
                    turn.stop()
        delay = time.perf_counter() - stopped_at
    finally:
        slow.release.set()  # the loop's teardown waits for worker threads, so let the tool end now
    assert stopped_at, "the tool never started"
    return updates, delay


async def test_stop_while_a_tool_runs_saves_the_answer_stopped_and_the_step_as_an_error(
    mock_settings, slow_tool
):
    provider = fast_mock()
    provider.script(tool_calls=(("slow", "{}"),))

    updates, delay = await stop_once_the_tool_runs(
        make_turn(mock_settings, QUESTION, provider=provider), slow_tool
    )

    assert delay < 1.0  # the tool would have run for 10 s more
    assert len(provider.requests) == 1
    assert "tool_finished" not in timeline(updates)
    assert timeline(updates)[-2:] == ["stopped", "done"]
    saved = stored(mock_settings.db_url, updates)
    answer = saved.answer
    assert (answer.status, answer.content, answer.error) == ("stopped", "", "")
    (step,) = answer.steps
    assert (step.name, step.status, step.result) == ("slow", "error", "Stopped before it finished.")
    assert saved.events[-1].kind == "stopped"


async def test_stop_while_a_tool_runs_shows_the_step_ended_in_the_live_view(mock_settings, slow_tool):
    provider = fast_mock()
    provider.script(tool_calls=(("slow", "{}"),))

    updates, _ = await stop_once_the_tool_runs(
        make_turn(mock_settings, QUESTION, provider=provider), slow_tool
    )

    # The chat draws steps from these updates; without a last one it shows the step running for good.
    assert shown_steps(updates)[-1].status == "error"


async def test_stop_as_soon_as_a_tool_step_appears_does_not_leave_it_running(mock_settings, slow_tool):
    provider = fast_mock()
    provider.script(tool_calls=(("slow", "{}"),))
    turn = make_turn(mock_settings, QUESTION, provider=provider)
    updates: list[TurnUpdate] = []

    try:
        async with asyncio.timeout(5):
            async for update in turn.updates():
                updates.append(update)
                if isinstance(update, ToolStepUpdate):
                    turn.stop()
    finally:
        slow_tool.release.set()

    answer = stored(mock_settings.db_url, updates).answer
    assert answer.status == "stopped"
    (step,) = answer.steps
    assert step.status == "error"
