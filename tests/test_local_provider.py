"""The bundled SmolLM2 model, really loaded and run by llama-cpp-python: no network, no stub."""

from __future__ import annotations

import pytest

from chatapp import labels, service
from chatapp.config import get_settings
from chatapp.domain import ChatOptions, PromptMessage, TextDelta, UsageReport
from chatapp.providers.local import LocalProvider


@pytest.fixture
def local_provider(monkeypatch) -> LocalProvider:
    monkeypatch.setenv("CHATAPP_PROVIDER", "local")
    monkeypatch.setenv("CHATAPP_LOCAL_MAX_TOKENS", "24")
    get_settings.cache_clear()
    provider = LocalProvider(get_settings())
    get_settings.cache_clear()
    return provider


PROMPT = [
    PromptMessage("system", "You are a helpful assistant."),
    PromptMessage("user", "What is the capital of France? Answer in one short sentence."),
]


async def test_bundled_model_streams_a_real_answer_with_usage(local_provider):
    deltas, usage = [], []
    async for event in local_provider.stream(PROMPT):
        (deltas if isinstance(event, TextDelta) else usage).append(event)

    answer = "".join(d.text for d in deltas)
    assert len(deltas) > 1  # token by token, not all at once
    assert "Paris" in answer
    (report,) = usage
    assert isinstance(report, UsageReport)
    assert report.completion_tokens == len(deltas)
    assert report.prompt_tokens > 10


async def test_closing_the_stream_stops_generation_and_frees_the_model(local_provider):
    stream = local_provider.stream(PROMPT)
    first = await anext(stream)
    await stream.aclose()  # what Stop does to a running answer

    assert isinstance(first, TextDelta)
    # The model is free again: a second answer runs to its end.
    events = [event async for event in local_provider.stream(PROMPT)]
    assert isinstance(events[-1], UsageReport)


async def test_bundled_model_names_a_conversation_sensibly(local_provider):
    question = "Plan a weekend in Lisbon with kids"
    options = ChatOptions(temperature=0.0, max_tokens=service.LABEL_MAX_TOKENS)
    offered = labels.offered_categories([])
    request = labels.request(question, offered)

    reply = "".join(
        [e.text async for e in local_provider.stream(request, (), options) if isinstance(e, TextDelta)]
    )
    label = labels.read(reply, question, "Visit the Oceanarium and ride tram 28.", offered)

    assert label.by_model, reply  # the 135M model's own title, not the fallback
    assert "Lisbon" in label.title and len(label.title.split()) <= labels.MAX_TITLE_WORDS


async def test_max_tokens_of_a_conversation_caps_the_answer(local_provider):
    events = [e async for e in local_provider.stream(PROMPT, (), ChatOptions(max_tokens=3))]

    assert events[-1].completion_tokens == len([e for e in events if isinstance(e, TextDelta)]) == 3
