"""One tool call within an answer: shown and saved as a step, run, and, for a tool that acts, first approved.

A call that acts (an MCP tool not marked read-only, as its server's `approve` setting says) waits for the
user's Allow or Deny, unless they allowed that tool for this conversation. Whichever way it ends (run, denied,
unanswered, stopped), the step is saved as ended and the model is told what happened.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from .. import db, telemetry
from ..domain import (
    MAX_TOOL_TEXT_CHARS,
    Message,
    ToolCall,
    ToolDecision,
    ToolStatus,
    ToolStep,
    ToolStepUpdate,
    shorten,
    tool_decision,
)
from ..domain.limits import MAX_TOOL_NAME_CHARS
from ..metering.meter import AnswerMeter
from . import tools
from .context import TurnContext

# A tool call that waits for approval this long with no answer is not run: the job can't hold its
# conversation (and the owner's place) for good when every tab was closed.
APPROVAL_TIMEOUT_S = 600.0
DECLINED = "The user declined to run this tool."
UNANSWERED = f"Nobody answered the request to run this tool within {APPROVAL_TIMEOUT_S / 60:g} minutes."
ARGUMENTS_IN_LOG_CHARS = 80


class Approvals:
    """The tool calls of one turn that wait for the user's answer, by step id."""

    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Future[ToolDecision]] = {}

    def decide(self, step_id: str, decision: ToolDecision) -> bool:
        """The user's answer to a call that waits; False if none waits by that id."""
        waiting = self._waiting.get(step_id)
        if waiting is None or waiting.done() or tool_decision(decision) is None:
            return False
        waiting.set_result(decision)
        return True

    async def wait(self, step_id: str) -> ToolDecision | None:
        """The user's answer, or None when none came within APPROVAL_TIMEOUT_S."""
        decided: asyncio.Future[ToolDecision] = asyncio.get_running_loop().create_future()
        self._waiting[step_id] = decided
        try:
            return await asyncio.wait_for(decided, APPROVAL_TIMEOUT_S)
        except TimeoutError:
            return None
        finally:
            del self._waiting[step_id]


class ToolStepRun:
    """Runs one call as a step of `assistant`; `result()` is what the model gets back."""

    def __init__(
        self,
        context: TurnContext,
        assistant: Message,
        call: ToolCall,
        approvals: Approvals,
        meter: AnswerMeter,
    ) -> None:
        self._context = context
        self._assistant = assistant
        self._call = call
        self._approvals = approvals
        self._meter = meter

    async def result(self) -> str:
        context, call, assistant = self._context, self._call, self._assistant
        remote = tools.remote(call.name, context.options.servers_off)
        ask = remote is not None and remote.needs_approval and call.name not in context.options.tools_allowed
        # In the event log, an MCP tool is named with its server, as the chat's step shows it.
        label = f"{remote.tool.server} › {remote.tool.name}" if remote else call.name
        step = await context.db(
            db.add_tool_step,
            message_id=assistant.id,
            # As the columns take them: a model server may send anything.
            call_id=call.id[:MAX_TOOL_NAME_CHARS],
            name=call.name[:MAX_TOOL_NAME_CHARS],
            arguments=call.arguments[:MAX_TOOL_TEXT_CHARS],
            server=remote.tool.server if remote else "",
            status="waiting" if ask else "running",
        )
        context.emit(ToolStepUpdate(step))
        started: float | None = None  # once it runs
        try:
            if ask:
                assert remote is not None
                refusal = await self._approval(step, label)
                now = tools.remote(call.name, context.options.servers_off)
                if refusal is None and now != remote:
                    # Its server went away, or came back with other tools: what was allowed isn't what runs.
                    refusal = "error", _changed(remote.tool.server, gone=now is None)
                if refusal is not None:
                    status, why = refusal
                    self._trace(step.server, status)
                    await self._end(step, status, why, 0.0)
                    context.status("tool_finished", assistant, f"{label} not run: {why}")
                    return why
            started = context.clock()
            arguments = shorten(call.arguments, ARGUMENTS_IN_LOG_CHARS, flatten=True)
            context.status("tool_started", assistant, f"{label} {arguments}")
            outcome = await tools.call(
                call.name,
                call.arguments,
                tools.ToolContext(context.owner, context.settings.db_url, context.options.servers_off),
            )
            self._trace(step.server, outcome.status, started, outcome.result)
        except asyncio.CancelledError:
            self._trace(step.server, "error", started)
            # Saved and shown as ended: otherwise the step says "running" (or waits) for good, here and in
            # the database.
            if started is None:
                await self._end(step, "error", "Stopped while it waited for approval.", 0.0)
            else:
                await self._end(
                    step, "error", "Stopped before it finished.", (context.clock() - started) * 1000
                )
            raise
        await self._end(step, outcome.status, outcome.result, outcome.duration_ms)
        context.status(
            "tool_finished", assistant, f"{label} {outcome.status} in {outcome.duration_ms:.0f} ms"
        )
        return outcome.result if outcome.status == "ok" else f"Error: {outcome.result}"

    async def _approval(self, step: ToolStep, label: str) -> tuple[ToolStatus, str] | None:
        """Waits for the user's Allow or Deny of the step; None once allowed, else how the step ends and what
        the model is told. The answer's timings leave the wait out. Allowed "always", the tool runs in this
        conversation from now on without asking."""
        context, assistant = self._context, self._assistant
        context.status("tool_waiting", assistant, f"{label} waits for your approval")
        waiting_since = context.clock()
        try:
            decision = await self._approvals.wait(step.id)
        finally:
            self._meter.waited(context.clock() - waiting_since)
        if decision is None:
            return "error", UNANSWERED
        if decision == "deny":
            return "denied", DECLINED
        if decision == "always":
            context.options = replace(
                context.options, tools_allowed=(*context.options.tools_allowed, step.name)
            )
            await context.db(
                db.allow_tool, owner=context.owner, conversation_id=assistant.conversation_id, tool=step.name
            )
        started = await context.db(db.start_tool_step, step_id=step.id)
        if started is not None:
            context.emit(ToolStepUpdate(started))
        return None

    async def _end(self, step: ToolStep, status: ToolStatus, result: str, duration_ms: float) -> None:
        ended = await self._context.db(
            db.finish_tool_step,
            step_id=step.id,
            status=status,
            result=result[:MAX_TOOL_TEXT_CHARS],
            duration_ms=duration_ms,
        )
        if ended is not None:
            self._context.emit(ToolStepUpdate(ended))

    def _trace(self, server: str, status: str, started: float | None = None, result: str = "") -> None:
        """The call for the exporters: from when it started running (if it did) to now."""
        trace = self._context.trace
        if trace is None:
            return
        now, call, content = self._context.clock(), self._call, trace.with_content
        trace.tools.append(
            telemetry.ToolRecord(
                name=call.name,
                call_id=call.id,
                server=server,
                started=now if started is None else started,
                ended=now,
                status=status,
                arguments=call.arguments if content else "",
                result=result if content else "",
            )
        )


def _changed(server: str, *, gone: bool) -> str:
    if gone:
        return f"The MCP server '{server}' went away while the call waited for approval."
    return "The tool changed while it waited for approval, so it was not run."
