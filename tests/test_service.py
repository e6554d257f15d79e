"""One turn end to end through the service, with the mock provider (or a small fake) at the provider seam."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from chatapp import db
from chatapp.domain import (
    AnswerDelta,
    AnswerDone,
    AnswerStarted,
    ChatOptions,
    ConversationLabelled,
    ConversationReady,
    InputError,
    PromptMessage,
    StatusEvent,
    TextDelta,
    UsageReport,
)
from chatapp.domain import input as user_input
from chatapp.domain.limits import FIRST_LINE_TITLE_CHARS

from .factories import OWNER, SOMEONE_ELSE, fast_mock, final, run_turn


def _messages(db_url: str, conversation_id: str):
    with db.session_for(db_url) as session:
        return db.list_messages(session, conversation_id=conversation_id)


class InspectingProvider:
    """Looks at the database at the moments that matter while it 'answers'."""

    name = "mock"
    model = "inspector"
    supports_tools = False
    context_window = None

    def __init__(self, db_url: str, conversation_id: str) -> None:
        self.db_url = db_url
        self.conversation_id = conversation_id
        self.seen_before_request: list = []
        self.seen_mid_answer: list = []

    async def stream(self, messages, tools=(), options=None):
        self.seen_before_request = _messages(self.db_url, self.conversation_id)
        for word in ["one ", "two ", "three "]:
            yield TextDelta(word)
            await asyncio.sleep(0.01)
        # Partial saves are stored with the worker's next group, when its timer fires.
        await db.write_behind(self.db_url).timer_done()
        self.seen_mid_answer = _messages(self.db_url, self.conversation_id)
        yield UsageReport(prompt_tokens=7, completion_tokens=3)


async def test_user_message_is_saved_before_the_provider_is_called(mock_settings):
    with db.session_for(mock_settings.db_url) as session:
        conversation = db.create_conversation(session, owner=OWNER, title="t")
    provider = InspectingProvider(mock_settings.db_url, conversation.id)
    # A clock that moves half a second per reading: the answer is saved at every other token.
    ticks = itertools.count()
    await run_turn(
        mock_settings,
        "hello there",
        provider=provider,
        conversation_id=conversation.id,
        clock=lambda: next(ticks) * 0.5,
    )

    user, assistant = provider.seen_before_request
    assert (user.role, user.content, user.status) == ("user", "hello there", "complete")
    assert (assistant.role, assistant.status) == ("assistant", "streaming")
    # Mid-answer, the database already holds what the user has seen so far.
    assert provider.seen_mid_answer[-1].status == "streaming"
    assert provider.seen_mid_answer[-1].content.startswith("one ")
    final = _messages(mock_settings.db_url, conversation.id)[-1]
    assert (final.content, final.status) == ("one two three ", "complete")
    assert (final.metrics.prompt_tokens, final.metrics.completion_tokens) == (7, 3)
    assert final.metrics.token_source == "reported"


async def test_updates_arrive_in_order_and_the_first_turn_creates_a_titled_conversation(mock_settings):
    provider = fast_mock()
    provider.script("Hello *world*")
    updates = await run_turn(mock_settings, "  Hi!\nThere ", provider=provider)

    ready, started = updates[0], updates[1]
    assert isinstance(ready, ConversationReady) and ready.created
    assert ready.conversation.title == "Hi! There"
    assert isinstance(started, AnswerStarted) and started.user.content == "Hi!\nThere"
    assert "".join(u.text for u in updates if isinstance(u, AnswerDelta)) == "Hello *world*"
    kinds = [u.kind for u in updates if isinstance(u, StatusEvent)]
    assert kinds == ["request_sent", "first_token", "usage", "finished", "labelled"]
    done, labelled, named = updates[-3:]
    assert isinstance(done, AnswerDone) and done.message.status == "complete"
    assert done.message.metrics.cost_usd == 0.0
    # After the answer, the conversation is named (the mock suggests a title from the message).
    assert isinstance(labelled, ConversationLabelled) and labelled.conversation.title == "Hi"
    assert named.detail == "“Hi” suggested by the model"


async def test_history_is_sent_to_the_provider_with_the_system_prompt(mock_settings):
    provider = fast_mock()
    conversation_id = (await run_turn(mock_settings, "first", provider=provider))[0].conversation.id
    await run_turn(mock_settings, "2nd", provider=provider, conversation_id=conversation_id)

    sent = provider.requests[-1]
    assert sent[0] == PromptMessage("system", mock_settings.system_prompt)
    assert [m.role for m in sent[1:]] == ["user", "assistant", "user"]
    assert sent[-1].content == "2nd"


async def test_another_owners_conversation_cannot_be_continued(mock_settings):
    with db.session_for(mock_settings.db_url) as session:
        theirs = db.create_conversation(session, owner=SOMEONE_ELSE, title="private")
    (done,) = await run_turn(mock_settings, "let me in", conversation_id=theirs.id)

    assert done.message is None and "no longer exists" in done.error
    assert _messages(mock_settings.db_url, theirs.id) == []


@pytest.mark.parametrize(
    ("directive", "error"),
    [
        ("tokens=3000000", "/mock tokens is a number from 1 to 20,000."),
        ("rate=0", "/mock rate is a number from 0.5 to 10,000."),
        ("latency=nan", "/mock latency is a number from 0 to 60,000."),
        ("rounds=1e9", "/mock rounds is a number from 1 to 10."),
        ("tokens=2.5", "/mock tokens, after and rounds are whole numbers."),
    ],
)
async def test_a_mock_directive_out_of_bounds_is_refused_at_once_with_why(mock_settings, directive, error):
    async with asyncio.timeout(5):  # three million words would take the server minutes to build
        updates = await run_turn(mock_settings, f"/mock {directive}")

    (done,) = [update for update in updates if isinstance(update, AnswerDone)]
    assert (done.message.status, done.message.content, done.error) == ("error", "", error)


def test_a_leading_command_line_is_not_the_title():
    assert user_input.title_from("/mock tokens=5\nPlan a trip") == "Plan a trip"
    assert user_input.title_from("/etc/hosts is broken") == "/etc/hosts is broken"


def test_titles_are_one_short_line():
    assert user_input.title_from("a\n\nb   c") == "a b c"
    long_title = user_input.title_from("word " * 40)
    assert len(long_title) == FIRST_LINE_TITLE_CHARS and long_title.endswith("…")


async def test_a_conversation_is_answered_with_its_own_settings(mock_settings):
    provider = fast_mock()
    options = ChatOptions(
        model="mock-2", system_prompt="Answer like a pirate.", temperature=0.3, max_tokens=4
    )
    updates = await run_turn(mock_settings, "Hi", provider=provider, options=options)
    conversation = next(u for u in updates if isinstance(u, ConversationReady)).conversation
    done = final(await run_turn(mock_settings, "More", provider=provider, conversation_id=conversation.id))

    assert conversation.options == options  # kept with the conversation, so the next turn needs no reminder
    assert provider.options == [options, options]
    assert provider.requests[-1][0] == PromptMessage("system", "Answer like a pirate.")
    assert done.message.metrics.model == "mock-2"
    assert len(done.message.content.split()) == 4  # stopped at max tokens (the mock counts words)


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"temperature": "warm"}, "Temperature is a number from 0 to 2."),
        ({"temperature": "2.5"}, "Temperature is a number from 0 to 2."),
        ({"temperature": "nan"}, "Temperature is a number from 0 to 2."),
        ({"max_tokens": "0"}, "Max tokens is a whole number from 1 to 100,000."),
        ({"max_tokens": "1.5"}, "Max tokens is a whole number from 1 to 100,000."),
        ({"system_prompt": "x" * 101}, "The system prompt is 101 characters; the limit is 100."),
    ],
)
def test_settings_out_of_range_get_a_clear_message(form, error):
    with pytest.raises(InputError) as caught:
        user_input.options_from(form, max_prompt_chars=100)
    assert str(caught.value) == error


def test_empty_settings_fields_keep_the_defaults():
    assert user_input.options_from({"model": " ", "temperature": "", "max_tokens": ""}, 100) == ChatOptions()
    assert user_input.options_from({"temperature": "0", "max_tokens": "256"}, 100) == ChatOptions(
        temperature=0.0, max_tokens=256
    )
