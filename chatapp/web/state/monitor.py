"""The right panel's numbers: the model, the answer being streamed or selected, and the session statistics.

`live` holds the few numbers that move while an answer streams; `answer` all of them, for the last finished
answer or the one the user selected. The stream calls the `show_*` methods; the UI calls the handlers.
"""

from __future__ import annotations

from typing import Any

import reflex as rx

from ... import db
from ...config import get_settings
from ...domain import Message, Metrics
from ...mcp_servers.hub import hub
from ...metering.meter import AnswerRecord
from ...providers import provider_for
from ...turns import tools
from .. import views
from .session import SessionState

MAX_SPEED_POINTS = 40
MIN_TOKENS_TO_CHART = 10


class MonitorState(SessionState):
    model_label: str = "—"
    tools_note: str = ""  # when the model is offered no tools, why
    tool_groups: list[dict[str, str]] = []  # else the tools, by who runs them, with each server's status
    answer_heading: str = "This answer"
    answer: dict[str, str] = views.metrics_view(Metrics())
    live: dict[str, str] = views.live_view(Metrics())
    speed_points: list[dict[str, float]] = []
    # Session statistics go out only while their tab is open: nothing is sent that nobody looks at.
    monitor_tab: str = "events"
    conversation_totals: dict[str, str] = views.totals_view([])
    session_totals: dict[str, str] = views.totals_view([])
    model_rows: list[dict[str, str]] = []
    cost_points: list[dict[str, Any]] = []
    _conversation_records: list[AnswerRecord] = []
    _session_records: list[AnswerRecord] = []

    # --- what the UI asks ---------------------------------------------------------------------------

    @rx.event
    async def select_answer(self, message_id: str) -> None:
        """An answer's summary line was clicked: the monitor shows that answer's numbers."""
        found = await db.run(get_settings().db_url, db.get_message, owner=self.owner, message_id=message_id)
        if found is None or found.role != "assistant":
            return
        self.answer_heading = f"Answer of {found.created_at.astimezone():%H:%M:%S}"
        self.answer = views.metrics_view(found.metrics)
        self.show_monitor = True

    @rx.event
    def set_monitor_tab(self, tab: str) -> None:
        self.monitor_tab = "session" if tab == "session" else "events"
        self._refresh_statistics()

    # --- what the tab shows ------------------------------------------------------------------------

    def show_provider(self) -> None:
        settings = get_settings()
        provider = provider_for(settings)
        # Assigning a var sends it, even unchanged: these go out only when they differ.
        label = views.model_label(Metrics(model=settings.model, provider=provider.name))
        if label != self.model_label:
            self.model_label = label
        note = "" if provider.supports_tools else "The local model runs without tools."
        if note != self.tools_note:
            self.tools_note = note
        self.show_tools()

    def show_tools(self) -> None:
        """MCP servers connect and drop in their own time: their statuses are read again when an answer
        starts or ends and when the tab comes back into view."""
        servers = hub()
        groups = (
            []
            if self.tools_note
            else views.tool_groups(
                list(tools.REGISTRY), servers.problem, servers.statuses(frozenset(tools.REGISTRY))
            )
        )
        if groups != self.tool_groups:
            self.tool_groups = groups

    def show_conversation(self, saved: list[Message], *, streaming: bool) -> None:
        """A conversation was opened: its statistics, and its last answer's numbers unless one streams."""
        self._conversation_records = [
            AnswerRecord.of(m) for m in saved if m.role == "assistant" and m.metrics.provider
        ]
        if not streaming:
            last_answer = next((m for m in reversed(saved) if m.role == "assistant"), None)
            self.answer_heading = "This answer"
            self.answer = views.metrics_view(last_answer.metrics if last_answer else Metrics())
        self._refresh_statistics()

    def show_start(self, assistant: Message) -> None:
        self.show_tools()
        if self.speed_points:
            self.speed_points = []
        if self.answer_heading != "This answer":
            self.answer_heading = "This answer"
        label = views.model_label(assistant.metrics)
        if label != self.model_label:
            self.model_label = label

    def show_live(self, metrics: Metrics, updates_per_s: int) -> None:
        self.live = views.live_view(metrics, updates_per_s)
        # The first few tokens make a noisy rate: the chart starts once there is something to measure.
        enough = (metrics.estimated_completion_tokens or 0) >= MIN_TOKENS_TO_CHART
        if enough and metrics.tokens_per_s is not None and metrics.duration_ms is not None:
            points = [
                *self.speed_points,
                {"s": round(metrics.duration_ms / 1000, 1), "tps": round(metrics.tokens_per_s, 1)},
            ]
            # Keep the chart small on the wire: past the limit, every other point goes.
            self.speed_points = points if len(points) <= MAX_SPEED_POINTS else points[::2]

    def show_done(self, message: Message, *, in_open_conversation: bool) -> None:
        self.answer = views.metrics_view(message.metrics)
        self.show_tools()
        record = AnswerRecord.of(message)
        self._session_records = [*self._session_records, record]
        if in_open_conversation:
            self._conversation_records = [*self._conversation_records, record]
        self._refresh_statistics()

    def _refresh_statistics(self) -> None:
        if self.monitor_tab != "session":
            return
        self.conversation_totals = views.totals_view(self._conversation_records)
        self.session_totals = views.totals_view(self._session_records)
        self.model_rows = views.session_rows(self._session_records)
        self.cost_points = views.cost_points(self._conversation_records)
