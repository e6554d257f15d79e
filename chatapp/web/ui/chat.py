"""Middle panel: the conversation and the message box."""

from __future__ import annotations

import reflex as rx

from ...config import get_settings
from ..state.conversation import ConversationState
from ..state.session import SessionState
from ..state.sidebar import SidebarState
from ..state.transfer import TransferState
from .chat_settings import chat_settings_dialog
from .live_feed import transcript
from .monitor import busy
from .shortcuts import shortcuts_dialog


def _header() -> rx.Component:
    # The category's name lives with the sidebar's list, so renaming or deleting it shows here as well.
    category_name = SidebarState.category_names[ConversationState.category_id]
    return rx.hstack(
        rx.icon_button(
            rx.icon("panel-left", size=18),
            variant="ghost",
            on_click=SessionState.toggle_history,
            class_name="only-narrow",
            aria_label="Show chats",
        ),
        rx.heading(
            rx.cond(ConversationState.title != "", ConversationState.title, "New chat"),
            size="4",
            class_name="chat-title",
        ),
        rx.cond(
            category_name,
            rx.badge(
                rx.icon("tag", size=12), category_name, id="chat-category", variant="soft", high_contrast=True
            ),
        ),
        rx.spacer(),
        chat_settings_dialog(),
        rx.menu.root(
            rx.menu.trigger(
                rx.icon_button(
                    rx.icon("download", size=18), variant="ghost", id="export-button", aria_label="Export"
                )
            ),
            rx.menu.content(
                rx.menu.item("Export as Markdown", on_click=TransferState.export_chat("markdown")),
                rx.menu.item("Export as JSON", on_click=TransferState.export_chat("json")),
            ),
        ),
        shortcuts_dialog(),
        rx.color_mode.button(variant="ghost", id="theme-button", aria_label="Switch between light and dark"),
        rx.icon_button(
            rx.icon("activity", size=18),
            variant="ghost",
            on_click=SessionState.toggle_monitor,
            class_name="only-narrow",
            aria_label="Show backend monitor",
        ),
        width="100%",
        align="center",
        class_name="chat-header",
    )


def _notice() -> rx.Component:
    return rx.cond(
        SessionState.notice != "",
        rx.callout.root(
            rx.hstack(
                rx.callout.icon(rx.icon("triangle-alert", size=16)),
                rx.callout.text(SessionState.notice, id="notice"),
                rx.spacer(),
                rx.icon_button(
                    rx.icon("x", size=14),
                    variant="ghost",
                    size="1",
                    on_click=SessionState.dismiss_notice,
                    aria_label="Dismiss",
                ),
                align="center",
                width="100%",
            ),
            color_scheme="red",
            role="alert",
            size="1",
        ),
    )


class LengthGuard(rx.Component):
    """The box's length near its limit, and a word when a paste didn't fit (assets/length_guard.jsx)."""

    library = "$/public/length_guard.jsx"
    tag = "LengthGuard"
    target: rx.Var[str]
    limit: rx.Var[int]


def _composer() -> rx.Component:
    limit = get_settings().max_message_chars
    return rx.form(
        rx.hstack(
            rx.text_area(
                id="chat-input",
                name="message",
                placeholder="Message (Enter to send, Shift+Enter for a new line)",
                enter_key_submit=True,
                auto_focus=True,
                rows="2",
                resize="vertical",
                class_name="chat-input",
                # The server's limit: past it a message would be refused (and past Reflex's socket limit,
                # about 1 MB, lost on the way).
                max_length=limit,
                aria_label="Message",
            ),
            rx.cond(
                busy,
                rx.button(
                    rx.icon("square", size=16),
                    "Stop",
                    id="stop-button",
                    type="button",
                    color_scheme="red",
                    high_contrast=True,  # white on Radix's red-9 is 3.9:1
                    on_click=ConversationState.stop,
                    size="3",
                ),
                rx.button(
                    rx.icon("send-horizontal", size=16), "Send", id="send-button", type="submit", size="3"
                ),
            ),
            align="end",
            width="100%",
        ),
        LengthGuard.create(target="chat-input", limit=limit, id="chat-length", class_name="chat-length"),
        on_submit=ConversationState.user_message,
        reset_on_submit=True,
        width="100%",
    )


def chat_panel() -> rx.Component:
    return rx.vstack(
        _header(),
        transcript(),
        _notice(),
        _composer(),
        height="100%",
        width="100%",
        gap="3",
    )
