"""The openai provider: the real openai SDK over real HTTP, against a scripted loopback server."""

from __future__ import annotations

import asyncio
import socket

import bpe_openai
import pytest

from chatapp import db
from chatapp.domain import (
    AnswerDelta,
    ChatOptions,
    PromptMessage,
    ProviderError,
    StatusEvent,
    TextDelta,
    ToolCall,
    ToolStepUpdate,
    TurnUpdate,
    UsageReport,
)
from chatapp.providers.openai import OpenAIProvider
from chatapp.turns import tools
from chatapp.web import views

from .factories import OWNER, conversation_of, final, make_turn, run_turn, saved
from .fakes.openai_server import SYSTEM_PROMPT, Reply, openai_settings

PROMPT = [PromptMessage("system", SYSTEM_PROMPT), PromptMessage("user", "What is the capital of France?")]


def assert_plain(message: str) -> None:
    """A sentence for a person: not the SDK's 'Error code: 429 - {...}' dump, not a traceback."""
    assert message
    assert "Traceback" not in message
    assert "Error code" not in message
    assert "{" not in message


# --- the provider on its own ---------------------------------------------------------------------


async def test_streamed_answer_arrives_in_pieces_and_usage_is_reported(server, provider):
    server.replies.append(Reply(pieces=("Paris ", "is the ", "capital."), usage=(31, 7)))

    events = [event async for event in provider.stream(PROMPT)]

    deltas = [event for event in events if isinstance(event, TextDelta)]
    assert [d.text for d in deltas] == ["Paris ", "is the ", "capital."]
    assert "".join(d.text for d in deltas) == "Paris is the capital."
    assert events[-1] == UsageReport(prompt_tokens=31, completion_tokens=7)
    (request,) = server.requests
    assert request["model"] == "gpt-4o-mini"
    assert request["stream"] is True
    assert request["stream_options"] == {"include_usage": True}
    assert request["messages"] == [{"role": m.role, "content": m.content} for m in PROMPT]


@pytest.mark.parametrize(
    ("status", "kind"), [(429, "rate_limit"), (500, "server"), (401, "auth")], ids=["429", "500", "401"]
)
async def test_http_error_before_the_first_token_is_a_plain_provider_error(server, provider, status, kind):
    server.replies.append(Reply(status=status))

    with pytest.raises(ProviderError) as caught:
        [event async for event in provider.stream(PROMPT)]

    assert caught.value.kind == kind
    assert_plain(caught.value.message)


async def test_nothing_listening_fails_fast_as_unreachable(db_url, monkeypatch):
    with socket.socket() as probe:  # a port that was free a moment ago and has no listener now
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    provider = OpenAIProvider(openai_settings(monkeypatch, f"http://127.0.0.1:{port}/v1"))

    with pytest.raises(ProviderError) as caught:
        [event async for event in provider.stream(PROMPT)]

    assert caught.value.kind == "unreachable"
    assert_plain(caught.value.message)


@pytest.mark.parametrize("ending", ["drop", "cut"])
async def test_answer_that_stops_early_is_interrupted_after_the_pieces_already_sent(server, provider, ending):
    # "drop" cuts the socket; "cut" ends the body cleanly though the answer never finished (a proxy, a crash).
    server.replies.append(Reply(pieces=("The answer ", "is "), ending=ending))
    received = []

    with pytest.raises(ProviderError) as caught:
        async for event in provider.stream(PROMPT):
            received.append(event)

    assert received == [TextDelta("The answer "), TextDelta("is ")]
    assert caught.value.kind == "interrupted"
    assert_plain(caught.value.message)


# --- through the service, to the database --------------------------------------------------------


async def test_answer_is_saved_complete_with_reported_tokens_and_a_cost(server, settings, db_url):
    server.replies.append(Reply(pieces=("Bon", "jour!"), usage=(1234, 56)))

    updates = await run_turn(settings, "Say hello in French")

    assert [u.text for u in updates if isinstance(u, AnswerDelta)] == ["Bon", "jour!"]
    user, answer = saved(db_url, updates)
    assert (user.role, user.content, user.status) == ("user", "Say hello in French", "complete")
    assert (answer.role, answer.content, answer.status) == ("assistant", "Bonjour!", "complete")
    assert answer.error == ""
    assert final(updates).message.id == answer.id
    metrics = answer.metrics
    assert (metrics.provider, metrics.model) == ("openai", "gpt-4o-mini")
    assert (metrics.prompt_tokens, metrics.completion_tokens, metrics.token_source) == (1234, 56, "reported")
    assert metrics.cost_usd is not None and metrics.cost_usd > 0


ANSWERS = {
    "German": "Im Frühling ist das Wetter in Lissabon mild. Für die Abende empfiehlt sich eine leichte "
    "Jacke, und bequeme Schuhe für die steilen Gassen der Altstadt.",
    "Chinese": "里斯本的春天气候温和，白天适合散步。晚上气温会下降，"
    "建议带一件薄外套，并穿舒适的鞋子走老城区的坡道。",
    "Hindi": "वसंत में लिस्बन का मौसम सुहावना रहता है। शाम को हल्की ठंड होती है, इसलिए एक हल्की जैकेट और पुराने "
    "शहर की ढलानों के लिए आरामदायक जूते साथ रखें।",
}


@pytest.mark.parametrize("language", ANSWERS)
async def test_a_gpt_4o_answer_is_estimated_as_its_server_counts_it_in_any_language(
    server, settings, db_url, language
):
    # The server reports usage counted with o200k_base by another implementation (bpe-openai's own).
    text = ANSWERS[language]
    completion = len(bpe_openai.get_encoding("o200k_base").encode(text))
    pieces = tuple(text[at : at + 3] for at in range(0, len(text), 3))
    server.replies.append(Reply(pieces=pieces, usage=(50, completion)))

    updates = await run_turn(settings, "Wie ist das Wetter im Frühling?")

    _user, answer = saved(db_url, updates)
    metrics = answer.metrics
    assert (metrics.encoding, metrics.token_source) == ("o200k_base", "reported")  # gpt-4o-mini's own
    assert metrics.estimated_completion_tokens == metrics.completion_tokens == completion
    assert views.metrics_view(metrics)["completion_off"] == "estimate exact"


async def test_follow_up_question_sends_the_system_prompt_and_the_history(server, settings):
    server.replies.extend([Reply(pieces=("Bonjour!",), usage=(20, 3)), Reply(pieces=("Au revoir!",))])

    first = await run_turn(settings, "Say hello in French")
    await run_turn(settings, "Now say goodbye", conversation_id=conversation_of(first))

    assert server.requests[1]["messages"] == [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": "Say hello in French"},
        {"role": "assistant", "content": "Bonjour!"},
        {"role": "user", "content": "Now say goodbye"},
    ]


async def test_dropped_connection_keeps_the_partial_answer_as_interrupted(server, settings, db_url):
    server.replies.append(Reply(pieces=("Once upon ", "a time"), ending="drop"))

    updates = await run_turn(settings, "Tell me a story")

    user, answer = saved(db_url, updates)
    assert (user.role, user.content) == ("user", "Tell me a story")
    assert (answer.status, answer.content) == ("interrupted", "Once upon a time")
    assert_plain(answer.error)
    assert final(updates).error == answer.error
    # No usage report came, so the counts are our own estimate of what was seen.
    assert answer.metrics.token_source == "estimated"
    assert answer.metrics.completion_tokens > 0


async def test_rate_limited_request_is_saved_as_an_error_with_a_plain_message(server, settings, db_url):
    server.replies.append(Reply(status=429))

    updates = await run_turn(settings, "Hello?")

    user, answer = saved(db_url, updates)
    assert (user.role, user.content) == ("user", "Hello?")
    assert (answer.status, answer.content) == ("error", "")
    assert_plain(answer.error)
    assert final(updates).error == answer.error


async def test_stop_ends_a_stalled_answer_at_once_and_keeps_the_partial_text(server, settings, db_url):
    server.replies.append(Reply(pieces=("Let me think",), ending="stall"))
    turn = make_turn(settings, "Hard one")
    updates: list[TurnUpdate] = []

    # The server holds the answer open for 30 s; only a Stop that cancels the request ends it within this.
    async with asyncio.timeout(5):
        async for update in turn.updates():
            updates.append(update)
            if isinstance(update, AnswerDelta):
                turn.stop()

    user, answer = saved(db_url, updates)
    assert (user.role, user.content) == ("user", "Hard one")
    assert (answer.status, answer.content, answer.error) == ("stopped", "Let me think", "")
    assert final(updates).message.id == answer.id


# --- provider faults: each ends as a saved answer that says what happened -----------------------

OVERLOADED = "The model server reported an error: The model is overloaded."


@pytest.mark.parametrize(
    ("reply", "status", "content", "error"),
    [
        (Reply(silent=True), "error", "", "The model server did not answer in time."),
        (Reply(pieces=("Half ",), ending="stall"), "interrupted", "Half ", "went silent mid-answer"),
        (Reply(ending="garbage"), "error", "", "a line that isn't a chunk of an answer"),
        (Reply(pieces=("Partly ",), ending="garbage"), "interrupted", "Partly ", "a line that isn't a chunk"),
        (Reply(ending="error"), "error", "", OVERLOADED),
        (Reply(pieces=("Some ",), ending="error"), "interrupted", "Some ", OVERLOADED),
    ],
    ids=[
        "no_first_byte",
        "stall_mid_answer",
        "garbage_first",
        "garbage_mid_answer",
        "error_first",
        "error_mid",
    ],
)
async def test_a_faulty_server_ends_the_answer_saved_with_what_went_wrong(
    server, db_url, monkeypatch, reply, status, content, error
):
    monkeypatch.setenv("CHATAPP_READ_TIMEOUT", "0.5")  # silence for this long is a failure
    settings = openai_settings(monkeypatch, server.base_url)
    server.replies.append(reply)

    async with asyncio.timeout(10):
        updates = await run_turn(settings, "Are you there?")

    _user, answer = saved(db_url, updates)
    assert (answer.status, answer.content) == (status, content)
    assert error in answer.error
    assert "Something went wrong" not in answer.error
    assert_plain(answer.error)
    assert final(updates).error == answer.error


async def test_a_chunk_with_no_choices_mid_stream_is_passed_over(server, settings, db_url):
    server.replies.append(Reply(pieces=("Still ", "here."), empty_chunk_after=1, usage=(12, 3)))

    updates = await run_turn(settings, "Keep going")

    _user, answer = saved(db_url, updates)
    assert (answer.status, answer.content, answer.metrics.completion_tokens) == ("complete", "Still here.", 3)


async def test_a_rate_limit_with_a_short_retry_after_is_waited_out_once_and_shown(server, settings, db_url):
    server.replies.extend([Reply(status=429, headers=(("Retry-After", "1"),)), Reply(pieces=("At last.",))])

    updates = await run_turn(settings, "Hello?")

    _user, answer = saved(db_url, updates)
    assert (answer.status, answer.content) == ("complete", "At last.")
    assert len(server.requests) == 2
    kinds = [(u.kind, u.detail) for u in updates if isinstance(u, StatusEvent)]
    assert ("retry", "rate limited · trying again in 1 s, as the server asked") in kinds
    assert [k for k, _ in kinds].index("retry") < [k for k, _ in kinds].index("first_token")
    # The wait was the server's, not the model's: the time to the first token leaves it out.
    assert answer.metrics.ttft_ms is not None and answer.metrics.ttft_ms < 1000


@pytest.mark.parametrize("retry_after", ["30", "soon", None], ids=["too_long", "not_seconds", "none"])
async def test_a_rate_limit_without_a_short_advised_wait_is_not_retried(
    server, settings, db_url, retry_after
):
    headers = (("Retry-After", retry_after),) if retry_after else ()
    server.replies.append(Reply(status=429, headers=headers))

    updates = await run_turn(settings, "Hello?")

    _user, answer = saved(db_url, updates)
    assert (answer.status, len(server.requests)) == ("error", 1)
    assert "rate limiting" in answer.error


async def test_a_second_rate_limit_in_a_row_is_not_waited_out_again(server, settings, db_url):
    limited = Reply(status=429, headers=(("Retry-After", "1"),))
    server.replies.extend([limited, limited, Reply(pieces=("Never sent.",))])

    updates = await run_turn(settings, "Hello?")

    _user, answer = saved(db_url, updates)
    assert (answer.status, len(server.requests)) == ("error", 2)  # retried once, not twice
    assert "rate limiting" in answer.error
    assert [u.kind for u in updates if isinstance(u, StatusEvent)].count("retry") == 1


async def test_a_rate_limit_after_the_first_token_is_not_retried(server, settings, db_url):
    # The first round wrote text and asked for a tool; the round after it is rate limited. A retry now
    # could repeat what the reader has already seen, so the answer ends there, its text kept.
    calculate = ("call_calc", "calculator", '{"expression": "2 + 2"}')
    server.replies.extend(
        [
            Reply(pieces=("Let me work it out. ",), calls=(calculate,)),
            Reply(status=429, headers=(("Retry-After", "1"),)),
            Reply(pieces=("Never sent.",)),
        ]
    )

    updates = await run_turn(settings, "What is 2 + 2?")

    _user, answer = saved(db_url, updates)
    assert (answer.status, len(server.requests)) == ("error", 2)
    assert answer.content.startswith("Let me work it out.")
    assert not any(isinstance(u, StatusEvent) and u.kind == "retry" for u in updates)


async def test_stop_while_waiting_out_a_rate_limit_ends_the_answer_at_once(server, settings, db_url):
    server.replies.append(Reply(status=429, headers=(("Retry-After", "10"),)))
    turn = make_turn(settings, "Hello?")
    updates: list[TurnUpdate] = []

    async with asyncio.timeout(5):
        async for update in turn.updates():
            updates.append(update)
            if isinstance(update, StatusEvent) and update.kind == "retry":
                turn.stop()

    _user, answer = saved(db_url, updates)
    assert (answer.status, answer.error, len(server.requests)) == ("stopped", "", 1)


# --- tool calls ----------------------------------------------------------------------------------

CALCULATE = ("call_calc", "calculator", '{"expression": "(2 + 3) * 7 / 4"}')
CLOCK = ("call_time", "current_time", '{"timezone": "Europe/Paris"}')
POWER = ("call_pow", "calculator", '{"expression": "2 ** 10"}')


@pytest.mark.parametrize("interleave", [False, True], ids=["one_after_the_other", "interleaved"])
async def test_parallel_tool_calls_streamed_in_pieces_arrive_whole(server, provider, interleave):
    server.replies.append(Reply(calls=(CALCULATE, CLOCK), usage=(80, 30), interleave=interleave))

    events = [event async for event in provider.stream(PROMPT, tools.specs())]

    assert events == [ToolCall(*CALCULATE), ToolCall(*CLOCK), UsageReport(80, 30)]
    # The server really sent them in pieces: each call's id in its first delta only, many deltas in all.
    deltas = server.tool_call_deltas
    assert len(deltas) > 10
    assert [(d["index"], d["id"]) for d in deltas if "id" in d] == [(0, "call_calc"), (1, "call_time")]
    (request,) = server.requests
    assert request["tools"] == tools.specs()


@pytest.mark.parametrize("ending", ["drop", "cut"])
async def test_tool_call_cut_off_mid_stream_is_never_yielded(server, provider, ending):
    server.replies.append(Reply(calls=(CALCULATE,), ending=ending))
    received = []

    with pytest.raises(ProviderError) as caught:
        async for event in provider.stream(PROMPT, tools.specs()):
            received.append(event)

    assert received == []  # a call whose end never came may be missing arguments: it must not run
    assert caught.value.kind == "interrupted"


def shown_steps(updates: list[TurnUpdate]) -> list[tuple[str, str]]:
    return [(u.step.name, u.step.status) for u in updates if isinstance(u, ToolStepUpdate)]


async def test_tool_round_is_sent_back_as_the_assistant_tool_calls_and_their_results(server, settings):
    server.replies.extend(
        [Reply(calls=(CALCULATE, POWER), interleave=True), Reply(pieces=("8.75 and 1024.",))]
    )

    await run_turn(settings, "Work these out")

    first, second = server.requests
    assert first["tools"] == second["tools"] == tools.specs()
    assert second["messages"][:2] == first["messages"]
    assert second["messages"][2:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
                for call_id, name, arguments in (CALCULATE, POWER)
            ],
        },
        {"role": "tool", "tool_call_id": "call_calc", "content": "35/4 ≈ 8.75"},
        {"role": "tool", "tool_call_id": "call_pow", "content": "1024"},
    ]


async def test_tool_answer_is_saved_with_its_step_and_the_usage_of_both_requests(server, settings, db_url):
    call = ("call_abc", "calculator", '{"expression": "6*7"}')
    server.replies.extend(
        [Reply(calls=(call,), usage=(100, 20)), Reply(pieces=("6 × 7 ", "= 42."), usage=(150, 9))]
    )

    updates = await run_turn(settings, "What is 6 times 7?")

    assert shown_steps(updates) == [("calculator", "running"), ("calculator", "ok")]
    assert [u.text for u in updates if isinstance(u, AnswerDelta)] == ["6 × 7 ", "= 42."]
    user, answer = saved(db_url, updates)
    assert (answer.content, answer.status, answer.error) == ("6 × 7 = 42.", "complete", "")
    (step,) = answer.steps
    assert (step.call_id, step.name, step.arguments) == call
    assert (step.status, step.result) == ("ok", "42")
    assert step.duration_ms is not None
    metrics = answer.metrics
    assert (metrics.prompt_tokens, metrics.completion_tokens, metrics.token_source) == (250, 29, "reported")
    assert metrics.cost_usd is not None and metrics.cost_usd > 0
    with db.session_for(db_url) as session:
        events = db.list_events(session, conversation_id=answer.conversation_id)
    assert [e.detail for e in events if e.kind == "usage"] == ["100 + 20 tokens", "150 + 9 tokens"]


async def test_unknown_tool_from_the_server_becomes_an_error_step_the_model_sees(server, settings, db_url):
    server.replies.extend(
        [
            Reply(calls=(("call_web", "web_search", '{"query": "weather in Paris"}'),)),
            Reply(pieces=("I cannot search the web.",)),
        ]
    )

    updates = await run_turn(settings, "Weather in Paris?")

    assert shown_steps(updates) == [("web_search", "running"), ("web_search", "error")]
    tool_message = server.requests[1]["messages"][-1]
    assert tool_message["role"] == "tool" and tool_message["tool_call_id"] == "call_web"
    assert tool_message["content"].startswith("Error: Unknown tool 'web_search'.")
    user, answer = saved(db_url, updates)
    assert (answer.content, answer.status) == ("I cannot search the web.", "complete")
    (step,) = answer.steps
    assert (step.name, step.status) == ("web_search", "error")
    assert step.result.startswith("Unknown tool 'web_search'. Available tools: calculator")


async def test_tool_arguments_that_are_not_json_become_an_error_step_the_model_sees(server, settings, db_url):
    # Streamed in pieces like any call, but cut short: the model wrote half an object.
    server.replies.extend(
        [
            Reply(calls=(("call_half", "calculator", '{"expression": "2 +'),)),
            Reply(pieces=("Let me redo that.",)),
        ]
    )

    updates = await run_turn(settings, "2 + 2?")

    assert shown_steps(updates) == [("calculator", "running"), ("calculator", "error")]
    tool_message = server.requests[1]["messages"][-1]
    assert tool_message["content"].startswith("Error: The arguments are not valid JSON")
    _user, answer = saved(db_url, updates)
    assert (answer.status, answer.steps[0].arguments) == ("complete", '{"expression": "2 +')


async def test_tool_calls_past_the_round_limit_are_not_run(server, settings, db_url):
    # A server that asks for tools even when none were offered: only the round limit stands in its way.
    server.replies.extend([Reply(calls=(POWER,)), Reply(calls=(CALCULATE,))])

    updates = await run_turn(settings.model_copy(update={"max_tool_rounds": 1}), "Keep calculating")

    assert "tools" not in server.requests[1]
    user, answer = saved(db_url, updates)
    assert [step.call_id for step in answer.steps] == ["call_pow"]
    # Not an empty answer passed off as complete: the user is told why there is none.
    assert (answer.content, answer.status) == ("", "error")
    assert_plain(answer.error)


async def test_conversation_settings_go_out_as_the_request_parameters(server, provider):
    server.replies.append(Reply(pieces=("Ahoy",)))

    options = ChatOptions(model="gpt-4o", temperature=0.2, max_tokens=64)
    [event async for event in provider.stream(PROMPT, (), options)]

    (request,) = server.requests
    assert (request["model"], request["temperature"], request["max_tokens"]) == ("gpt-4o", 0.2, 64)


async def test_default_settings_leave_the_servers_own_defaults(server, provider):
    server.replies.append(Reply(pieces=("Paris",)))

    [event async for event in provider.stream(PROMPT)]

    (request,) = server.requests
    assert "temperature" not in request and "max_tokens" not in request


async def test_models_are_listed_from_the_server_with_the_configured_one_first(server, provider):
    server.models = ["o3-mini", "gpt-4o", "gpt-4o-mini"]

    assert await provider.list_models() == ["gpt-4o-mini", "gpt-4o", "o3-mini"]


async def test_a_server_that_cannot_list_models_says_so_plainly(server, provider):
    server.models_status = 404

    with pytest.raises(ProviderError) as caught:
        await provider.list_models()

    assert_plain(caught.value.message)


async def test_a_new_conversation_is_named_through_the_same_server(server, settings, db_url):
    server.replies.append(Reply(pieces=("Bonjour!",)))
    server.one_shot_reply = Reply(
        pieces=(
            "Title: Hello in ",
            "French\nCategory: Other",
        )
    )

    updates = await run_turn(settings, "How do I say hello in French?")

    (label_request,) = server.one_shot_requests
    assert (label_request["temperature"], label_request["max_tokens"]) == (0.0, 24)
    assert "tools" not in label_request and "stream" not in label_request
    with db.session_for(db_url) as session:
        named = db.get_conversation(session, owner=OWNER, conversation_id=conversation_of(updates))
    assert named.title == "Hello in French"
