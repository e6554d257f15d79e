"""The keyboard shortcuts, listed in a dialog: its button in the chat's header, or `?` anywhere outside a
text box (assets/live_feed.jsx presses the button)."""

from __future__ import annotations

import reflex as rx

SHORTCUTS = [
    ("Enter", "Send the message"),
    ("Shift + Enter", "A new line in the message"),
    ("Escape", "Stop the answer being written"),
    ("Ctrl + Shift + O (⌘ + Shift + O)", "A new chat"),
    ("/", "Go to the message box"),
    ("?", "This list"),
    ("Tab, Shift + Tab", "Move between controls; Enter or Space uses one"),
]


def shortcuts_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.trigger(
            rx.icon_button(
                rx.icon("keyboard", size=18),
                variant="ghost",
                id="shortcuts-button",
                aria_label="Keyboard shortcuts",
            )
        ),
        rx.dialog.content(
            rx.dialog.title("Keyboard shortcuts"),
            rx.el.dl(
                *[
                    rx.fragment(rx.el.dt(rx.el.kbd(keys), class_name="shortcut-keys"), rx.el.dd(what))
                    for keys, what in SHORTCUTS
                ],
                class_name="shortcuts",
                id="shortcuts",
            ),
            rx.flex(rx.dialog.close(rx.button("Close", variant="soft")), justify="end", margin_top="12px"),
        ),
    )
