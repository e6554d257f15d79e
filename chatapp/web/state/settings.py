"""The open conversation's settings dialog: model, system prompt, sampling, the MCP servers it uses and the
tools it runs without asking. A new conversation keeps what was chosen for it here until its first message
creates it."""

from __future__ import annotations

import dataclasses
from typing import Any

import reflex as rx

from ... import db
from ...config import get_settings
from ...domain import MAX_SERVERS_OFF, ChatOptions, InputError, ProviderError, options_from
from ...mcp_servers.hub import hub
from ...providers import provider_for
from .. import views
from .session import SessionState


class SettingsState(SessionState):
    # As the dialog shows them ("" where the default applies), read when it opens.
    chat_settings: dict[str, str] = views.options_view(ChatOptions())
    settings_open: bool = False
    settings_error: str = ""
    models: list[str] = []  # what the provider offers, listed when the dialog opens
    defaults: dict[str, str] = {"model": "", "system_prompt": ""}  # what an empty field stands for
    servers: list[dict[str, str]] = []  # each MCP server: its name, and "on" if this conversation uses it
    allowed_tools: list[str] = []  # the tools this conversation runs without asking, as the dialog lists them
    # Settings chosen before a new conversation exists.
    _new_chat_options: dict[str, Any] = {}

    def new_chat_options(self) -> ChatOptions:
        return ChatOptions(**self._new_chat_options)

    def forget_new_chat_options(self) -> None:
        self._new_chat_options = {}

    async def _options(self) -> ChatOptions | None:
        """The open conversation's options; None if it is gone."""
        if not self.conversation_id:
            return self.new_chat_options()
        found = await db.run(
            get_settings().db_url,
            db.get_conversation,
            owner=self.owner,
            conversation_id=self.conversation_id,
        )
        return found.options if found else None

    @rx.event
    async def open_settings(self, is_open: bool = True) -> None:
        """The dialog opened: show the conversation's settings and list the provider's models (asked each
        time: they change)."""
        self.settings_open = is_open
        self.settings_error = ""
        if not is_open:
            return
        settings = get_settings()
        self.defaults = {"model": settings.model, "system_prompt": settings.system_prompt}
        options = await self._options() or ChatOptions()
        self.chat_settings = views.options_view(options)
        self.servers = [
            {"name": name, "on": "" if name in options.servers_off else "on"} for name in hub().connections
        ]
        self.allowed_tools = list(options.tools_allowed)
        provider = provider_for(settings)
        try:
            self.models = await provider.list_models()
        except ProviderError as error:
            self.models = [provider.model]
            self.settings_error = f"{error.message} Type a model name instead."

    @rx.event
    async def save_settings(self, form: dict[str, Any]) -> None:
        try:
            options = options_from(form, get_settings().max_message_chars)
        except InputError as error:
            self.settings_error = str(error)
            return
        current = await self._options() or ChatOptions()
        configured = hub().connections
        # A checkbox a form leaves out is unticked. Servers no longer configured stay as they were.
        gone = [name for name in current.servers_off if name not in configured]
        switched_off = [name for name in configured if not form.get(f"server:{name}")]
        # Only a tool the dialog listed can be unticked: one allowed meanwhile, mid-answer, stays.
        revoked = tuple(tool for tool in self.allowed_tools if not form.get(f"allowed:{tool}"))
        options = dataclasses.replace(
            options,
            servers_off=tuple((switched_off + gone)[:MAX_SERVERS_OFF]),
            tools_allowed=tuple(tool for tool in current.tools_allowed if tool not in revoked),
        )
        if self.conversation_id:
            saved = await db.run(
                get_settings().db_url,
                db.set_options,
                owner=self.owner,
                conversation_id=self.conversation_id,
                options=options,
                revoked=revoked,
            )
            if not saved:
                self.settings_error = "This conversation no longer exists."
                return
        else:
            self._new_chat_options = dataclasses.asdict(options)
        self.chat_settings = views.options_view(options)
        self.settings_open = False
