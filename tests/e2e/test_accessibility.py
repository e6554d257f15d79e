"""No accessibility violations (axe-core, WCAG 2.1 A and AA) in any state a user reaches, in the light and in
the dark theme: each test walks through states and fails naming every rule broken and where."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from .axe import violations
from .conftest import page_on
from .test_browser import assistant_bubbles, send, send_and_wait

# Accessibility is the page's, not the back end's: one app mode is enough.
pytestmark = pytest.mark.parametrize("app_mode", ["one-worker"], indirect=True)


@pytest.fixture(params=["light", "dark"])
def scheme(request) -> str:
    return request.param


@pytest.fixture
def themed(browser, app_url, scheme) -> Iterator[Page]:
    with page_on(browser, app_url, color_scheme=scheme) as page:
        yield page


class Audit:
    """axe's findings, state by state; a test ends by asserting there were none."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.found: dict[str, list[str]] = {}

    def check(self, state: str) -> None:
        if problems := violations(self.page):
            self.found[state] = problems

    def assert_clean(self) -> None:
        report = "\n".join(f"{state}:\n  " + "\n  ".join(problems) for state, problems in self.found.items())
        assert not self.found, f"accessibility violations\n{report}"


def test_the_chat_and_the_monitor_in_every_state_of_an_answer(themed: Page):
    page, audit = themed, Audit(themed)
    audit.check("the empty page")

    send(page, "/mock tokens=400 rate=40\nTell me a long story")
    expect(assistant_bubbles(page).last).to_contain_text("word5")
    audit.check("an answer while it streams")
    page.locator("#stop-button").click()
    expect(page.locator("#monitor-status")).to_have_text("stopped")
    audit.check("a stopped answer")

    send_and_wait(
        page, "/mock tool=calculator:6*7 echo rate=400\nHere is code:\n\n```python\nprint(6 * 7)\n```"
    )
    step = assistant_bubbles(page).last.locator(".cf-step").first
    step.locator("summary").click()
    audit.check("a conversation with an open tool step and a code block (Events tab)")

    page.locator("#session-tab").click()
    expect(page.locator("#model-stats")).to_be_visible()
    audit.check("the monitor's Session tab")

    send(page, "/mock fail=server\nBreak, please")
    expect(page.locator("#notice")).to_be_visible()
    audit.check("an answer that failed, with its notice")
    audit.assert_clean()


def test_a_tool_call_waiting_for_approval(themed: Page):
    page, audit = themed, Audit(themed)
    badge = page.locator("#tool-groups [data-server=testbox]")
    for _ in range(60):  # the MCP server connects in the background as the app starts
        if "connected" in (badge.text_content() or ""):
            break
        page.wait_for_timeout(500)
        page.reload()
        page.wait_for_selector("#chat-input")

    send(page, "/mock tool=testbox__delete_file:/srv/old tokens=3 rate=200\nClean up")
    step = assistant_bubbles(page).last.locator(".cf-step[data-status=waiting]")
    expect(step).to_be_visible()
    audit.check("a tool call waiting for Allow or Deny")
    step.get_by_role("button", name="Deny").click()
    expect(assistant_bubbles(page).last.locator(".cf-step[data-status=denied]")).to_be_visible()
    audit.check("a declined tool call")
    audit.assert_clean()


def test_every_dialog_and_the_search_results(themed: Page):
    page, audit = themed, Audit(themed)
    send_and_wait(page, "/mock tokens=3 rate=200\nPuffins of Iceland")

    page.locator("#chat-settings-button").click()
    expect(page.get_by_role("dialog")).to_be_visible()
    audit.check("the conversation's settings dialog")
    page.keyboard.press("Escape")

    row = page.locator("#history .history-row").first
    row.hover()
    row.get_by_label("Rename").click()
    expect(page.locator("input[name=title]")).to_be_visible()
    audit.check("the rename dialog")
    page.keyboard.press("Escape")

    row.hover()
    row.get_by_label("Category").click()
    expect(page.locator("input[name=category]")).to_be_visible()
    audit.check("the category dialog")
    page.keyboard.press("Escape")

    page.get_by_label("Manage categories").click()
    audit.check("the categories dialog")
    page.keyboard.press("Escape")

    page.locator("#settings-button").click()
    expect(page.locator("#owner-key")).to_be_visible()
    audit.check("the app's settings and import dialog")
    page.keyboard.press("Escape")

    row.hover()
    row.get_by_label("Delete").click()
    expect(page.get_by_role("alertdialog")).to_be_visible()
    audit.check("the delete confirmation")
    page.keyboard.press("Escape")

    page.locator("#history-search").fill("puffins")
    expect(page.locator("#search-results .search-result")).to_have_count(1)
    audit.check("search results")
    audit.assert_clean()


def test_the_narrow_layout_with_each_side_panel_open(browser, app_url, scheme):
    with page_on(browser, app_url, width=390, color_scheme=scheme) as page:
        audit = Audit(page)
        audit.check("a phone-sized screen")
        page.get_by_label("Show chats").click()
        expect(page.locator("#history")).to_be_in_viewport()
        audit.check("the chats panel open on a phone")
        page.locator("#new-chat").click()
        page.get_by_label("Show backend monitor").click()
        expect(page.locator("#monitor")).to_be_in_viewport()
        audit.check("the monitor open on a phone")
        audit.assert_clean()


# --- keyboard only ---------------------------------------------------------------------------------


FOCUSED = """([selector, row]) => {
    const element = document.activeElement;
    const inRow = !row || element?.closest(".history-row")?.textContent.includes(row);
    return Boolean(element?.matches(selector) && inRow);
}"""


def tab_to(page: Page, selector: str, row: str = "", presses: int = 150) -> None:
    """Presses Tab until the element matching `selector` (in the sidebar row holding `row`, if given) has the
    focus, as a keyboard user would."""
    for _ in range(presses):
        if page.evaluate(FOCUSED, [selector, row]):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {selector} {row}")


def test_everything_a_chat_needs_works_from_the_keyboard_alone(themed: Page):
    page = themed  # no click, no hover, from here on: keys only
    page.keyboard.type("/mock tokens=400 rate=40")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("Tell me a long story")
    page.keyboard.press("Enter")
    expect(assistant_bubbles(page).last).to_contain_text("word5")
    page.keyboard.press("Escape")  # Stop
    expect(page.locator("#monitor-status")).to_have_text("stopped")

    tab_to(page, "button[aria-label=Regenerate]")
    page.keyboard.press("Enter")
    expect(page.locator("#monitor-status")).to_have_text("streaming")
    page.keyboard.press("Escape")
    expect(page.locator("#monitor-status")).to_have_text("stopped")

    page.keyboard.press("Control+Shift+O")  # a new chat
    expect(assistant_bubbles(page)).to_have_count(0)
    page.keyboard.press("/")
    page.keyboard.type("/mock tokens=3 rate=200")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("A second question")
    page.keyboard.press("Enter")
    expect(page.locator("#history .history-title")).to_have_count(2)

    tab_to(page, "#history .history-title", row="Tell me a long story")
    page.keyboard.press("Enter")  # the older conversation opens
    expect(page.locator(".chat-title")).to_have_text("Tell me a long story")
    page.keyboard.press("Tab")
    tab_to(page, "#history button[aria-label=Rename]", row="Tell me a long story")
    page.keyboard.press("Enter")
    expect(page.get_by_role("dialog")).to_be_visible()
    page.keyboard.press("Control+A")
    page.keyboard.type("Stories, stopped twice")
    page.keyboard.press("Enter")
    expect(page.locator(".chat-title")).to_have_text("Stories, stopped twice")
    expect(page.get_by_role("dialog")).to_have_count(0)

    tab_to(page, "#events-tab")
    page.keyboard.press("ArrowRight")  # tabs move with the arrow keys
    expect(page.locator("#session-tab")).to_have_attribute("data-state", "active")
    expect(page.locator("#model-stats")).to_be_visible()

    page.keyboard.press("?")
    expect(page.locator("#shortcuts")).to_be_visible()
    expect(page.locator("#shortcuts")).to_contain_text("Stop the answer being written")
    page.keyboard.press("Escape")
    expect(page.locator("#shortcuts")).to_have_count(0)
    expect(page.locator("#session-tab")).to_be_focused()  # back where it was


def test_an_answer_is_read_out_once_whole_and_the_panels_are_named_landmarks(themed: Page):
    page = themed
    names = page.evaluate("() => [...document.querySelectorAll('main, aside')].map((e) => e.ariaLabel)")
    assert sorted(names) == ["Backend monitor", "Chat", "Conversations"]

    send(page, "/mock tokens=120 rate=40\nSay something")
    expect(assistant_bubbles(page).last).to_contain_text("word3")
    assert page.locator("#spoken-answer").inner_text() == ""  # nothing while it streams
    expect(page.locator("#spoken-answer")).to_have_text(" ".join(f"word{i}" for i in range(1, 121)))
    expect(page.locator("#monitor-status")).to_have_attribute("role", "status")
