"""The left panel at scale, and what the app does for the user's history on its own."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from chatapp import db
from chatapp.accounts.owners import owner_id
from chatapp.web.state.sidebar import HISTORY_PAGE

from .test_browser import send_and_wait


def owner_of(page: Page) -> str:
    """The owner id the app stores for this browser: of the key in its local storage."""
    page.wait_for_function("() => localStorage.getItem('chatapp_owner')")
    return owner_id(page.evaluate("() => localStorage.getItem('chatapp_owner')").strip('"'))


def test_older_conversations_load_as_the_sidebar_scrolls(page: Page, app_db_url: str):
    owner = owner_of(page)
    total = HISTORY_PAGE * 2 + 7
    with db.session_for(app_db_url) as session:
        for i in range(total):
            db.create_conversation(session, owner=owner, title=f"Seeded chat {i:03d}")
    page.reload()
    rows = page.locator("#history .history-title")
    expect(rows).to_have_count(HISTORY_PAGE)
    expect(rows.first).to_have_text(f"Seeded chat {total - 1:03d}")

    for loaded in (HISTORY_PAGE * 2, total):
        page.locator("#history").evaluate("list => list.scrollTo(0, list.scrollHeight)")
        expect(rows).to_have_count(loaded)
    expect(rows.last).to_have_text("Seeded chat 000")
    expect(page.locator("#history-more")).to_have_count(0)  # nothing more to ask for


def test_a_new_conversation_is_named_and_filed_after_its_first_answer(page: Page):
    send_and_wait(page, "/mock tokens=8\nCould you suggest a travel plan for Kyoto in spring?")

    row = page.locator("#history .history-title").first
    expect(row).to_have_text("Suggest a travel plan for Kyoto in spring")
    expect(page.locator(".chat-title")).to_have_text("Suggest a travel plan for Kyoto in spring")
    expect(page.locator("#chat-category")).to_have_text("Travel")
    expect(page.locator("#event-log [data-kind=labelled]")).to_contain_text("suggested by the model")

    page.reload()
    page.locator("#history .history-title", has_text="Kyoto").click()
    expect(page.locator(".chat-title")).to_have_text("Suggest a travel plan for Kyoto in spring")
    expect(page.locator("#chat-category")).to_have_text("Travel")
    expect(page.locator("#event-log [data-kind=labelled]")).to_have_count(1)
