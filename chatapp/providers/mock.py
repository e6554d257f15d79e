"""A scripted provider: deterministic answers at a set pace, with failures on demand.

Tests queue answers or failures on an instance. A user (or a demo) can steer it from the chat itself with a
first line such as `/mock tokens=300 rate=200 latency=0 fail=rate_limit after=20`:
  tokens   answer with this many word tokens
  rate     tokens per second
  latency  delay before the first token, in ms
  fail     auth | rate_limit | server | unreachable | interrupted
  after    fail after this many tokens (default: before the first one)
  echo     answer with the rest of the message, as it was written
  tool     `tool=NAME:VALUE` calls a tool first (repeatable); `rounds=N` keeps calling for N rounds

A one-shot request (the app naming a new conversation) gets two lines, a title made from the last message and
the first offered category that message names, so a demo or a test steers it by what it writes. It lists
`mock-1` and `mock-2` as its models, and stops at a conversation's max tokens, counted in words.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..domain import (
    DEFAULT_OPTIONS,
    ChatOptions,
    PromptMessage,
    ProviderError,
    ProviderEvent,
    TextDelta,
    ToolCall,
    UsageReport,
    title_from_message,
)
from ..metering import tokens

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
    # Tools to call instead of answering, as (name, JSON arguments), for this many rounds in a row.
    tool_calls: tuple[tuple[str, str], ...] = ()
    tool_rounds: int = 1
    refusal: str = ""  # a directive out of bounds: the answer is this error instead


# What a directive may ask for: enough for any demo or load test, never enough to hold up the server.
LIMITS = {
    "tokens": (1, 20_000),
    "rate": (0.5, 10_000),
    "latency": (0, 60_000),
    "after": (0, 20_000),
    "rounds": (1, 10),
}


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
        "- `/mock tool=calculator:6*7` calls a tool first; `/mock fail=server` shows a failure."
    )


def _after_tools(results: list[str], rest: str) -> str:
    listed = "\n".join(f"- `{result}`" for result in results)
    return f"The tools answered:\n\n{listed}\n\n{rest}"


def parse_directive(prompt: str) -> tuple[Script, str]:
    """Reads a leading `/mock key=value ...` line; returns the script and the rest of the prompt."""
    first, _, rest = prompt.partition("\n")
    if not first.startswith("/mock"):
        return Script(), prompt
    pairs = re.findall(r"(\w+)=(\S+)", first)
    options = dict(pairs)
    for key, (low, high) in LIMITS.items():
        if key in options and not _within(options[key], low, high):
            return Script(refusal=f"/mock {key} is a number from {low:,} to {high:,}."), rest
    # `tool=NAME:VALUE` may repeat; VALUE becomes the tool's first argument when the script is played.
    calls = tuple((value.partition(":")[0], value.partition(":")[2]) for key, value in pairs if key == "tool")
    try:
        script = Script(
            # `echo` answers with the rest of the message, as written: any markdown, streamed word by word.
            text=rest if re.search(r"(^|\s)echo(\s|$)", first) else None,
            tokens=int(options["tokens"]) if "tokens" in options else None,
            tokens_per_s=float(options["rate"]) if "rate" in options else None,
            latency_ms=float(options["latency"]) if "latency" in options else None,
            fail=options.get("fail") if options.get("fail") in _FAILURE_MESSAGES else None,
            fail_after=int(options.get("after", 0)),
            tool_calls=calls,
            tool_rounds=int(options.get("rounds", 1)),
        )
    except ValueError:  # a whole number written as a fraction
        script = Script(refusal="/mock tokens, after and rounds are whole numbers.")
    return script, rest


def _within(raw: str, low: float, high: float) -> bool:
    try:
        return low <= float(raw) <= high  # NaN is never within
    except ValueError:
        return False


def _arguments(tool_name: str, value: str, tools: Sequence[dict[str, Any]]) -> str:
    """A directive's `name:value` as JSON arguments: the value goes to the tool's first parameter."""
    if value.startswith("{"):
        return value
    for spec in tools:
        function = spec["function"]
        if function["name"] == tool_name:
            parameters = function["parameters"]
            names = parameters.get("required") or list(parameters.get("properties") or {})
            return json.dumps({names[0]: value} if names else {})  # a tool that takes nothing gets {}
    return json.dumps({"input": value})


def _since_last_user(messages: Sequence[PromptMessage]) -> list[PromptMessage]:
    """The tool rounds of the answer being written: everything after the user's message."""
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].role == "user":
            return list(messages[index + 1 :])
    return []


@dataclass
class MockProvider:
    name = "mock"
    supports_tools = True
    context_window = 8192  # pretend, so the context gauge has something to show
    model: str = "mock-1"
    # What the settings dialog lists besides `model`: a second name, to show (and test) choosing one.
    other_models: tuple[str, ...] = ("mock-2",)
    tokens_per_s: float = 40.0
    latency_ms: float = 300.0
    queue: deque[Script] = field(default_factory=deque)
    requests: list[list[PromptMessage]] = field(default_factory=list)
    options: list[ChatOptions] = field(default_factory=list)  # what each request asked for
    one_shot_requests: list[list[PromptMessage]] = field(default_factory=list)
    offered: list[list[str]] = field(default_factory=list)  # tool names offered with each request

    def script(self, text: str | None = None, **options: object) -> None:
        """Queues the next answer (tests use this; chat directives do the same for users)."""
        self.queue.append(Script(text=text, **options))  # type: ignore[arg-type]

    async def list_models(self) -> list[str]:
        return [self.model, *(m for m in self.other_models if m != self.model)]

    async def complete(
        self, messages: Sequence[PromptMessage], options: ChatOptions = DEFAULT_OPTIONS
    ) -> str:
        """Kept apart from the answers' requests and from queued answers."""
        self.one_shot_requests.append(list(messages))
        await asyncio.sleep(self.latency_ms / 1000)
        return _title_and_category(messages[-1].content if messages else "")

    async def stream(
        self,
        messages: Sequence[PromptMessage],
        tools: Sequence[dict[str, Any]] = (),
        options: ChatOptions = DEFAULT_OPTIONS,
    ) -> AsyncIterator[ProviderEvent]:
        last_user = next((m.content for m in reversed(messages) if m.role == "user"), "")
        directive, prompt = parse_directive(last_user)
        self.requests.append(list(messages))
        self.options.append(options)
        self.offered.append([spec["function"]["name"] for spec in tools])
        script = self.queue.popleft() if self.queue else directive
        if script.refusal:
            raise ProviderError("bad_request", script.refusal)
        rate = script.tokens_per_s or self.tokens_per_s
        latency = self.latency_ms if script.latency_ms is None else script.latency_ms
        await asyncio.sleep(latency / 1000)

        this_answer = _since_last_user(messages)
        rounds_done = sum(1 for m in this_answer if m.tool_calls)
        if script.tool_calls and tools and rounds_done < script.tool_rounds:
            for index, (name, value) in enumerate(script.tool_calls):
                yield ToolCall(
                    id=f"call_{rounds_done}_{index}", name=name, arguments=_arguments(name, value, tools)
                )
            yield _usage(messages, tools, json.dumps(script.tool_calls))
            return

        if script.text is not None:
            text = script.text
        elif script.tokens is not None:
            text = _numbered_answer(script.tokens)
        else:
            text = _default_answer(prompt)
        results = [m.content for m in this_answer if m.role == "tool"]
        if results:
            text = _after_tools(results, text)
        pieces = word_tokens(text)
        if options.max_tokens is not None:  # a server stops at the limit; words stand in for tokens here
            pieces = pieces[: options.max_tokens]
            text = "".join(pieces)
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
        yield _usage(messages, tools, text)


def _title_and_category(request: str) -> str:
    """`Title:` and `Category:` lines for a request that ends with `Message: ...` and `Categories: a, b`: the
    message's first words, and the first category it names, else "Other"."""
    message, _, listed = request.rpartition("\nCategories: ")
    message = message.removeprefix("Message: ")
    words = {w.lower() for w in re.findall(r"\w+", message)}
    category = next((c for c in listed.split(", ") if c.lower() in words), "Other")
    return f"Title: {title_from_message(message)}\nCategory: {category}"


def _usage(messages: Sequence[PromptMessage], tools: Sequence[dict[str, Any]], answer: str) -> UsageReport:
    """What a real server would report, counted with the bundled encoding (so it matches the estimate)."""
    encoding = tokens.encoding_for("")
    prompt = tokens.count_prompt(messages, encoding) + (
        tokens.count(json.dumps(list(tools)), encoding) if tools else 0
    )
    return UsageReport(prompt_tokens=prompt, completion_tokens=tokens.count(answer, encoding))
