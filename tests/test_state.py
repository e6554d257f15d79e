"""The tab's states run by Reflex's real event processing: what a browser gets while a turn streams."""

from __future__ import annotations

import time

import pytest
import redis
from reflex.istate.manager.token import BaseStateToken

from chatapp import db
from chatapp.accounts import owners
from chatapp.config import get_settings
from chatapp.domain import ConversationDraft, MessageDraft
from chatapp.metering import tokens
from chatapp.providers.mock import word_tokens
from chatapp.turns import jobs
from chatapp.turns.redis import RedisJobRegistry
from chatapp.web.state import paging
from chatapp.web.state.conversation import ConversationState
from chatapp.web.state.monitor import MonitorState
from chatapp.web.state.settings import SettingsState
from chatapp.web.state.sidebar import HISTORY_PAGE, SidebarState

from .factories import until
from .reflex_harness import feed_ops, open_tab, open_tabs, shown_messages, streamed_text, var

HISTORY_MARKER = "EARLIER-EXCHANGE"


def numbered(count: int) -> str:
    return " ".join(f"word{i}" for i in range(1, count + 1))


async def _send(tab, text: str):
    return await tab.send(ConversationState.user_message({"message": text}))


def given_back(tab, start: int = 0) -> list[str]:
    """Text put back into the message box (the browser empties it as it sends) since update `start`."""
    return [
        event.payload["value"]
        for update in tab.updates[start:]
        for event in update.events
        if event.name.endswith("_set_value") and event.payload.get("ref") == "ref_chat_input"
    ]


async def _new_tab_with_history(tab, exchanges: int) -> None:
    await tab.send(ConversationState.on_load)
    for i in range(exchanges):
        await _send(tab, f"/mock tokens=20 latency=0\n{HISTORY_MARKER} {i} " + "lorem ipsum " * 20)


async def test_answer_streams_as_new_text_only_and_never_resends_history(mock_settings):
    async with open_tab() as tab:
        await _new_tab_with_history(tab, exchanges=10)
        deltas = await _send(tab, "/mock tokens=300 rate=300 latency=0\nand now a long one")

    assert streamed_text(deltas) == numbered(300)
    assert not any(HISTORY_MARKER in repr(delta) for delta in deltas)
    # Every flush carries pieces of text, never the answer so far.
    appended = [op[1] for op in feed_ops(deltas) if op[0] == "+"]
    assert len(appended) > 1
    assert all(len(piece) < len(numbered(300)) / 3 for piece in appended)


async def test_answer_wire_bytes_do_not_grow_with_conversation_length(mock_settings):
    async with open_tab() as short_tab:
        await _new_tab_with_history(short_tab, exchanges=0)
        start = len(short_tab.updates)
        await _send(short_tab, "/mock tokens=200 rate=4000 latency=0\nshort history")
        short_bytes = short_tab.wire_bytes(start)
    async with open_tab() as long_tab:
        await _new_tab_with_history(long_tab, exchanges=10)
        start = len(long_tab.updates)
        await _send(long_tab, "/mock tokens=200 rate=4000 latency=0\nlong history")
        long_bytes = long_tab.wire_bytes(start)

    # The new conversation's first turn also sends its sidebar row; beyond that, history costs nothing.
    assert long_bytes < short_bytes * 1.25
    assert long_bytes / 200 < 60


async def test_a_streaming_answer_touches_only_the_conversation_and_the_monitor(mock_settings):
    # With Redis, every flush loads and saves the substates it touches: the sidebar and the settings stay put.
    async with open_tab() as tab:
        await _new_tab_with_history(tab, exchanges=1)
        start = len(tab.updates)
        await _send(tab, "/mock tokens=200 rate=400 latency=0\nthe second answer")
        touched = [set(update.delta) for update in tab.updates[start:]]

    streaming = {ConversationState.get_full_name(), MonitorState.get_full_name()}
    assert len(touched) > 5 and all(names <= streaming for names in touched)
    assert any(names == {ConversationState.get_full_name()} for names in touched)  # text alone, most often


async def test_finished_answer_is_marked_complete_with_its_numbers(mock_settings):
    async with open_tab() as tab:
        await tab.send(ConversationState.on_load)
        deltas = await _send(tab, "/mock tokens=12 latency=0\nhello")
        state = await tab.state()
        monitor = await tab.state(MonitorState)

    updates = [op for op in feed_ops(deltas) if op[0] == "u"]
    assert updates and updates[-1][2]["status"] == "complete"
    expected = tokens.count(numbered(12), tokens.encoding_for("mock-1"))
    assert f"{expected} tokens" in updates[-1][2]["summary"]
    assert state.status == "done"
    assert monitor.answer["completion_reported"] == monitor.answer["completion_estimated"] == str(expected)
    assert monitor.answer["ttft"].endswith("ms")
    assert [record.model for record in monitor._session_records] == ["mock-1"]


async def test_first_message_titles_the_conversation_and_lists_it(mock_settings):
    async with open_tab() as tab:
        await tab.send(ConversationState.on_load)
        deltas = await _send(tab, "Could you plan a travel weekend in Lisbon?\nWe have kids")
        state = await tab.state()
        sidebar = await tab.state(SidebarState)

    # The first message titles it at once; after the answer, the model's suggestion (scripted by the mock
    # from the message) replaces that title and files the conversation.
    titles = [d[var("title")] for d in deltas if var("title") in d]
    assert titles == [
        "Could you plan a travel weekend in Lisbon? We have kids",
        "Plan a travel weekend in Lisbon",
    ]
    assert state.title == "Plan a travel weekend in Lisbon"
    assert sidebar.category_names[state.category_id] == "Travel"  # the header's badge
    assert [c["name"] for c in sidebar.categories] == ["Travel"]
    assert [row["title"] for row in sidebar.history] == [state.title]
    assert sidebar.history[0]["heading"] == "Today"


async def test_a_title_the_user_gave_first_is_not_replaced_by_a_suggestion(mock_settings):
    async with open_tab() as tab:
        await tab.send(ConversationState.on_load)
        future = await tab.start(
            ConversationState.user_message(
                {"message": "/mock tokens=40 rate=100\nCould you sketch weekend plans?"}
            )
        )
        await tab.wait_for(lambda: any(op[0] == "+" for op in feed_ops(tab.deltas())))  # it streams
        conversation_id = (await tab.state()).conversation_id
        form = {"id": conversation_id, "title": "Mine"}
        await tab.send(SidebarState.rename_chat(form))
        await tab.send(ConversationState.refresh_header(form))  # chained with it in the UI
        await future.wait_all()
        state = await tab.state()
        sidebar = await tab.state(SidebarState)

    assert state.title == "Mine"
    assert [row["title"] for row in sidebar.history] == ["Mine"]


async def test_titles_categories_and_settings_past_their_limits_are_cut_or_refused(mock_settings):
    async with open_tab() as tab:
        await tab.send(ConversationState.on_load)
        await _send(tab, "/mock tokens=3 latency=0\nA short question")
        chat = (await tab.state()).conversation_id
        await tab.send(SidebarState.rename_chat({"id": chat, "title": "t" * 5_000}))
        await tab.send(SidebarState.file_chat({"id": chat, "category": "c" * 5_000}))
        await tab.send(SettingsState.save_settings({"model": "m" * 300}))
        settings = await tab.state(SettingsState)
        owner = (await tab.state()).owner

    with db.session_for(mock_settings.db_url) as session:
        stored = db.get_conversation(session, owner=owner, conversation_id=chat)
        (category,) = db.list_categories(session, owner=owner)
    assert stored is not None and stored.title == "t" * 200
    assert category.name == "c" * 60
    assert settings.settings_error == "A model name has at most 200 characters."
    assert stored.options.model == ""


@pytest.mark.parametrize("text", ["", "   ", "\n\t "])
async def test_empty_message_is_not_sent(mock_settings, text):
    async with open_tab() as tab:
        await tab.send(ConversationState.on_load)
        deltas = await _send(tab, text)
        state = await tab.state(SidebarState)

    assert feed_ops(deltas) == []
    assert state.notice == "Type a message first."
    assert state.history == []


async def test_too_long_message_gets_a_clear_error(mock_settings):
    limit = mock_settings.max_message_chars
    async with open_tab() as tab:
        await tab.send(ConversationState.on_load)
        deltas = await _send(tab, "x" * (limit + 1))
        state = await tab.state()

    assert feed_ops(deltas) == []
    assert f"the limit is {limit:,}" in state.notice
    assert given_back(tab) == ["x" * (limit + 1)]


async def test_sending_while_an_answer_streams_is_refused(mock_settings):
    async with open_tab() as tab:
        await tab.send(ConversationState.on_load)
        first = await tab.start(
            ConversationState.user_message({"message": "/mock tokens=200 rate=100 latency=0\none"})
        )
        await tab.wait_for(lambda: "word3" in streamed_text(tab.deltas()))
        await _send(tab, "two")
        refused_notice = (await tab.state()).notice
        assert given_back(tab) == ["two"]
        await tab.send(ConversationState.stop)
        await first.wait_all()
        owner = (await tab.state()).owner

    assert "still streaming" in refused_notice
    with db.session_for(mock_settings.db_url) as session:
        (conversation,), _ = db.list_conversations(session, owner=owner, limit=10)
        messages = db.list_messages(session, conversation_id=conversation.id)
    assert [m.content for m in messages if m.role == "user"] == ["/mock tokens=200 rate=100 latency=0\none"]


async def test_stop_keeps_the_partial_answer(mock_settings):
    async with open_tab() as tab:
        await tab.send(ConversationState.on_load)
        turn = await tab.start(
            ConversationState.user_message({"message": "/mock tokens=500 rate=50 latency=0\ngo"})
        )
        await tab.wait_for(lambda: "word3" in streamed_text(tab.deltas()))
        await tab.send(ConversationState.stop)
        await turn.wait_all()
        state = await tab.state()
        shown = streamed_text(tab.deltas())

    with db.session_for(mock_settings.db_url) as session:
        (conversation,), _ = db.list_conversations(session, owner=state.owner, limit=10)
        answer = db.list_messages(session, conversation_id=conversation.id)[-1]
    assert answer.status == "stopped"
    assert answer.content == shown
    assert "word3" in answer.content and "word500" not in answer.content
    assert state.status == "stopped"


async def test_provider_failure_is_shown_in_plain_words_and_saved(mock_settings):
    async with open_tab() as tab:
        await tab.send(ConversationState.on_load)
        deltas = await _send(tab, "/mock fail=rate_limit latency=0\nhello")
        state = await tab.state()

    assert "rate limiting" in state.notice
    assert state.status == "error"
    final = [op for op in feed_ops(deltas) if op[0] == "u"][-1]
    assert final[2]["status"] == "error"


async def test_reopening_a_conversation_sends_one_snapshot_of_it(mock_settings):
    async with open_tab() as tab:
        await tab.send(ConversationState.on_load)
        await _send(tab, "/mock tokens=5 latency=0\nfirst question")
        conversation_id = (await tab.state()).conversation_id
        await tab.send(ConversationState.new_chat)
        deltas = await tab.send(ConversationState.open_chat(conversation_id))

    snapshots = [d[var("snapshot")] for d in deltas if var("snapshot") in d]
    assert len(snapshots) == 1
    messages = snapshots[0]["messages"]
    assert [(m["role"], m["status"]) for m in messages] == [("user", "complete"), ("assistant", "complete")]
    assert messages[1]["content"] == numbered(5)


def test_mock_word_tokens_join_back_to_the_text():
    text = "Hello  world,\n\nthis is *markdown* "
    assert "".join(word_tokens(text)) == text


async def test_the_panel_says_when_the_model_runs_without_tools(db_url, monkeypatch):
    monkeypatch.setenv("CHATAPP_PROVIDER", "local")
    get_settings.cache_clear()
    async with open_tab() as tab:
        await tab.send(ConversationState.on_load)
        state = await tab.state(MonitorState)

    assert state.tools_note == "The local model runs without tools."
    assert state.tool_groups == []
    assert state.model_label == "local · SmolLM2-135M-Instruct"


async def test_the_panel_lists_the_tools_a_model_may_call(mock_settings):
    async with open_tab() as tab:
        await tab.send(ConversationState.on_load)
        state = await tab.state(MonitorState)

    assert state.tools_note == ""
    assert state.tool_groups == [
        {
            "server": "Built-in",
            "status": "ready",
            "problem": "",
            "tools": "calculator, current_time, search_conversations",
        }
    ]


async def _conversation_messages(tab, settings):
    state = await tab.state()
    with db.session_for(settings.db_url) as session:
        return db.list_messages(session, conversation_id=state.conversation_id)


async def test_a_page_load_that_finds_the_first_answer_starting_shows_each_event_once(
    mock_settings, monkeypatch
):
    # A browser may send its first message before its on_load has run: the load then finds the answer
    # starting, followed by this process's own task, and must not follow it a second time.
    list_categories = db.list_categories

    def slow_categories(*args, **kwargs):  # the load takes a while: the answer's first words wait for it
        time.sleep(0.3)
        return list_categories(*args, **kwargs)

    monkeypatch.setattr(db, "list_categories", slow_categories)
    async with open_tab() as tab:
        asking = await tab.start(ConversationState.user_message({"message": "/mock tokens=20 rate=400\nhi"}))

        async def following() -> bool:
            return (await tab.state())._following

        await until(following, timeout_s=5, every_s=0.001)
        await tab.send(ConversationState.on_load)
        await asking.wait_all()
        messages, events = shown_messages(tab.deltas())

    kinds = [event["kind"] for event in events]
    assert kinds[:2] == ["request_sent", "first_token"] and kinds.count("request_sent") == 1
    assert [m["content"] for m in messages] == ["/mock tokens=20 rate=400\nhi", numbered(20)]


async def test_regenerate_replaces_the_last_answer(mock_settings):
    async with open_tab() as tab:
        await tab.send(ConversationState.on_load)
        await _send(tab, "/mock tokens=3 latency=0\nfirst")
        await _send(tab, "/mock tokens=4 latency=0\nsecond")
        before = await _conversation_messages(tab, mock_settings)
        deltas = await tab.send(ConversationState.regenerate)
        after = await _conversation_messages(tab, mock_settings)

    assert [m.role for m in after] == ["user", "assistant", "user", "assistant"]
    assert [(m.id, m.content) for m in after[:3]] == [(m.id, m.content) for m in before[:3]]
    assert after[3].id != before[3].id and after[3].content == numbered(4) and after[3].status == "complete"
    snapshot = next(d[var("snapshot")] for d in deltas if var("snapshot") in d)
    assert [m["role"] for m in snapshot["messages"]] == ["user", "assistant", "user"]  # the old answer gone


async def test_regenerating_a_question_over_the_length_limit_keeps_its_answer(mock_settings):
    # An import may hold a question longer than the box allows: asking it again must not cost the answer.
    question = "q" * (mock_settings.max_message_chars + 1)
    async with open_tab() as tab:
        await tab.send(ConversationState.on_load)
        with db.session_for(mock_settings.db_url) as session:
            imported = db.import_conversation(
                session,
                owner=(await tab.state()).owner,
                draft=ConversationDraft(
                    "imported",
                    (MessageDraft("user", question), MessageDraft("assistant", "the answer to keep")),
                ),
            )
        await tab.send(ConversationState.open_chat(imported.id))
        await tab.send(ConversationState.regenerate)
        notice = (await tab.state()).notice
        after = await _conversation_messages(tab, mock_settings)

    limit = mock_settings.max_message_chars
    over = f"over the limit of {limit:,}"
    assert notice == f"That question has {len(question):,} characters, {over}. Edit it to ask again."
    assert [(m.role, m.content) for m in after] == [("user", question), ("assistant", "the answer to keep")]


async def test_editing_a_question_replaces_everything_after_it(mock_settings):
    async with open_tab() as tab:
        await tab.send(ConversationState.on_load)
        await _send(tab, "/mock tokens=3 latency=0\nfirst")
        await _send(tab, "/mock tokens=4 latency=0\nsecond")
        first_question = (await _conversation_messages(tab, mock_settings))[0]
        await tab.send(
            ConversationState.edit_message(first_question.id, "/mock tokens=6 latency=0\nfirst, edited")
        )
        after = await _conversation_messages(tab, mock_settings)

    assert [(m.role, m.content) for m in after] == [
        ("user", "/mock tokens=6 latency=0\nfirst, edited"),
        ("assistant", numbered(6)),
    ]
    assert after[0].id == first_question.id


async def test_an_edit_reaches_only_the_open_conversation(mock_settings):
    # A hand-made event naming a question of another conversation must not rewind that one.
    async with open_tab() as tab:
        await tab.send(ConversationState.on_load)
        await _send(tab, "/mock tokens=3 latency=0\nin the other conversation")
        elsewhere = (await tab.state()).conversation_id
        (question, answer) = await _conversation_messages(tab, mock_settings)
        await tab.send(ConversationState.new_chat)
        await _send(tab, "/mock tokens=3 latency=0\nin the open one")
        await tab.send(ConversationState.edit_message(question.id, "/mock tokens=6 latency=0\nrewritten"))
        notice = (await tab.state()).notice

    assert notice == "That message can't be answered again."
    with db.session_for(mock_settings.db_url) as session:
        kept = db.list_messages(session, conversation_id=elsewhere)
    assert [m.id for m in kept] == [question.id, answer.id] and kept[0].content == question.content


async def test_an_edit_to_an_empty_message_is_refused(mock_settings):
    async with open_tab() as tab:
        await tab.send(ConversationState.on_load)
        await _send(tab, "/mock tokens=3 latency=0\nkeep me")
        question = (await _conversation_messages(tab, mock_settings))[0]
        await tab.send(ConversationState.edit_message(question.id, "   "))
        state = await tab.state()
        after = await _conversation_messages(tab, mock_settings)

    assert state.notice == "Type a message first."
    assert [m.content for m in after] == ["/mock tokens=3 latency=0\nkeep me", numbered(3)]


async def test_scrolling_to_the_end_of_the_sidebar_loads_the_next_page_once(mock_settings):
    async with open_tab() as tab:
        await tab.send(ConversationState.on_load)
        owner = (await tab.state()).owner
        with db.session_for(mock_settings.db_url) as session:
            for i in range(HISTORY_PAGE + 10):
                db.create_conversation(session, owner=owner, title=f"conversation {i}")
        await tab.send(ConversationState.on_load)
        first = await tab.state(SidebarState)
        cursor = first.history_cursor
        assert len(first.history) == HISTORY_PAGE and cursor

        await tab.send(SidebarState.load_more_history(cursor))
        # The sentinel may report the same end twice (a re-render); the second report loads nothing.
        again = await tab.send(SidebarState.load_more_history(cursor))
        state = await tab.state(SidebarState)

    titles = [row["title"] for row in state.history]
    assert len(titles) == len(set(titles)) == HISTORY_PAGE + 10
    assert titles[0] == f"conversation {HISTORY_PAGE + 9}" and titles[-1] == "conversation 0"
    assert state.history_cursor == ""
    assert not any(var("history") in delta for delta in again)


async def test_a_turn_that_reorders_a_scrolled_sidebar_keeps_its_paging(mock_settings):
    async with open_tab() as tab:
        await tab.send(ConversationState.on_load)
        owner = (await tab.state()).owner
        with db.session_for(mock_settings.db_url) as session:
            oldest = db.create_conversation(session, owner=owner, title="the oldest")  # not loaded yet
            for i in range(2 * HISTORY_PAGE + 10):
                db.create_conversation(session, owner=owner, title=f"conversation {i}")
        await tab.send(ConversationState.on_load)
        await tab.send(ConversationState.open_chat(oldest.id))
        await _send(tab, "/mock tokens=3 latency=0\nbring it up")  # the oldest moves to the top
        reordered = await tab.state(SidebarState)
        first_page = [row["title"] for row in reordered.history]
        while cursor := (await tab.state(SidebarState)).history_cursor:
            await tab.send(SidebarState.load_more_history(cursor))
        titles = [row["title"] for row in (await tab.state(SidebarState)).history]

    assert first_page[0] == "the oldest" and len(first_page) == HISTORY_PAGE + 1
    assert titles[: len(first_page)] == first_page
    assert len(titles) == len(set(titles)) == 2 * HISTORY_PAGE + 11  # scrolling on loses and repeats nothing


async def test_settings_chosen_for_a_new_chat_stay_with_the_conversation(mock_settings):
    async with open_tab() as tab:
        await tab.send(ConversationState.on_load)
        await tab.send(SettingsState.open_settings(True))
        listed = (await tab.state(SettingsState)).models
        form = {"model": "mock-2", "system_prompt": "Be brief.", "temperature": "0.5", "max_tokens": "5"}
        await tab.send(SettingsState.save_settings(form))
        await _send(tab, "/mock tokens=50 latency=0\nA long answer please")
        conversation_id = (await tab.state()).conversation_id
        await tab.send(ConversationState.new_chat)
        await tab.send(SettingsState.open_settings(True))  # the dialog shows what the open chat has
        fresh = dict((await tab.state(SettingsState)).chat_settings)
        await tab.send(ConversationState.open_chat(conversation_id))
        await tab.send(SettingsState.open_settings(True))
        state = await tab.state(SettingsState)

    assert listed == ["mock-1", "mock-2"]
    assert state.chat_settings == form
    assert fresh == {"model": "", "system_prompt": "", "temperature": "", "max_tokens": ""}
    with db.session_for(mock_settings.db_url) as session:
        answer = db.list_messages(session, conversation_id=conversation_id)[-1]
    assert answer.metrics.model == "mock-2" and answer.content == numbered(5)


async def test_a_bad_setting_keeps_the_dialog_open_with_a_message(mock_settings):
    async with open_tab() as tab:
        await tab.send(ConversationState.on_load)
        await tab.send(SettingsState.open_settings(True))
        await tab.send(SettingsState.save_settings({"temperature": "hot"}))
        state = await tab.state(SettingsState)

    assert state.settings_open
    assert state.settings_error == "Temperature is a number from 0 to 2."
    assert state.chat_settings["temperature"] == ""


# --- one answer, many tabs: the job registry, on both back ends ------------------------------------------


@pytest.fixture(params=["memory", "redis"])
async def job_backend(request, mock_settings, monkeypatch):
    """The registry the app picks: this process's memory, or Redis when Reflex runs on it."""
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        redis.Redis.from_url(url).flushdb()
        monkeypatch.setenv("REFLEX_REDIS_URL", url)
    get_settings.cache_clear()
    jobs.registry.cache_clear()
    yield request.param
    registry = jobs.registry()
    if isinstance(registry, RedisJobRegistry):
        await registry.close()
    jobs.registry.cache_clear()


async def _as_owner(tab, owner: str) -> None:
    """Another tab of the same browser: it shares the owner key kept in local storage."""
    await tab.send(ConversationState.on_load)
    await tab.set_owner(owner)


async def _asking(tab, text: str):
    await tab.send(ConversationState.on_load)
    asked = await tab.start(ConversationState.user_message({"message": text}))
    await tab.wait_for(lambda: "word5" in streamed_text(tab.deltas()))
    state = await tab.state()
    return asked, state.owner_key, state.conversation_id


async def test_a_second_tab_opening_a_conversation_mid_answer_follows_it(mock_settings, job_backend):
    async with open_tabs(2) as (first, second):
        asked, owner, conversation_id = await _asking(first, "/mock tokens=200 rate=100 latency=0\nlong")
        await _as_owner(second, owner)
        start = len(second.updates)
        following = await second.start(ConversationState.open_chat(conversation_id))
        await following.wait_all()
        await asked.wait_all()
        seen_by_first, _ = shown_messages(first.deltas())
        seen_by_second, events = shown_messages(second.deltas(start))
        second_status = (await second.state()).status

    assert [m["content"] for m in seen_by_second] == [m["content"] for m in seen_by_first]
    assert seen_by_second[-1]["content"] == numbered(200)
    assert seen_by_second[-1]["status"] == "complete" and second_status == "done"
    kinds = [e["kind"] for e in events]
    assert kinds.count("first_token") == kinds.count("finished") == 1  # replayed once, never twice


async def test_a_tab_coming_back_into_view_catches_up_with_what_another_tab_did(mock_settings, job_backend):
    async with open_tabs(2) as (first, second):
        asked, owner, conversation_id = await _asking(first, "/mock tokens=10 rate=100 latency=0\nfirst")
        await asked.wait_all()
        await _as_owner(second, owner)
        await second.send(ConversationState.on_load)  # its page loads with the browser's key
        await second.send(ConversationState.open_chat(conversation_id))
        start = len(second.updates)
        idle = await second.send(ConversationState.catch_up)  # nothing happened meanwhile

        # The first tab asks again in that conversation, and starts another one.
        first_start = len(first.updates)
        again = await first.start(
            ConversationState.user_message({"message": "/mock tokens=300 rate=150 latency=0\nmore"})
        )
        await first.wait_for(lambda: "word5 " in streamed_text(first.deltas(first_start)))
        following = await second.start(ConversationState.catch_up)
        await following.wait_all()
        await again.wait_all()
        seen_by_first, _ = shown_messages(first.deltas())
        seen_by_second, _ = shown_messages(second.deltas(start))
        await first.send(ConversationState.new_chat)
        await _send(first, "/mock tokens=3 latency=0\nA brand new topic")
        await second.send(ConversationState.catch_up)
        listed = [row["title"] for row in (await second.state(SidebarState)).history]

    assert idle == []  # no snapshot, no sidebar: nothing is sent that didn't change
    assert [m["content"] for m in seen_by_second] == [m["content"] for m in seen_by_first]
    assert seen_by_second[-1]["content"] == numbered(300) and seen_by_second[-1]["status"] == "complete"
    assert listed[0] == "A brand new topic"


async def test_a_rename_elsewhere_reaches_the_header_when_this_tab_comes_back(mock_settings, job_backend):
    async with open_tabs(2) as (first, second):
        asked, owner, conversation_id = await _asking(first, "/mock tokens=10 rate=500 latency=0\nfirst")
        await asked.wait_all()
        await _as_owner(second, owner)
        await second.send(ConversationState.on_load)
        form = {"id": conversation_id, "title": "Renamed in the other tab"}
        await second.send(SidebarState.rename_chat(form))
        await first.send(ConversationState.catch_up)
        title = (await first.state()).title

    assert title == "Renamed in the other tab"


async def test_switching_away_and_back_mid_answer_shows_it_once(mock_settings, job_backend):
    async with open_tabs(2) as (first, second):
        await first.send(ConversationState.on_load)
        # Away and back while its answer is silent (the model still thinking): its first task is still
        # waiting when the second one starts.
        asked = await first.start(
            ConversationState.user_message({"message": "/mock tokens=300 rate=100 latency=1500\nmine"})
        )
        await first.wait_for(lambda: any(op[:2] == ["e", "request_sent"] for op in feed_ops(first.deltas())))
        state = await first.state()
        owner, mine = state.owner_key, state.conversation_id
        await _as_owner(second, owner)
        await second.send(ConversationState.on_load)
        theirs = await second.start(
            ConversationState.user_message({"message": "/mock tokens=300 rate=100 latency=0\ntheirs"})
        )
        await second.wait_for(lambda: "word3 " in streamed_text(second.deltas()))
        elsewhere = (await second.state()).conversation_id
        start = len(first.updates)
        await first.start(ConversationState.open_chat(elsewhere))  # follows the other tab's answer
        await first.wait_for(lambda: "word" in streamed_text(first.deltas(start)))
        start = len(first.updates)
        back = await first.start(ConversationState.open_chat(mine))  # and back to its own, still silent
        await asked.wait_all()
        await theirs.wait_all()
        await back.wait_all()
        shown, _ = shown_messages(first.deltas(start))

    assert shown[-1]["content"] == numbered(300) and shown[-1]["status"] == "complete"


async def test_a_reload_mid_answer_follows_it_again_if_its_follower_died(mock_settings, job_backend):
    async with open_tab() as tab:
        asked, _, _ = await _asking(tab, "/mock tokens=300 rate=150 latency=0\nreload me")
        # As when the worker whose task followed it died: that task stops at its next update.
        async with tab.manager.modify_state(BaseStateToken(ident=tab.token, cls=ConversationState)) as root:
            (await root.get_state(ConversationState))._follower = "a task that died with its worker"
        start = len(tab.updates)
        await tab.send(ConversationState.on_load)  # what the reload or the reconnect sends
        await asked.wait_all()
        await tab.wait_for(lambda: any(d.get(var("status")) == "done" for d in tab.deltas(start)))
        shown, events = shown_messages(tab.deltas(start))

    assert shown[-1]["content"] == numbered(300) and shown[-1]["status"] == "complete"
    kinds = [e["kind"] for e in events]
    assert kinds.count("first_token") == kinds.count("finished") == 1


async def test_stop_in_another_tab_of_the_same_browser_ends_the_answer(mock_settings, job_backend):
    async with open_tabs(2) as (first, second):
        asked, owner, conversation_id = await _asking(first, "/mock tokens=2000 rate=100 latency=0\nlong")
        await _as_owner(second, owner)
        await second.start(ConversationState.open_chat(conversation_id))
        await second.wait_for(lambda: "word6" in streamed_text(second.deltas()))
        await second.send(ConversationState.stop)
        await asked.wait_all()
        first_status = (await first.state()).status

    with db.session_for(mock_settings.db_url) as session:
        answer = db.list_messages(session, conversation_id=conversation_id)[-1]
    assert answer.status == "stopped" and "word2000" not in answer.content
    assert first_status == "stopped"


async def test_a_client_cannot_follow_or_stop_another_owners_answer(mock_settings, job_backend):
    async with open_tabs(2) as (victim, attacker):
        asked, _, conversation_id = await _asking(victim, "/mock tokens=100 rate=100 latency=0\nmine")
        job_id = (await victim.state())._turn_id
        await attacker.send(ConversationState.on_load)
        start = len(attacker.updates)
        await attacker.send(ConversationState.follow_turn(job_id))  # a hand-made event with a guessed id
        async with attacker.manager.modify_state(
            BaseStateToken(ident=attacker.token, cls=ConversationState)
        ) as root:
            (
                await root.get_state(ConversationState)
            )._turn_id = job_id  # even with the id planted in its state,
        await attacker.send(ConversationState.stop)  # Stop only reaches its owner's answers
        await attacker.send(SidebarState.delete_chat(conversation_id))
        await asked.wait_all()

    assert streamed_text(attacker.deltas(start)) == ""
    with db.session_for(mock_settings.db_url) as session:
        answer = db.list_messages(session, conversation_id=conversation_id)[-1]
    assert (answer.status, answer.content) == ("complete", numbered(100))


async def test_an_owner_gets_a_notice_past_the_cap(mock_settings, job_backend, monkeypatch):
    monkeypatch.setenv("CHATAPP_MAX_ANSWERS_PER_OWNER", "1")
    get_settings.cache_clear()
    jobs.registry.cache_clear()
    async with open_tabs(2) as (first, second):
        asked, owner, _ = await _asking(first, "/mock tokens=2000 rate=100 latency=0\nlong")
        await _as_owner(second, owner)
        await _send(second, "a question in another conversation")
        notice = (await second.state()).notice
        assert given_back(second) == ["a question in another conversation"]
        await first.send(ConversationState.stop)
        await asked.wait_all()

    assert "Too many answers are streaming for you at once (at most 1)" in notice
    with db.session_for(mock_settings.db_url) as session:
        conversations, _ = db.list_conversations(session, owner=owners.owner_id(owner), limit=10)
    assert len(conversations) == 1  # the refused question started nothing


async def test_a_flush_that_fails_loses_nothing_and_the_gap_brings_a_snapshot(mock_settings, monkeypatch):
    apply = ConversationState._apply
    calls = []

    async def failing_once(self, batch):
        calls.append(len(batch))
        if len(calls) == 3:  # as a lock timeout or a state store error would, before anything is kept
            raise TimeoutError("the state lock was not granted in time")
        await apply(self, batch)

    monkeypatch.setattr(ConversationState, "_apply", failing_once)
    async with open_tab() as tab:
        await tab.send(ConversationState.on_load)
        deltas = await _send(tab, "/mock tokens=200 rate=200 latency=0\nkeep going")
        seqs = [d[var("feed")]["seq"] for d in deltas if var("feed") in d]
        after_resync = await tab.send(
            ConversationState.resync
        )  # what the browser asks for when it sees the gap
        state = await tab.state()

    assert any(b - a == 2 for a, b in zip(seqs, seqs[1:], strict=False))  # the gap the browser detects
    assert streamed_text(deltas) == numbered(200)  # nothing dropped: the failed flush went with the next
    (snapshot,) = [d[var("snapshot")] for d in after_resync if var("snapshot") in d]
    assert snapshot["messages"][-1]["content"] == numbered(200)
    assert state.status == "done"


async def test_the_monitor_follows_the_numbers_while_an_answer_streams(mock_settings):
    async with open_tab() as tab:
        await tab.send(ConversationState.on_load)
        deltas = await _send(tab, "/mock tokens=120 rate=80 latency=0\na while")

    live = [d[var("live")] for d in deltas if var("live") in d]
    points = [d[var("speed_points")] for d in deltas if var("speed_points") in d]
    assert len(live) >= 2  # about twice a second over 1.5 s
    assert all(float(view["tokens_per_s"]) > 10 for view in live if view["tokens_per_s"] != "—")
    assert points and len(points[-1]) >= 1


async def test_a_message_sent_before_the_page_loaded_still_gets_an_owner(mock_settings):
    # Reflex queues on_load after hydration, so a fast first message can arrive before it.
    async with open_tab() as tab:
        await _send(tab, "/mock tokens=3 latency=0\nin a hurry")
        owner = (await tab.state()).owner
        await tab.send(ConversationState.on_load)
        kept = (await tab.state()).owner

    assert owner and kept == owner
    with db.session_for(mock_settings.db_url) as session:
        (conversation,), _ = db.list_conversations(session, owner=owner, limit=10)
    assert conversation.title == "In a hurry"  # named after its first answer


async def test_text_no_database_takes_is_stored_cleaned_not_refused_with_a_server_error(mock_settings):
    # A lone surrogate can't be encoded, and PostgreSQL refuses NUL; a client can send either in any field.
    async with open_tab() as tab:
        await tab.send(ConversationState.on_load)
        await _send(tab, "/mock tokens=3 latency=0\nnul\x00 and \ud800 in a question")
        conversation_id = (await tab.state()).conversation_id
        await tab.send(SidebarState.rename_chat({"id": conversation_id, "title": "bad\ud800title\x00"}))
        await tab.send(SidebarState.file_chat({"id": conversation_id, "category": "cat\x00\udc00"}))
        notice = (await tab.state()).notice
        question, _answer = await _conversation_messages(tab, mock_settings)
        with db.session_for(mock_settings.db_url) as session:
            conversation = db.get_conversation(
                session, owner=(await tab.state()).owner, conversation_id=conversation_id
            )
            categories = db.list_categories(session, owner=(await tab.state()).owner)

    assert notice == ""
    assert question.content == "/mock tokens=3 latency=0\nnul and \ufffd in a question"
    assert conversation.title == "bad\ufffdtitle"
    assert [c.name for c in categories] == ["cat\ufffd"]


async def test_an_owner_key_changed_to_a_bad_value_mid_session_is_replaced_by_the_next_event(mock_settings):
    # The browser's storage can send any value for the key at any moment, not only before on_load: every
    # handler that reads the owner checks it, not on_load and user_message alone.
    async with open_tab() as tab:
        await tab.send(ConversationState.on_load)
        await tab.set_owner("x")
        await tab.send(SidebarState.refresh)
        replaced = (await tab.state()).owner_key
        await _send(tab, "/mock tokens=3 latency=0\nwhose is this")

    assert owners.is_valid_key(replaced)
    with db.session_for(mock_settings.db_url) as session:
        (conversation,), _ = db.list_conversations(session, owner=owners.owner_id(replaced), limit=10)
        for stray in ("x", owners.owner_id("x")):
            assert db.list_conversations(session, owner=stray, limit=10)[0] == []
    assert conversation.title == "Whose is this"


async def test_a_long_conversation_opens_with_its_latest_messages_and_more_on_request(mock_settings):
    drafts = tuple(MessageDraft("user" if n % 2 == 0 else "assistant", f"message {n}") for n in range(450))
    async with open_tab() as tab:
        await tab.send(ConversationState.on_load)
        with db.session_for(mock_settings.db_url) as session:
            long = db.import_conversation(
                session, owner=(await tab.state()).owner, draft=ConversationDraft("long", drafts)
            )
            first_id = db.list_messages(session, conversation_id=long.id)[0].id
        await tab.send(ConversationState.open_chat(long.id))
        opened = (await tab.state()).snapshot
        await tab.send(ConversationState.show_earlier)
        more = (await tab.state()).snapshot
        await tab.send(ConversationState.open_result(long.id, first_id))
        searched = (await tab.state()).snapshot

    assert [m["content"] for m in opened["messages"]] == [f"message {n}" for n in range(250, 450)]
    assert opened["earlier"] == 250
    assert (len(more["messages"]), more["earlier"]) == (400, 50)
    assert (searched["messages"][0]["id"], searched["earlier"]) == (first_id, 0)  # a search hit is shown


async def test_a_search_hit_too_far_back_opens_the_conversation_at_its_end_and_says_so(
    mock_settings, monkeypatch
):
    monkeypatch.setattr(paging, "SNAPSHOT_CHARS", 1_000)  # a page: two of these messages
    drafts = tuple(
        MessageDraft("user" if n % 2 == 0 else "assistant", f"{n:03} " + "z" * 396) for n in range(60)
    )
    async with open_tab() as tab:
        await tab.send(ConversationState.on_load)
        with db.session_for(mock_settings.db_url) as session:
            chat = db.import_conversation(
                session, owner=(await tab.state()).owner, draft=ConversationDraft("long", drafts)
            )
            ids = [m.id for m in db.list_messages(session, conversation_id=chat.id)]
        await tab.send(ConversationState.open_result(chat.id, ids[50]))
        near = await tab.state()
        near_snapshot, near_notice = near.snapshot, near.notice
        await tab.send(ConversationState.open_result(chat.id, ids[0]))
        far = await tab.state()
        far_snapshot, far_notice = far.snapshot, far.notice
        await tab.send(ConversationState.dismiss_notice)
        await tab.send(ConversationState.resync)  # a reload, say: said once is enough
        again = await tab.state()

    assert (near_snapshot["earlier"], near_notice) == (50, "")  # within four more pages: shown from the hit
    assert far_snapshot["earlier"] == 58  # the first message would send the whole conversation
    assert far_notice == paging.TOO_FAR_BACK
    assert (again.notice, again.focus_message) == ("", "")


async def test_a_conversation_of_long_answers_is_sent_a_megabyte_at_a_time(mock_settings):
    answer = "y" * 300_000
    drafts = tuple(MessageDraft("user" if n % 2 == 0 else "assistant", answer) for n in range(10))
    async with open_tab() as tab:
        await tab.send(ConversationState.on_load)
        with db.session_for(mock_settings.db_url) as session:
            long = db.import_conversation(
                session, owner=(await tab.state()).owner, draft=ConversationDraft("long answers", drafts)
            )
        start = len(tab.updates)
        await tab.send(ConversationState.open_chat(long.id))
        snapshot = (await tab.state()).snapshot
        sent = tab.wire_bytes(start)

    assert (len(snapshot["messages"]), snapshot["earlier"]) == (3, 7)
    assert sent < 1_100_000
