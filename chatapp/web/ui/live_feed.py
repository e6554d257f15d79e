"""The two React components that apply the append-only feed (assets/live_feed.jsx) in the browser."""

from __future__ import annotations

import reflex as rx

from ...config import get_settings
from ..state.conversation import ConversationState
from ..state.monitor import MonitorState


class _FeedComponent(rx.Component):
    library = "$/public/live_feed.jsx"
    lib_dependencies: list[str] = ["react-markdown@10.1.0", "remark-gfm@4.0.1", "rehype-highlight@7.0.2"]

    feed: rx.Var[dict]
    snapshot: rx.Var[dict]
    on_resync: rx.EventHandler[rx.event.no_args_event_spec]


class Transcript(_FeedComponent):
    tag = "Transcript"
    placeholder: rx.Var[str]
    on_select: rx.EventHandler[rx.event.passthrough_event_spec(str)]
    on_stop: rx.EventHandler[rx.event.no_args_event_spec]
    on_new_chat: rx.EventHandler[rx.event.no_args_event_spec]
    on_regenerate: rx.EventHandler[rx.event.no_args_event_spec]
    focus_id: rx.Var[str]
    on_edit: rx.EventHandler[rx.event.passthrough_event_spec(str, str)]
    max_chars: rx.Var[int]  # an edited question's limit, the server's
    on_earlier: rx.EventHandler[rx.event.no_args_event_spec]
    on_return: rx.EventHandler[rx.event.no_args_event_spec]
    on_decide: rx.EventHandler[rx.event.passthrough_event_spec(str, str)]  # a waiting tool call's answer


class EventLog(_FeedComponent):
    tag = "EventLog"


def _feed_props() -> dict:
    return {"feed": ConversationState.feed, "snapshot": ConversationState.snapshot}


def transcript() -> rx.Component:
    return Transcript.create(
        id="messages",
        placeholder="Ask anything. Answers stream in as they are written.",
        on_resync=ConversationState.resync,
        on_select=MonitorState.select_answer,
        on_stop=ConversationState.stop,
        on_new_chat=ConversationState.new_chat,
        on_regenerate=ConversationState.regenerate,
        focus_id=ConversationState.focus_message,
        on_edit=ConversationState.edit_message,
        max_chars=get_settings().max_message_chars,
        on_earlier=ConversationState.show_earlier,
        on_return=ConversationState.catch_up,
        on_decide=ConversationState.decide_tool,
        **_feed_props(),
    )


def event_log() -> rx.Component:
    # Only the transcript asks for resyncs; a snapshot serves both components.
    return EventLog.create(id="event-log", **_feed_props())
