"""A conversation's own settings, chosen in the browser: model, system prompt, temperature, max tokens."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from .test_browser import assistant_bubbles, send_and_wait


def open_settings(page: Page):
    page.locator("#chat-settings-button").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    return dialog


def test_settings_pick_the_model_and_cap_the_answer_and_survive_a_reload(page: Page):
    dialog = open_settings(page)
    # The provider's models are offered (the mock lists two).
    expect(page.locator("#model-names option")).to_have_count(2)
    page.fill("#settings-model", "mock-2")
    page.fill("#settings-system-prompt", "Answer in haiku.")
    page.fill("#settings-temperature", "0.4")
    page.fill("#settings-max-tokens", "3")
    page.locator("#settings-save").click()
    expect(dialog).to_be_hidden()

    send_and_wait(page, "/mock tokens=40\nTell me about the sea")
    answer = assistant_bubbles(page).last
    expect(answer.locator(".cf-summary")).to_contain_text("mock-2")
    expect(answer).to_contain_text("word3")
    expect(answer).not_to_contain_text("word4")

    page.reload()
    page.locator("#history .history-title", has_text="sea").click()
    expect(assistant_bubbles(page)).to_have_count(1)
    open_settings(page)
    expect(page.locator("#settings-model")).to_have_value("mock-2")
    expect(page.locator("#settings-system-prompt")).to_have_value("Answer in haiku.")
    expect(page.locator("#settings-temperature")).to_have_value("0.4")
    expect(page.locator("#settings-max-tokens")).to_have_value("3")


def test_a_bad_setting_is_explained_and_nothing_is_saved(page: Page):
    dialog = open_settings(page)
    page.fill("#settings-temperature", "7")
    page.locator("#settings-save").click()

    expect(page.locator("#settings-error")).to_have_text("Temperature is a number from 0 to 2.")
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    open_settings(page)
    expect(page.locator("#settings-temperature")).to_have_value("")
