"""The bundled SmolLM2 model, really loaded and run by llama.cpp in its own process: no network, no stub."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import tempfile
from pathlib import Path

import pytest

from chatapp import db
from chatapp.config import get_settings
from chatapp.domain import AnswerDelta, ChatOptions, PromptMessage, ProviderError, TextDelta, UsageReport
from chatapp.domain.limits import LABEL_TITLE_WORDS
from chatapp.metering import meter as metrics
from chatapp.providers.local import provider as local
from chatapp.providers.local.process import ModelProcess
from chatapp.providers.local.provider import LocalProvider
from chatapp.turns import naming
from chatapp.web import views

from .factories import conversation_of, make_turn, run_turn, saved, until


@pytest.fixture
def socket_dir():
    # A Unix socket path must stay under ~100 bytes, which pytest's tmp_path may not.
    directory = tempfile.mkdtemp(prefix="cm-")
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def local_settings(monkeypatch, socket_dir: str, **env: str):
    monkeypatch.setenv("CHATAPP_PROVIDER", "local")
    monkeypatch.setenv("CHATAPP_LOCAL_MAX_TOKENS", "24")
    monkeypatch.setenv("CHATAPP_LOCAL_MODEL_SOCKET", os.path.join(socket_dir, "model.sock"))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    settings = get_settings()
    get_settings.cache_clear()
    return settings


@pytest.fixture
def local_provider(monkeypatch, socket_dir, db_url):
    provider = LocalProvider(local_settings(monkeypatch, socket_dir))
    yield provider
    provider.process.close()


PROMPT = [
    PromptMessage("system", "You are a helpful assistant."),
    PromptMessage("user", "What is the capital of France? Answer in one short sentence."),
]


async def answer_of(provider: LocalProvider, prompt=PROMPT, options: ChatOptions | None = None):
    events = [e async for e in provider.stream(prompt, (), options or ChatOptions())]
    return "".join(e.text for e in events if isinstance(e, TextDelta)), events


async def test_bundled_model_streams_a_real_answer_with_usage(local_provider):
    answer, events = await answer_of(local_provider)

    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert len(deltas) > 1  # token by token, not all at once
    assert "Paris" in answer
    report = events[-1]
    assert isinstance(report, UsageReport)
    assert report.completion_tokens == len(deltas)
    assert report.prompt_tokens > 10


async def test_an_answer_of_the_bundled_model_is_counted_with_its_own_tokens(local_provider, db_url):
    updates = await run_turn(
        get_settings(),
        "What is the capital of France? Answer in one short sentence.",
        provider=local_provider,
    )

    _user, answer = saved(db_url, updates)
    numbers = answer.metrics
    # The model's own count of its answer, as it streamed: exactly what it reports at the end.
    assert numbers.token_source == "reported" and numbers.completion_tokens > 1
    assert numbers.estimated_completion_tokens == numbers.completion_tokens
    assert numbers.encoding == metrics.OWN_TOKENS
    assert views.metrics_view(numbers)["completion_off"] == "estimate exact"


async def test_the_model_runs_in_a_process_of_its_own(local_provider):
    await answer_of(local_provider)

    assert local_provider.process.pid not in (None, os.getpid())


async def test_closing_the_stream_stops_generation_and_frees_the_model(local_provider):
    stream = local_provider.stream(PROMPT)
    first = await anext(stream)
    await stream.aclose()  # what Stop does to a running answer

    assert isinstance(first, TextDelta)
    # The model is free again: a second answer runs to its end.
    _, events = await answer_of(local_provider)
    assert isinstance(events[-1], UsageReport)


async def test_two_answers_at_once_take_turns_and_both_finish(local_provider):
    (first, _), (second, _) = await asyncio.gather(answer_of(local_provider), answer_of(local_provider))

    assert "Paris" in first and "Paris" in second


async def test_bundled_model_names_a_conversation_sensibly(local_provider):
    question = "Plan a weekend in Lisbon with kids"
    options = ChatOptions(temperature=0.0, max_tokens=naming.LABEL_MAX_TOKENS)
    offered = naming.offered_categories([])

    reply, _ = await answer_of(local_provider, naming.request(question, offered), options)
    label = naming.read(reply, question, "Visit the Oceanarium and ride tram 28.", offered)

    assert label.by_model, reply  # the 135M model's own title, not the fallback
    assert "Lisbon" in label.title and len(label.title.split()) <= LABEL_TITLE_WORDS


async def test_max_tokens_of_a_conversation_caps_the_answer(local_provider):
    _, events = await answer_of(local_provider, options=ChatOptions(max_tokens=3))

    assert events[-1].completion_tokens == len([e for e in events if isinstance(e, TextDelta)]) == 3


async def test_the_model_dying_mid_answer_saves_an_error_and_the_next_question_is_answered(
    local_provider, db_url
):
    settings = get_settings()
    turn = make_turn(settings, "Tell me a story", provider=local_provider)
    updates, killed = [], False
    async for update in turn.updates():
        updates.append(update)
        if isinstance(update, AnswerDelta) and not killed:
            os.kill(local_provider.process.pid, signal.SIGKILL)  # a crash in native code, mid-answer
            killed = True
    user, answer = saved(db_url, updates)
    assert answer.status == "error"
    assert answer.error == local.DIED
    assert answer.content  # what the user saw before the crash is kept

    # The process came back by itself: the next question, in the same conversation, gets a real answer.
    await run_turn(
        settings,
        "What is the capital of France?",
        provider=local_provider,
        conversation_id=conversation_of(updates),
    )
    with db.session_for(db_url) as session:
        last = db.list_messages(session, conversation_id=conversation_of(updates))[-1]
    assert (last.status, "Paris" in last.content) == ("complete", True)


async def test_a_question_waiting_for_the_model_is_answered_after_the_model_dies(monkeypatch, socket_dir):
    provider = LocalProvider(local_settings(monkeypatch, socket_dir, CHATAPP_LOCAL_MAX_TOKENS="512"))
    try:
        writing = provider.stream([PromptMessage("user", "Write a long story about a lighthouse keeper.")])
        await anext(writing)
        waiting = asyncio.create_task(answer_of(provider, options=ChatOptions(max_tokens=16)))
        await asyncio.sleep(0.5)  # asked, and queued behind the answer being written
        os.kill(provider.process.pid, signal.SIGKILL)

        with pytest.raises(ProviderError, match="stopped unexpectedly"):
            async for _ in writing:
                pass
        answer, events = await waiting  # never reached the model before: asked again once it was back
    finally:
        provider.process.close()

    assert "Paris" in answer and isinstance(events[-1], UsageReport)


async def test_a_file_that_is_not_a_model_is_named_in_a_plain_error(monkeypatch, socket_dir, tmp_path):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + os.urandom(4096))
    provider = LocalProvider(local_settings(monkeypatch, socket_dir, CHATAPP_LOCAL_MODEL_PATH=str(broken)))
    try:
        with pytest.raises(ProviderError) as raised:
            await answer_of(provider)
    finally:
        provider.process.close()

    message = raised.value.message
    assert message.startswith("The local model can't start:")
    assert str(broken) in message and "CHATAPP_LOCAL_MODEL_PATH" in message


async def test_one_model_process_serves_every_worker_on_the_machine(local_provider, socket_dir):
    # A second web worker: its own supervisor for the same socket, in the same or another process.
    other = ModelProcess(local_provider.process.model_path, local_provider.process.socket_path)
    try:
        await answer_of(local_provider)
        reader, writer = await other.connect(timeout_s=10)
        writer.close()

        assert other.pid is None  # it connected to the running model instead of starting its own
        assert sorted(p.name for p in Path(socket_dir).iterdir()) == [
            "model.sock",
            "model.sock.lock",
            "model.sock.status",
        ]
        # When the worker that runs the model exits, the other one takes over.
        local_provider.process.close()
        await until(lambda: other.pid is not None, timeout_s=10)
    finally:
        other.close()
