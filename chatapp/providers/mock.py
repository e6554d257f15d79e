"""A scripted provider: deterministic answers at a set pace, with failures on demand.

Tests queue answers or failures on an instance. A user (or a demo) can steer it from the chat itself with a
first line such as `/mock tokens=300 rate=200 latency=0 fail=rate_limit after=20`:
  tokens   answer with this many word tokens
  rate     tokens per second
  latency  delay before the first token, in ms
  fail     auth | rate_limit | server | unreachable | interrupted
  after    fail after this many tokens (default: before the first one)
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from ..domain import PromptMessage, ProviderError, ProviderEvent, TextDelta, UsageReport

_FAILURE_MESSAGES = {
    "auth": "The mock provider rejected the API key (a scripted failure).",
    "rate_limit": "The mock provider is rate limiting requests (a scripted failure). Try again shortly.",
    "server": "The mock provider had a server error (a scripted failure).",
    "unreachable": "The mock provider could not be reached (a scripted failure).",
    "interrupted": "The mock provider dropped the connection mid-answer (a scripted failure).",
}


@dataclass(frozen=True)
class Script:
    """One scripted answer: its text, pace and an optional failure."""

    text: str | None = None
    tokens: int | None = None
    tokens_per_s: float | None = None
    latency_ms: float | None = None
    fail: str | None = None
    fail_after: int = 0


def word_tokens(text: str) -> list[str]:
    """Splits text into word-sized pieces that join back to exactly the text."""
    return re.findall(r"\s*\S+|\s+$", text)


def _numbered_answer(count: int) -> str:
    return " ".join(f"word{i}" for i in range(1, count + 1))


def _default_answer(prompt: str) -> str:
    quoted = " ".join(prompt.split())[:120]
    return (
        "This is the **mock provider**: a scripted answer, no model involved.\n\n"
        f"You wrote: _{quoted}_\n\n"
        "- It streams word by word at a set pace.\n"
        "- Start a message with `/mock tokens=200 rate=100` to change length and speed.\n"
        "- `/mock fail=server` shows how a failure looks."
    )


def parse_directive(prompt: str) -> tuple[Script, str]:
    """Reads a leading `/mock key=value ...` line; returns the script and the rest of the prompt."""
    first, _, rest = prompt.partition("\n")
    if not first.startswith("/mock"):
        return Script(), prompt
    options = dict(re.findall(r"(\w+)=(\S+)", first))
    try:
        script = Script(
            tokens=int(options["tokens"]) if "tokens" in options else None,
            tokens_per_s=float(options["rate"]) if "rate" in options else None,
            latency_ms=float(options["latency"]) if "latency" in options else None,
            fail=options.get("fail") if options.get("fail") in _FAILURE_MESSAGES else None,
            fail_after=int(options.get("after", 0)),
        )
    except ValueError:
        script = Script()
    return script, rest


@dataclass
class MockProvider:
    name = "mock"
    model: str = "mock-1"
    tokens_per_s: float = 40.0
    latency_ms: float = 300.0
    queue: deque[Script] = field(default_factory=deque)
    requests: list[list[PromptMessage]] = field(default_factory=list)

    def script(self, text: str | None = None, **options: object) -> None:
        """Queues the next answer (tests use this; chat directives do the same for users)."""
        self.queue.append(Script(text=text, **options))  # type: ignore[arg-type]

    async def stream(self, messages: Sequence[PromptMessage]) -> AsyncIterator[ProviderEvent]:
        self.requests.append(list(messages))
        last_user = next((m.content for m in reversed(messages) if m.role == "user"), "")
        directive, prompt = parse_directive(last_user)
        script = self.queue.popleft() if self.queue else directive
        if script.text is not None:
            text = script.text
        elif script.tokens is not None:
            text = _numbered_answer(script.tokens)
        else:
            text = _default_answer(prompt)
        rate = script.tokens_per_s or self.tokens_per_s
        latency = self.latency_ms if script.latency_ms is None else script.latency_ms

        await asyncio.sleep(latency / 1000)
        pieces = word_tokens(text)
        loop = asyncio.get_running_loop()
        start = loop.time()
        for index, piece in enumerate(pieces):
            if script.fail and index == script.fail_after:
                kind = "interrupted" if index > 0 else script.fail
                raise ProviderError(kind, _FAILURE_MESSAGES[kind])  # type: ignore[arg-type]
            # Pace against the clock, not per sleep, so long answers keep the set rate.
            delay = start + index / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            yield TextDelta(piece)
        if script.fail and script.fail_after >= len(pieces):
            raise ProviderError("interrupted", _FAILURE_MESSAGES["interrupted"])
        prompt_words = sum(len(m.content.split()) for m in messages)
        yield UsageReport(prompt_tokens=prompt_words, completion_tokens=len(pieces))
