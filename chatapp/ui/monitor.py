"""Right panel: what the backend is doing, measured, for the current answer and the session."""

from __future__ import annotations

import reflex as rx

from ..state.chat import ChatState
from .live_feed import event_log


def _stat(label: str, value: rx.Var, key: str, note: rx.Var | str = "") -> rx.Component:
    return rx.box(
        rx.text(label, class_name="stat-label"),
        rx.text(value, class_name="stat-value", data_stat=key),
        rx.cond(note != "", rx.text(note, class_name="stat-note")),
        class_name="stat",
    )


def _answer_stat(label: str, value: rx.Var, key: str, note: rx.Var | str = "") -> rx.Component:
    """A number of the current answer; while it waits for its first token, the last answer's are hidden."""
    return _stat(label, rx.cond(ChatState.status == "thinking", "—", value), key, note)


def _status_badge() -> rx.Component:
    return rx.badge(
        ChatState.status,
        id="monitor-status",
        color_scheme=rx.match(
            ChatState.status,
            ("thinking", "amber"),
            ("streaming", "blue"),
            ("done", "green"),
            ("stopped", "gray"),
            ("interrupted", "orange"),
            ("error", "red"),
            "gray",
        ),
        size="2",
    )


def monitor_panel() -> rx.Component:
    answer = ChatState.answer
    totals = ChatState.totals
    return rx.vstack(
        rx.hstack(
            rx.heading("Backend", size="4"), rx.spacer(), _status_badge(), width="100%", align="center"
        ),
        rx.text(ChatState.model_label, class_name="muted", data_stat="model"),
        rx.text("This answer", class_name="section-label"),
        rx.grid(
            _answer_stat("Time to first token", answer["ttft"], "ttft"),
            _answer_stat("Tokens/s", answer["tokens_per_s"], "tokens_per_s"),
            _answer_stat("Prompt tokens", answer["prompt_tokens"], "prompt_tokens", answer["token_source"]),
            _answer_stat(
                "Completion tokens", answer["completion_tokens"], "completion_tokens", answer["token_source"]
            ),
            _answer_stat("Cost", answer["cost"], "cost"),
            _answer_stat("Total time", answer["duration"], "duration"),
            columns="2",
            gap="2",
            width="100%",
        ),
        rx.text("This session", class_name="section-label"),
        rx.grid(
            _stat("Answers", totals["answers"], "session_answers"),
            _stat("Tokens", totals["tokens"], "session_tokens"),
            _stat("Cost", totals["cost"], "session_cost"),
            _stat("Errors", totals["errors"], "session_errors"),
            columns="2",
            gap="2",
            width="100%",
        ),
        rx.text("Events", class_name="section-label"),
        event_log(),
        id="monitor",
        height="100%",
        width="100%",
        gap="2",
    )
