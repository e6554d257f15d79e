"""MCP tools as a user sees them in the browser: the step names its server and shows arguments and result;
a tool that acts waits for Allow or Deny, the monitor says so, and what was decided survives a reload."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from .test_browser import assistant_bubbles, send


def reload(page: Page) -> None:
    page.reload()
    page.wait_for_selector("#chat-input")


def until_connected(page: Page) -> None:
    """The server connects in the background as each worker starts; the monitor reads its status at each
    page load, so a tab opened in that first second reloads until it says connected."""
    badge = page.locator("#tool-groups [data-server=testbox]")
    for _ in range(60):
        if "connected" in (badge.text_content() or ""):
            return
        page.wait_for_timeout(500)
        reload(page)
    expect(badge).to_contain_text("connected")


def test_an_mcp_tools_step_shows_its_server_arguments_and_result_and_survives_a_reload(page: Page):
    until_connected(page)
    send(page, "/mock tool=testbox__echo:hello tokens=3 rate=200\nSay it back")

    step = assistant_bubbles(page).last.locator(".cf-step[data-tool=echo]")
    expect(step).to_have_attribute("data-status", "ok")
    expect(step).to_have_attribute("data-server", "testbox")
    expect(step.locator("summary")).to_contain_text("testbox ›")
    step.locator("summary").click()
    expect(step).to_contain_text('{"text": "hello"}')
    expect(step).to_contain_text("echo: hello")
    expect(page.locator("#event-log")).to_contain_text("testbox › echo")
    expect(page.locator("#tool-groups [data-server=testbox]")).to_contain_text("connected")

    reload(page)
    step = assistant_bubbles(page).last.locator(".cf-step[data-tool=echo]")
    expect(step).to_have_attribute("data-server", "testbox")
    step.locator("summary").click()
    expect(step).to_contain_text("echo: hello")


def test_a_tool_that_acts_waits_for_the_user_and_deny_is_shown_and_stored(page: Page):
    until_connected(page)
    send(page, "/mock tool=testbox__delete_file:/srv/reports tokens=3 rate=200\nTidy up")

    step = assistant_bubbles(page).last.locator(".cf-step[data-tool=delete_file]")
    expect(step).to_have_attribute("data-status", "waiting")
    expect(page.locator("#monitor-status")).to_have_text("waiting for approval")
    expect(step).to_contain_text("/srv/reports")  # what it would act on, before the user decides
    step.get_by_role("button", name="Deny").click()

    expect(step).to_have_attribute("data-status", "denied")
    expect(step.locator("summary")).to_contain_text("declined")
    expect(page.locator("#monitor-status")).to_have_text("done")

    reload(page)
    step = assistant_bubbles(page).last.locator(".cf-step[data-tool=delete_file]")
    expect(step).to_have_attribute("data-status", "denied")
    step.locator("summary").click()
    expect(step).to_contain_text("The user declined to run this tool.")
    expect(step.get_by_role("button", name="Allow")).to_have_count(0)


def test_allow_runs_the_tool_that_waited_and_a_reload_while_it_waits_still_asks(page: Page):
    until_connected(page)
    send(page, "/mock tool=testbox__delete_file:/srv/cache tokens=3 rate=200\nClear the cache")
    waiting = assistant_bubbles(page).last.locator(".cf-step[data-tool=delete_file]")
    expect(waiting).to_have_attribute("data-status", "waiting")

    reload(page)  # the answer goes on waiting on the server; the reloaded tab asks again
    step = assistant_bubbles(page).last.locator(".cf-step[data-tool=delete_file]")
    expect(step).to_have_attribute("data-status", "waiting")
    step.get_by_role("button", name="Allow", exact=True).click()

    expect(step).to_have_attribute("data-status", "ok")
    expect(step).to_contain_text("would delete /srv/cache")
    expect(assistant_bubbles(page).last).to_contain_text("word1 word2 word3")
