"""The open conversation's settings: model, system prompt, temperature, max tokens, its MCP servers and the
tools it runs without asking."""

from __future__ import annotations

import reflex as rx

from ...config import get_settings
from ..state.settings import SettingsState


def _field(label: str, hint: str, control: rx.Component) -> rx.Component:
    return rx.vstack(
        rx.text(label, size="2", weight="bold"),
        control,
        rx.text(hint, size="1", class_name="muted"),
        gap="1",
        width="100%",
    )


def _number_field(label: str, hint: str, name: str, input_mode: str) -> rx.Component:
    return _field(
        label,
        hint,
        rx.input(
            name=name,
            id="settings-" + name.replace("_", "-"),
            default_value=SettingsState.chat_settings[name],
            placeholder="model default",
            input_mode=input_mode,
            max_length=20,
        ),
    )


def _check(name: rx.Var, label: rx.Var, checked: rx.Var) -> rx.Component:
    # A plain checkbox: the form sends it when ticked and leaves it out when not.
    return rx.el.label(
        rx.el.input(type="checkbox", name=name, default_checked=checked), label, class_name="settings-check"
    )


def _tools_fields() -> rx.Component:
    return rx.fragment(
        rx.cond(
            SettingsState.servers.length() > 0,
            _field(
                "MCP servers",
                "A server switched off here offers this conversation none of its tools.",
                rx.flex(
                    rx.foreach(
                        SettingsState.servers,
                        lambda server: _check(
                            "server:" + server["name"], server["name"], server["on"] == "on"
                        ),
                    ),
                    wrap="wrap",
                    gap="3",
                    id="settings-servers",
                ),
            ),
        ),
        rx.cond(
            SettingsState.allowed_tools.length() > 0,
            _field(
                "Tools that run without asking",
                "Allowed with “always” in this conversation. Untick one to be asked again.",
                rx.flex(
                    rx.foreach(
                        SettingsState.allowed_tools, lambda tool: _check("allowed:" + tool, tool, True)
                    ),
                    wrap="wrap",
                    gap="3",
                    id="settings-allowed-tools",
                ),
            ),
        ),
    )


def chat_settings_dialog() -> rx.Component:
    current = SettingsState.chat_settings
    return rx.dialog.root(
        rx.dialog.trigger(
            rx.icon_button(
                rx.icon("sliders-horizontal", size=18),
                variant="ghost",
                id="chat-settings-button",
                aria_label="Conversation settings",
            )
        ),
        rx.dialog.content(
            rx.dialog.title("Conversation settings"),
            rx.dialog.description(
                "They apply to this conversation's next answers. Leave a field empty for the default.",
                size="2",
                class_name="muted",
            ),
            rx.form(
                rx.vstack(
                    _field(
                        "Model",
                        "Listed by the model server; any name it knows will do.",
                        rx.fragment(
                            rx.input(
                                name="model",
                                id="settings-model",
                                default_value=current["model"],
                                placeholder=SettingsState.defaults["model"],
                                list="model-names",
                                max_length=200,
                                width="100%",
                            ),
                            rx.el.datalist(
                                rx.foreach(SettingsState.models, lambda m: rx.el.option(value=m)),
                                id="model-names",
                            ),
                        ),
                    ),
                    _field(
                        "System prompt",
                        "What the model is told before the conversation.",
                        rx.text_area(
                            name="system_prompt",
                            id="settings-system-prompt",
                            default_value=current["system_prompt"],
                            placeholder=SettingsState.defaults["system_prompt"],
                            max_length=get_settings().max_message_chars,
                            rows="4",
                            width="100%",
                        ),
                    ),
                    rx.hstack(
                        _number_field(
                            "Temperature", "0 to 2; lower is more predictable.", "temperature", "decimal"
                        ),
                        _number_field("Max tokens", "The longest an answer may be.", "max_tokens", "numeric"),
                        width="100%",
                        gap="4",
                    ),
                    _tools_fields(),
                    rx.cond(
                        SettingsState.settings_error != "",
                        rx.callout(
                            SettingsState.settings_error, id="settings-error", color_scheme="red", size="1"
                        ),
                    ),
                    rx.flex(
                        rx.dialog.close(
                            rx.button("Cancel", variant="soft", color_scheme="gray", type="button")
                        ),
                        rx.button("Save", type="submit", id="settings-save"),
                        gap="2",
                        justify="end",
                        width="100%",
                    ),
                    gap="3",
                ),
                on_submit=SettingsState.save_settings,
            ),
        ),
        open=SettingsState.settings_open,
        on_open_change=SettingsState.open_settings,
    )
