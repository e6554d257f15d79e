"""The answer loop: requests until the model answers in words, each round's tool calls run in between.

A round whose model asks for tools runs them and sends their results back; past `max_tool_rounds` tools are
withheld, so the model has to answer in words. A rate limit before the first token, with a short advised
wait, is waited out once, in sight of the user. The text is held to MAX_ANSWER_CHARS.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..domain import AnswerDelta, Message, MessageStatus, PromptMessage, ProviderError, ToolCall
from ..metering import tokens
from ..metering.meter import AnswerMeter
from . import tools
from .context import TurnContext
from .request import AnswerText, ProviderRequest
from .tool_step import Approvals, ToolStepRun


class AnswerLoop:
    def __init__(
        self,
        context: TurnContext,
        assistant: Message,
        meter: AnswerMeter,
        text: AnswerText,
        approvals: Approvals,
    ) -> None:
        self._context = context
        self._assistant = assistant
        self._meter = meter
        self._text = text
        self._approvals = approvals

    async def run(self, prompt: list[PromptMessage]) -> tuple[MessageStatus, str]:
        """How the answer ended, and the error to show with it. Stop (a cancel) ends it as "stopped"."""
        context, meter, text = self._context, self._meter, self._text
        offered = tools.specs(context.options.servers_off) if context.provider.supports_tools else []
        tool_tokens = tools.spec_tokens(offered, meter.encoding) if offered else 0
        max_rounds = context.settings.max_tool_rounds
        try:
            for round_number in range(max_rounds + 1):
                # Past the last allowed round, tools are withheld: the model has to answer in words.
                allowed = offered if round_number < max_rounds else []
                meter.request_sent(
                    tokens.count_prompt(prompt, meter.encoding) + (tool_tokens if allowed else 0)
                )
                # The model is named in the panel's header; a later round says which one it is.
                detail = ""
                if round_number:
                    detail = f"round {round_number + 1}" + ("" if allowed else " · tools withheld")
                context.status("request_sent", self._assistant, detail)
                if text.parts and not text.parts[-1][-1:].isspace():
                    # The text of a new round starts a new paragraph, not the middle of the last sentence.
                    context.emit(AnswerDelta(text.add("\n\n")))
                round_start = len(text.parts)
                calls = await self._request_or_retry(prompt, allowed)
                if not calls:
                    break
                if not allowed:
                    # Tools were withheld, yet the server asked for some: no model would read their results.
                    if not text.parts:
                        return "error", f"The model still wanted tools after {round_number} rounds."
                    break
                prompt = [
                    *prompt,
                    PromptMessage("assistant", text.since(round_start), tool_calls=tuple(calls)),
                ]
                for call in calls:
                    result = await ToolStepRun(
                        context, self._assistant, call, self._approvals, meter
                    ).result()
                    prompt.append(PromptMessage("tool", result, tool_call_id=call.id))
        except asyncio.CancelledError:
            return "stopped", ""
        except ProviderError as failure:
            return ("interrupted" if failure.kind == "interrupted" else "error"), failure.message
        return "complete", ""

    async def _request_or_retry(
        self, prompt: list[PromptMessage], offered: list[dict[str, Any]]
    ) -> list[ToolCall]:
        """A request; rate limited before the answer's first token, with a short advised wait, it is sent
        once more after that wait, shown as it happens. Past the first token a retry would repeat text."""
        try:
            return await self._request(prompt, offered)
        except ProviderError as failure:
            wait = failure.retry_after_s
            if failure.kind != "rate_limit" or wait is None or self._meter.first_token_at is not None:
                raise
        self._context.status(
            "retry", self._assistant, f"rate limited · trying again in {wait:g} s, as the server asked"
        )
        await asyncio.sleep(wait)  # Stop cancels the wait like any other
        self._meter.waited(wait)
        return await self._request(prompt, offered)

    async def _request(self, prompt: list[PromptMessage], offered: list[dict[str, Any]]) -> list[ToolCall]:
        return await ProviderRequest(self._context, self._meter, self._assistant, self._text).send(
            prompt, offered
        )
