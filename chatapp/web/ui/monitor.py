"""Right panel: what the backend is doing, measured, for the current answer and the session."""

from __future__ import annotations

import reflex as rx

from ..state.conversation import BUSY, ConversationState
from ..state.monitor import MonitorState
from .live_feed import event_log

busy = rx.Var.create(list(BUSY)).contains(ConversationState.status)
LIVE_KEYS = ("ttft", "tokens_per_s", "duration")  # what MonitorState.live carries while an answer streams


def _stat(
    label: str, value: rx.Var | str, key: str, note: rx.Var | str = "", more: rx.Var | str = ""
) -> rx.Component:
    """A number, its label, and a note under it; `more`: what the note leaves out, as its tooltip."""
    return rx.box(
        rx.text(label, class_name="stat-label"),
        rx.text(value, class_name="stat-value", data_stat=key),
        rx.cond(note != "", rx.text(note, class_name="stat-note", title=more, data_note=key)),
        class_name="stat",
    )


def _answer_stat(label: str, key: str, note: rx.Var | str = "", more: rx.Var | str = "") -> rx.Component:
    """A number of the current answer. While it streams, the live value where there is one, else a dash."""
    while_streaming = MonitorState.live[key] if key in LIVE_KEYS else "—"
    return _stat(label, rx.cond(busy, while_streaming, MonitorState.answer[key]), key, note, more)


def _tokens_stat(label: str, kind: str) -> rx.Component:
    """Estimated and reported side by side: each number says where it came from."""
    answer = MonitorState.answer
    while_streaming = MonitorState.live["completion_tokens"] if kind == "completion" else "—"
    estimated = rx.cond(busy, while_streaming, answer[f"{kind}_estimated"])
    return rx.box(
        rx.text(label, class_name="stat-label"),
        rx.hstack(
            rx.text(estimated, class_name="stat-value", data_stat=f"{kind}_estimated"),
            rx.text("estimated", class_name="stat-note"),
            align="baseline",
            gap="1",
        ),
        rx.hstack(
            rx.text(
                rx.cond(busy, "—", answer[f"{kind}_reported"]),
                class_name="stat-value",
                data_stat=f"{kind}_reported",
            ),
            rx.text("reported", class_name="stat-note"),
            align="baseline",
            gap="1",
        ),
        rx.cond(
            ~busy & (answer[f"{kind}_off"] != ""),
            rx.text(answer[f"{kind}_off"], class_name="stat-note", data_stat=f"{kind}_off"),
        ),
        class_name="stat",
    )


def _status_badge() -> rx.Component:
    return rx.badge(
        ConversationState.status,
        id="monitor-status",
        color_scheme=rx.match(
            ConversationState.status,
            ("thinking", "amber"),
            ("streaming", "blue"),
            ("running a tool", "cyan"),
            ("waiting for approval", "violet"),
            ("done", "green"),
            ("stopped", "gray"),
            ("interrupted", "orange"),
            ("error", "red"),
            "gray",
        ),
        high_contrast=True,
        size="2",
        role="status",  # each change (thinking, streaming, done, ...) is announced once, politely
    )


def _speed_chart() -> rx.Component:
    return rx.recharts.line_chart(
        rx.recharts.line(data_key="tps", stroke="var(--accent-9)", dot=False, is_animation_active=False),
        rx.recharts.x_axis(data_key="s", unit=" s", tick_line=False, font_size=10),
        rx.recharts.y_axis(width=34, tick_line=False, font_size=10),
        rx.recharts.graphing_tooltip(),
        data=MonitorState.speed_points,
        height=110,
        width="100%",
    )


def _answer_section() -> rx.Component:
    answer = MonitorState.answer
    return rx.vstack(
        rx.text(MonitorState.answer_heading, class_name="section-label"),
        rx.grid(
            _answer_stat("Time to first token", "ttft"),
            # While it streams: how often this tab is sent the answer (fewer when the server is busy).
            _answer_stat("Tokens/s", "tokens_per_s", rx.cond(busy, MonitorState.live["updates"], "")),
            _answer_stat("Inter-token p50 / p95", "itl"),
            _answer_stat("Total time", "duration"),
            _tokens_stat("Prompt tokens", "prompt"),
            _tokens_stat("Completion tokens", "completion"),
            _answer_stat("Cost", "cost", rx.cond(busy, "", answer["price"]), answer["price_sheet"]),
            rx.box(
                rx.text("Context", class_name="stat-label"),
                rx.text(
                    rx.cond(busy, "—", answer["context"]),
                    class_name="stat-value stat-small",
                    data_stat="context",
                ),
                rx.box(
                    rx.box(width=rx.cond(busy, "0%", answer["context_percent"] + "%")), class_name="gauge"
                ),
                class_name="stat",
            ),
            columns="2",
            gap="2",
            width="100%",
        ),
        rx.text("Counted with ", answer["encoding"], class_name="stat-note"),
        rx.cond(MonitorState.speed_points.length() > 1, _speed_chart()),
        width="100%",
        gap="2",
    )


def _totals(totals: rx.Var, scope: str) -> rx.Component:
    return rx.grid(
        _stat("Answers", totals["answers"], f"{scope}_answers"),
        _stat("Tokens", totals["tokens"], f"{scope}_tokens"),
        _stat("Cost", totals["cost"], f"{scope}_cost"),
        _stat("Errors", totals["errors"], f"{scope}_errors"),
        columns="2",
        gap="2",
        width="100%",
    )


def _session_section() -> rx.Component:
    return rx.vstack(
        rx.text("This conversation", class_name="section-label"),
        _totals(MonitorState.conversation_totals, "conversation"),
        rx.cond(
            MonitorState.cost_points.length() > 0,
            rx.recharts.composed_chart(
                rx.recharts.bar(
                    data_key="tokens", fill="var(--accent-8)", y_axis_id="tokens", is_animation_active=False
                ),
                rx.recharts.line(data_key="cost", stroke="var(--orange-9)", y_axis_id="cost", dot=False),
                rx.recharts.x_axis(data_key="answer", tick_line=False, font_size=10),
                rx.recharts.y_axis(y_axis_id="tokens", width=40, font_size=10),
                rx.recharts.y_axis(y_axis_id="cost", orientation="right", width=50, font_size=10),
                rx.recharts.graphing_tooltip(),
                data=MonitorState.cost_points,
                height=130,
                width="100%",
            ),
        ),
        rx.text("This session", class_name="section-label"),
        _totals(MonitorState.session_totals, "session"),
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    rx.table.column_header_cell("Model"),
                    rx.table.column_header_cell("Req / err"),
                    rx.table.column_header_cell("TTFT p50 / p95"),
                    rx.table.column_header_cell("Tok/s p50 / p95"),
                    rx.table.column_header_cell("Estimate off"),
                )
            ),
            rx.table.body(
                rx.foreach(
                    MonitorState.model_rows,
                    lambda row: rx.table.row(
                        rx.table.cell(row["model"]),
                        rx.table.cell(row["requests"], " / ", row["errors"]),
                        rx.table.cell(row["ttft"]),
                        rx.table.cell(row["tokens_per_s"]),
                        rx.table.cell(row["estimate_off"]),
                    ),
                )
            ),
            size="1",
            id="model-stats",
            width="100%",
        ),
        width="100%",
        gap="2",
    )


def _tool_group(group: rx.Var) -> rx.Component:
    return rx.box(
        rx.hstack(
            rx.text(group["server"], weight="medium", size="1"),
            rx.badge(
                group["status"],
                color_scheme=rx.match(
                    group["status"], ("ready", "gray"), ("connected", "green"), ("connecting", "amber"), "red"
                ),
                size="1",
                variant="soft",
                high_contrast=True,  # the soft badges' own text falls short of 4.5:1
            ),
            align="center",
            gap="2",
        ),
        rx.cond(group["problem"] != "", rx.text(group["problem"], class_name="stat-note tool-problem")),
        rx.cond(group["tools"] != "", rx.text(group["tools"], class_name="stat-note")),
        class_name="tool-group",
        data_server=group["server"],
    )


def _tool_groups() -> rx.Component:
    """The tools a model may call, by who runs them (the app, each MCP server), each server's status."""
    return rx.cond(
        MonitorState.tool_groups.length() > 0,
        rx.box(rx.foreach(MonitorState.tool_groups, _tool_group), id="tool-groups", class_name="tool-groups"),
    )


def monitor_panel() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.heading("Backend", size="4"), rx.spacer(), _status_badge(), width="100%", align="center"
        ),
        rx.text(MonitorState.model_label, class_name="muted", data_stat="model"),
        rx.cond(
            MonitorState.tools_note != "",
            rx.text(MonitorState.tools_note, class_name="stat-note", id="tools-note"),
        ),
        _tool_groups(),
        _answer_section(),
        rx.tabs.root(
            rx.tabs.list(
                rx.tabs.trigger("Events", value="events", id="events-tab"),
                rx.tabs.trigger("Session", value="session", id="session-tab"),
            ),
            rx.tabs.content(event_log(), value="events", class_name="monitor-tab"),
            rx.tabs.content(_session_section(), value="session", class_name="monitor-tab"),
            value=MonitorState.monitor_tab,
            on_change=MonitorState.set_monitor_tab,
            width="100%",
        ),
        id="monitor",
        height="100%",
        width="100%",
        gap="2",
    )
