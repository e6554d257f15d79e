"""The page: three panels in a 3 / 6 / 3 grid; on a narrow screen the side panels slide over the chat."""

from __future__ import annotations

from typing import Any

import reflex as rx

from ...rest import exchange
from ..state.session import SessionState
from ..state.transfer import TransferState
from .chat import chat_panel
from .history import history_panel
from .monitor import monitor_panel


def _settings_dialog() -> rx.Component:
    api_url = rx.config.get_config().api_url.rstrip("/")
    curl = "curl -H 'Authorization: Bearer " + SessionState.owner_key + f"' {api_url}/chats"
    return rx.dialog.root(
        rx.dialog.trigger(
            rx.icon_button(
                rx.icon("settings", size=16), variant="ghost", aria_label="Settings", id="settings-button"
            )
        ),
        rx.dialog.content(
            rx.dialog.title("Settings"),
            rx.text("Your owner key", weight="bold", size="2"),
            rx.text(
                "This browser's conversations belong to this key. "
                "Scripts use it to read them through the REST API.",
                size="2",
                class_name="muted",
            ),
            rx.code(SessionState.owner_key, id="owner-key", class_name="owner-key"),
            rx.text("Example", weight="bold", size="2", margin_top="12px"),
            rx.code(curl, class_name="owner-key"),
            rx.flex(rx.dialog.close(rx.button("Close", variant="soft")), justify="end", margin_top="12px"),
        ),
    )


def _with_labelled_input(upload: rx.Component, label: str) -> rx.Component:
    """Names the file input inside Reflex's upload zone for screen readers: the zone makes the input itself
    and takes no props for it."""
    zone = upload.children[0]
    zone.children[0].custom_attrs["aria-label"] = label
    return upload


def page() -> rx.Component:
    # The three panels are landmarks with names: a screen reader's user moves between them by name.
    return rx.box(
        rx.el.aside(
            history_panel(),
            rx.hstack(
                _settings_dialog(),
                _with_labelled_input(
                    rx.upload.root(
                        rx.button(rx.icon("upload", size=14), "Import", variant="ghost", size="1"),
                        id="import-upload",
                        accept={"application/json": [".json"]},
                        max_files=1,
                        max_size=exchange.MAX_IMPORT_BYTES,
                        no_drag=True,
                        # Only the reason goes to the backend: the rejected file itself would travel with it.
                        on_drop_rejected=lambda rejected: TransferState.import_refused(
                            rejected.to(list[dict[str, Any]])[0]
                            .to(dict[str, Any])["errors"]
                            .to(list[dict[str, str]])[0]
                            .to(dict[str, str])["code"]
                        ),
                        on_drop=TransferState.import_chat(rx.upload_files(upload_id="import-upload")),
                    ),
                    "Import a conversation from a JSON export",
                ),
                class_name="settings-corner",
                align="center",
            ),
            class_name=rx.cond(SessionState.show_history, "panel panel-left panel-open", "panel panel-left"),
            aria_label="Conversations",
        ),
        rx.el.main(chat_panel(), class_name="panel panel-middle", aria_label="Chat"),
        rx.el.aside(
            monitor_panel(),
            class_name=rx.cond(
                SessionState.show_monitor, "panel panel-right panel-open", "panel panel-right"
            ),
            aria_label="Backend monitor",
        ),
        class_name="app-grid",
    )
