"""The bundled SmolLM2 model, really loaded and run by llama-cpp-python: no network, no stub."""

from __future__ import annotations

import pytest

from chatapp.config import get_settings
from chatapp.domain import PromptMessage, TextDelta, UsageReport
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
