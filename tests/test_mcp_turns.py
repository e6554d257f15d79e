"""MCP tools in a whole turn, against the real test server (tests/fakes/mcp_testbox.py), the real service and
database, and the mock provider or the real openai SDK with the local test server: a call and its result, the
server named on its step and in its events, approval (allow, always, deny, Stop while waiting, nobody
answering), a timeout, a server that dies mid-call and comes back, servers switched off per conversation, and
the settings dialog that switches them."""

from __future__ import annotations

import asyncio
import json

import pytest

from chatapp import db
from chatapp.domain import (
    ChatOptions,
    StatusEvent,
    ToolStep,
    ToolStepUpdate,
    TurnUpdate,
)
from chatapp.mcp_servers import connection as mcp_connection
from chatapp.mcp_servers.hub import McpHub, hub
from chatapp.turns import tool_step, tools
from chatapp.turns.memory import MemoryJobRegistry
from chatapp.turns.redis import RedisJobRegistry
from chatapp.turns.turn import Turn
from chatapp.web import views
from chatapp.web.state.conversation import ConversationState
from chatapp.web.state.settings import SettingsState

from .factories import (
    OWNER,
    SOMEONE_ELSE,
    conversation_of,
    fast_mock,
    final,
    make_turn,
    run_turn,
    saved,
    until,
)
from .fakes.openai_server import Reply
from .reflex_harness import open_tab

DELETE = "/mock tool=testbox__delete_file:/tmp/report.txt\nClean up, please."


async def answer_each_wait(turn: Turn, decision: str | None) -> list[TurnUpdate]:
    """Runs the turn; each step that waits for approval gets `decision` (None: the turn is stopped)."""
    updates: list[TurnUpdate] = []
    async with asyncio.timeout(30):
        async for update in turn.updates():
            updates.append(update)
            if isinstance(update, ToolStepUpdate) and update.step.status == "waiting":
                if decision is None:
                    turn.stop()
                else:
                    assert turn.decide(update.step.id, decision)  # type: ignore[arg-type]
    return updates


def steps(updates: list[TurnUpdate]) -> list[tuple[str, str, str]]:
    return [(u.step.server, u.step.name, u.step.status) for u in updates if isinstance(u, ToolStepUpdate)]


def events(updates: list[TurnUpdate]) -> list[str]:
    return [f"{u.kind}: {u.detail}" for u in updates if isinstance(u, StatusEvent)]


def saved_step(db_url: str, updates: list[TurnUpdate]) -> ToolStep:
    (step,) = saved(db_url, updates)[-1].steps
    return step


# --- calls that need no approval ---------------------------------------------------------------------


async def test_a_server_over_streamable_http_runs_a_tool_in_a_turn(mcp_servers, http_testbox, mock_settings):
    mcp_servers(url=http_testbox, approve="never")
    hub.cache_clear()
    box = hub()
    box.start()
    try:
        await until(lambda: box.connections["testbox"].status == "connected")
        updates = await answer_each_wait(
            make_turn(mock_settings, '/mock tool=testbox__add:{"a":2,"b":40}\nAdd them'), None
        )
    finally:
        await box.stop()
        hub.cache_clear()

    assert steps(updates)[-1] == ("testbox", "testbox__add", "ok")
    assert saved_step(mock_settings.db_url, updates).result == "42"


async def test_a_read_only_tool_runs_at_once_and_its_step_and_events_name_the_server(
    mock_settings, connected
):
    provider = fast_mock()

    updates = await answer_each_wait(
        make_turn(mock_settings, "/mock tool=testbox__echo:hello\nSay it back", provider=provider), "deny"
    )

    assert steps(updates) == [("testbox", "testbox__echo", "running"), ("testbox", "testbox__echo", "ok")]
    assert "tool_started: testbox › echo" in " | ".join(events(updates))
    assert any(e.startswith("tool_finished: testbox › echo ok in") for e in events(updates))
    assert provider.requests[-1][-1].content == "echo: hello"  # the result went back to the model
    assert "testbox__echo" in provider.offered[0] and "testbox__delete_file" in provider.offered[0]
    step = saved_step(mock_settings.db_url, updates)
    assert (step.server, step.status, step.result) == ("testbox", "ok", "echo: hello")
    assert views.step_view(step)["name"] == "echo"  # shown under its own name, beside its server
    assert final(updates).message.status == "complete"


async def test_a_server_with_approve_never_runs_even_a_destructive_tool_at_once(mcp_servers, mock_settings):
    mcp_servers(approve="never")
    hub.cache_clear()
    box = hub()
    box.start()
    try:
        await until(lambda: box.connections["testbox"].status == "connected")
        updates = await answer_each_wait(make_turn(mock_settings, DELETE), None)
    finally:
        await box.stop()
        hub.cache_clear()

    assert steps(updates)[-1] == ("testbox", "testbox__delete_file", "ok")


# --- approval ----------------------------------------------------------------------------------------


class SteppedClock:
    """A clock the test moves: the approval wait takes a minute and a half of it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        self.now += 0.001
        return self.now


async def test_a_tool_that_acts_waits_for_allow_then_runs_and_the_wait_is_not_model_time(
    mock_settings, connected
):
    clock = SteppedClock()
    turn = make_turn(mock_settings, DELETE, clock=clock)
    updates: list[TurnUpdate] = []
    async with asyncio.timeout(30):
        async for update in turn.updates():
            updates.append(update)
            if isinstance(update, ToolStepUpdate) and update.step.status == "waiting":
                clock.now += 90  # the user reads the arguments for a while
                assert not turn.decide("no-such-step", "allow")
                assert not turn.decide(update.step.id, "yes please")  # type: ignore[arg-type]
                assert turn.decide(update.step.id, "allow")
                assert not turn.decide(update.step.id, "deny")  # decided once

    assert steps(updates) == [
        ("testbox", "testbox__delete_file", "waiting"),
        ("testbox", "testbox__delete_file", "running"),
        ("testbox", "testbox__delete_file", "ok"),
    ]
    assert "tool_waiting: testbox › delete_file waits for your approval" in events(updates)
    answer = final(updates).message
    assert answer.status == "complete" and "would delete /tmp/report.txt" in answer.content
    assert answer.metrics.duration_ms is not None and answer.metrics.duration_ms < 10_000
    assert saved_step(mock_settings.db_url, updates).status == "ok"


async def test_deny_is_a_result_the_model_reads_and_the_step_is_kept_as_declined(mock_settings, connected):
    provider = fast_mock()

    updates = await answer_each_wait(make_turn(mock_settings, DELETE, provider=provider), "deny")

    assert steps(updates)[-1] == ("testbox", "testbox__delete_file", "denied")
    assert provider.requests[-1][-1].content == tool_step.DECLINED
    step = saved_step(mock_settings.db_url, updates)
    assert (step.status, step.result) == ("denied", tool_step.DECLINED)
    assert final(updates).message.status == "complete"
    assert any(e.startswith("tool_finished: testbox › delete_file not run") for e in events(updates))


async def test_always_lets_the_tool_run_without_asking_for_the_rest_of_the_conversation(
    mock_settings, connected
):
    first = await answer_each_wait(make_turn(mock_settings, DELETE), "always")
    conversation_id = conversation_of(first)
    second = await answer_each_wait(make_turn(mock_settings, DELETE, conversation_id=conversation_id), None)
    elsewhere = await answer_each_wait(make_turn(mock_settings, DELETE), "deny")

    assert [status for *_, status in steps(first)] == ["waiting", "running", "ok"]
    assert [status for *_, status in steps(second)] == ["running", "ok"]  # not asked again
    assert [status for *_, status in steps(elsewhere)] == ["waiting", "denied"]  # another conversation asks
    with db.session_for(mock_settings.db_url) as session:
        chat = db.get_conversation(session, owner=OWNER, conversation_id=conversation_id)
    assert chat is not None and chat.options.tools_allowed == ("testbox__delete_file",)


async def test_stop_while_a_call_waits_ends_the_answer_cleanly(mock_settings, connected):
    updates = await answer_each_wait(make_turn(mock_settings, DELETE), None)

    answer = final(updates).message
    assert answer is not None and answer.status == "stopped"
    step = saved_step(mock_settings.db_url, updates)
    assert (step.status, step.result) == ("error", "Stopped while it waited for approval.")


async def test_a_call_nobody_answers_is_not_run_and_the_model_hears_why(
    mock_settings, connected, monkeypatch
):
    monkeypatch.setattr(tool_step, "APPROVAL_TIMEOUT_S", 0.2)
    provider = fast_mock()

    updates = await run_turn(mock_settings, DELETE, provider=provider)

    assert steps(updates)[-1] == ("testbox", "testbox__delete_file", "error")  # not run, but not declined
    assert provider.requests[-1][-1].content == tool_step.UNANSWERED
    assert final(updates).message.status == "complete"


@pytest.mark.parametrize("back_end", ["memory", "redis"])
async def test_a_decision_reaches_the_job_from_any_worker_and_only_from_its_owner(
    mock_settings, connected, back_end, request
):
    if back_end == "memory":
        runs = elsewhere = MemoryJobRegistry(3)
    else:
        url = request.getfixturevalue("redis_url")
        runs, elsewhere = RedisJobRegistry(url, 3), RedisJobRegistry(url, 3)  # two workers
    try:
        job = await runs.start(make_turn(mock_settings, DELETE))
        followed = runs.follow(job.id, OWNER)
        waiting = None
        async with asyncio.timeout(30):
            async for update in followed:
                if isinstance(update, ToolStepUpdate) and update.step.status == "waiting":
                    waiting = update.step
                    break
            assert waiting is not None
            assert not await elsewhere.decide(job.id, SOMEONE_ELSE, waiting.id, "allow")
            assert await elsewhere.decide(job.id, OWNER, waiting.id, "allow")
            rest = [u async for u in followed]
    finally:
        for registry in {runs, elsewhere}:
            if isinstance(registry, RedisJobRegistry):
                await registry.close()

    assert steps(rest)[-1] == ("testbox", "testbox__delete_file", "ok")
    assert final(rest).message.status == "complete"


async def test_the_control_channel_passes_over_what_isnt_a_control_and_goes_on(
    mock_settings, connected, redis_url
):
    import redis as sync_redis

    runs, elsewhere = RedisJobRegistry(redis_url, 3), RedisJobRegistry(redis_url, 3)
    try:
        job = await runs.start(make_turn(mock_settings, DELETE))
        followed = runs.follow(job.id, OWNER)
        async with asyncio.timeout(30):
            async for update in followed:
                if isinstance(update, ToolStepUpdate) and update.step.status == "waiting":
                    break
            publisher = sync_redis.Redis.from_url(redis_url)
            for junk in ("not json", "[1, 2]", '{"job": 5}', json.dumps({"job": job.id, "decision": "yes"})):
                publisher.publish("chatapp:control", junk)
            assert await elsewhere.decide(job.id, OWNER, update.step.id, "deny")
            rest = [u async for u in followed]
    finally:
        await runs.close()
        await elsewhere.close()

    assert steps(rest)[-1] == ("testbox", "testbox__delete_file", "denied")  # heard after the junk


async def test_a_call_allowed_after_its_server_went_away_is_not_run(mock_settings, connected):
    turn = make_turn(mock_settings, DELETE)
    updates: list[TurnUpdate] = []
    async with asyncio.timeout(30):
        async for update in turn.updates():
            updates.append(update)
            if isinstance(update, ToolStepUpdate) and update.step.status == "waiting":
                await connected.stop()  # the server is gone while the user reads the arguments
                connected.connections["testbox"].tools = ()
                assert turn.decide(update.step.id, "allow")

    step = saved_step(mock_settings.db_url, updates)
    assert (step.status, step.result) == (
        "error",
        "The MCP server 'testbox' went away while the call waited for approval.",
    )


# --- faults ------------------------------------------------------------------------------------------


async def test_a_call_past_the_servers_timeout_is_a_tool_error_the_model_sees(mcp_servers, mock_settings):
    mcp_servers(timeout_s=0.3)
    hub.cache_clear()
    box = hub()
    box.start()
    provider = fast_mock()
    try:
        await until(lambda: box.connections["testbox"].status == "connected")
        updates = await answer_each_wait(
            make_turn(
                mock_settings, '/mock tool=testbox__slow:{"seconds":5}\nTake your time', provider=provider
            ),
            "allow",
        )
    finally:
        await box.stop()
        hub.cache_clear()

    assert steps(updates)[-1] == ("testbox", "testbox__slow", "error")
    assert "took longer than 0.3 s" in provider.requests[-1][-1].content
    assert final(updates).message.status == "complete"


async def test_a_server_that_dies_mid_call_is_a_tool_error_then_it_comes_back(
    mock_settings, connected, monkeypatch
):
    monkeypatch.setattr(mcp_connection, "BACKOFF_S", (0.2,))
    provider = fast_mock()

    died = await answer_each_wait(
        make_turn(mock_settings, "/mock tool=testbox__die:now\nGo", provider=provider), "allow"
    )
    told = provider.requests[-1][-1].content
    connection = connected.connections["testbox"]
    assert connection.status == "reconnecting"  # no call goes to the dead process meanwhile
    await until(lambda: connection.status == "connected" and connection.tools != ())
    back = await answer_each_wait(
        make_turn(mock_settings, '/mock tool=testbox__add:{"a":20,"b":22}\nAdd', provider=provider), "allow"
    )

    assert steps(died)[-1] == ("testbox", "testbox__die", "error")
    assert "failed during the call" in told
    assert final(died).message.status == "complete"
    assert steps(back)[-1] == ("testbox", "testbox__add", "ok")
    assert provider.requests[-1][-1].content == "42"  # the server runs tools again


async def test_a_server_switched_off_for_a_conversation_offers_none_of_its_tools(mock_settings, connected):
    provider = fast_mock()
    options = ChatOptions(servers_off=("testbox",))

    updates = await answer_each_wait(
        make_turn(mock_settings, "/mock tool=testbox__echo:hi\nSay hi", provider=provider, options=options),
        "allow",
    )

    assert not any(name.startswith("testbox__") for name in provider.offered[0])
    assert "calculator" in provider.offered[0]
    # A model that calls it anyway (the mock does what its directive says) is told it doesn't exist here.
    assert steps(updates)[-1] == ("", "testbox__echo", "error")
    assert "Unknown tool 'testbox__echo'" in provider.requests[-1][-1].content


def test_a_bad_config_file_is_shown_in_the_monitor_and_the_built_in_tools_stay(tmp_path):
    bad = tmp_path / "mcp.json"
    bad.write_text('{"mcpServers": {"files": {"command": "x", "url": "http://127.0.0.1:9/mcp"}}}')
    from chatapp.mcp_servers.config import load

    box = McpHub(load(str(bad)))
    groups = views.tool_groups(list(tools.REGISTRY), box.problem, box.statuses())

    assert groups[0]["server"] == "Built-in" and "calculator" in groups[0]["tools"]
    assert groups[1]["status"] == "not read" and 'give either "command"' in groups[1]["problem"]


# --- through the real openai SDK ---------------------------------------------------------------------


async def test_a_model_server_calling_an_mcp_tool_in_pieces_waits_for_approval_then_gets_the_result(
    server, settings, connected
):
    call = ("call_rm", "testbox__delete_file", '{"path": "/srv/old-logs"}')
    server.replies.extend([Reply(calls=(call,), argument_chars=3), Reply(pieces=("Done: ", "it is gone."))])

    turn = make_turn(settings, "Remove the old logs")
    updates = await answer_each_wait(turn, "allow")

    assert steps(updates)[-1] == ("testbox", "testbox__delete_file", "ok")
    first, second = server.requests
    offered = [spec["function"]["name"] for spec in first["tools"]]
    assert "testbox__delete_file" in offered and "testbox__echo" in offered
    delete_spec = next(s for s in first["tools"] if s["function"]["name"] == "testbox__delete_file")
    assert delete_spec["function"]["parameters"]["required"] == ["path"]  # the server's schema, as given
    assert second["messages"][-1] == {
        "role": "tool",
        "tool_call_id": "call_rm",
        "content": "would delete /srv/old-logs",
    }
    assert final(updates).message.content == "Done: it is gone."


async def test_a_model_server_told_no_reads_the_refusal_and_answers(server, settings, connected):
    call = ("call_rm", "testbox__delete_file", '{"path": "/"}')
    server.replies.extend([Reply(calls=(call,)), Reply(pieces=("Understood, ", "nothing deleted."))])

    turn = make_turn(settings, "Delete everything")
    updates = await answer_each_wait(turn, "deny")

    assert server.requests[1]["messages"][-1]["content"] == tool_step.DECLINED
    assert final(updates).message.status == "complete"
    assert saved_step(settings.db_url, updates).status == "denied"


# --- the conversation's settings ---------------------------------------------------------------------


async def test_the_settings_dialog_switches_a_server_off_and_unticks_an_allowed_tool(
    mock_settings, connected
):
    async with open_tab() as tab:
        await tab.send(ConversationState.on_load)
        await tab.send(ConversationState.user_message({"message": "/mock tokens=3 latency=0\nHello"}))
        chat = (await tab.state()).conversation_id
        owner = (await tab.state()).owner
        for tool in ("testbox__delete_file", "testbox__echo"):
            with db.session_for(mock_settings.db_url) as session:
                db.allow_tool(session, owner=owner, conversation_id=chat, tool=tool)
        await tab.send(SettingsState.open_settings(True))
        shown = await tab.state(SettingsState)
        listed = (list(shown.servers), list(shown.allowed_tools))
        # testbox left unticked, so left out of the form; only testbox__echo still ticked.
        await tab.send(SettingsState.save_settings({"model": "", "allowed:testbox__echo": "on"}))
        await tab.send(SettingsState.open_settings(True))
        reopened = await tab.state(SettingsState)

    assert listed == (
        [{"name": "testbox", "on": "on"}],
        ["testbox__delete_file", "testbox__echo"],
    )
    with db.session_for(mock_settings.db_url) as session:
        stored = db.get_conversation(session, owner=owner, conversation_id=chat)
    assert stored is not None
    assert (stored.options.servers_off, stored.options.tools_allowed) == (("testbox",), ("testbox__echo",))
    assert reopened.servers == [{"name": "testbox", "on": ""}]
