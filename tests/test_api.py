"""REST: `GET /chats` and `GET /chat/{id}` over a real database, called the way a script would call them."""

from __future__ import annotations

import base64
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from starlette.testclient import TestClient

from chatapp import db
from chatapp.db.messages import add_events
from chatapp.domain import Metrics, StatusEvent
from chatapp.rest import api
from chatapp.rest.api import create_api

from .factories import OWNER, OWNER_KEY, SOMEONE_ELSE, SOMEONE_ELSE_KEY

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


@pytest.fixture
def client() -> TestClient:
    # Server errors come back as responses, so a test sees the 500 a script would see.
    return TestClient(create_api(), raise_server_exceptions=False)


def bearer(key: str = OWNER_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def new_conversation(url: str, owner: str = OWNER, title: str = "A chat") -> str:
    """A conversation of `owner` (an owner id, as the app stores it: the browser's is OWNER_KEY's)."""
    with db.session_for(url) as session:
        return db.create_conversation(session, owner=owner, title=title).id


def add(url: str, conversation_id: str, content: str, role: str = "user") -> str:
    with db.session_for(url) as session:
        return db.add_message(session, conversation_id=conversation_id, role=role, content=content).id


def listed_ids(client: TestClient, key: str = OWNER_KEY) -> list[str]:
    response = client.get("/chats", headers=bearer(key))
    assert response.status_code == 200, response.text
    return [chat["id"] for chat in response.json()["chats"]]


def assert_json_error(response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]


def forged_cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def test_chats_are_newest_first_by_last_activity(client, any_db_url):
    oldest, middle, newest = (new_conversation(any_db_url, title=t) for t in ("oldest", "middle", "newest"))
    assert listed_ids(client) == [newest, middle, oldest]

    add(any_db_url, oldest, "back to this one")

    assert listed_ids(client) == [oldest, newest, middle]
    first = client.get("/chats", headers=bearer()).json()["chats"][0]
    assert (first["title"], first["message_count"]) == ("oldest", 1)


def test_pages_walk_every_chat_once_and_end_without_a_cursor(client, any_db_url):
    created = [new_conversation(any_db_url, title=f"chat {n}") for n in range(7)]
    pages: list[list[str]] = []
    cursor = None
    while True:
        params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        response = client.get("/chats", params=params, headers=bearer())
        assert response.status_code == 200, response.text
        pages.append([chat["id"] for chat in response.json()["chats"]])
        cursor = response.json()["next_cursor"]
        if cursor is None or len(pages) > 5:
            break

    assert [len(page) for page in pages] == [3, 3, 1]
    assert [chat_id for page in pages for chat_id in page] == created[::-1]


def test_a_page_that_holds_every_chat_has_no_next_cursor(client, any_db_url):
    for _ in range(3):
        new_conversation(any_db_url)

    body = client.get("/chats", params={"limit": "3"}, headers=bearer()).json()

    assert (len(body["chats"]), body["next_cursor"]) == (3, None)


def test_a_new_chat_is_grouped_under_today(client, db_url):
    new_conversation(db_url)

    (chat,) = client.get("/chats", headers=bearer()).json()["chats"]

    assert chat["group"] == "Today"


@pytest.mark.parametrize("limit", ["1", "100"])
def test_limit_accepts_1_to_100(client, db_url, limit):
    assert client.get("/chats", params={"limit": limit}, headers=bearer()).status_code == 200


@pytest.mark.parametrize("limit", ["101", "0", "-1", "abc", "", "2.5", "9" * 5000])
def test_limit_out_of_range_or_not_a_number_is_422(client, db_url, limit):
    assert_json_error(client.get("/chats", params={"limit": limit}, headers=bearer()), 422)


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "!!!!",
        "\x00",
        forged_cursor("no separator"),
        forged_cursor(f"yesterday|{uuid.uuid4()}"),
        forged_cursor(f"2020-01-01T00:00:00|{uuid.uuid4()}"),
        forged_cursor(f"0001-01-01T00:00:00+14:00|{uuid.uuid4()}"),
        forged_cursor(f"9999-12-31T23:59:59-14:00|{uuid.uuid4()}"),
        forged_cursor("2020-01-01T00:00:00+00:00|a\x00b"),
    ],
    ids=[
        "garbage",
        "not-base64",
        "nul-byte",
        "no-separator",
        "not-a-time",
        "time-without-offset",
        "time-before-year-1-in-utc",
        "time-after-year-9999-in-utc",
        "nul-byte-in-id",
    ],
)
def test_a_cursor_the_server_did_not_make_is_422(client, any_db_url, cursor):
    assert_json_error(client.get("/chats", params={"cursor": cursor}, headers=bearer()), 422)


def test_no_authorization_is_401_with_a_bearer_challenge(client, db_url):
    conversation_id = new_conversation(db_url)

    for path in ("/chats", f"/chat/{conversation_id}"):
        response = client.get(path)
        assert_json_error(response, 401)
        assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "header",
    [
        f"Basic {OWNER_KEY}",
        "Bearer",
        "Bearer too-short",
        f"Bearer {'a' * 65}",
        "Bearer has spaces and !punctuation",
        OWNER_KEY,
    ],
)
def test_a_malformed_authorization_header_is_401(client, db_url, header):
    assert_json_error(client.get("/chats", headers={"Authorization": header}), 401)


def test_another_owners_chat_is_the_same_404_as_an_unknown_id(client, any_db_url):
    theirs = new_conversation(any_db_url, owner=SOMEONE_ELSE)

    response = client.get(f"/chat/{theirs}", headers=bearer())
    unknown = client.get(f"/chat/{uuid.uuid4()}", headers=bearer())

    assert_json_error(response, 404)
    assert (response.status_code, response.json()) == (unknown.status_code, unknown.json())
    assert client.get(f"/chat/{theirs}", headers=bearer(SOMEONE_ELSE_KEY)).status_code == 200


def test_another_owners_chats_never_appear_in_the_list(client, any_db_url):
    mine = new_conversation(any_db_url)
    theirs = new_conversation(any_db_url, owner=SOMEONE_ELSE)
    add(any_db_url, theirs, "makes theirs the newest")

    assert listed_ids(client) == [mine]
    assert listed_ids(client, SOMEONE_ELSE_KEY) == [theirs]


@pytest.mark.parametrize("chat_id", ["not-a-uuid", "..%2Fetc", "../etc", "%00", "x" * 5000])
def test_a_malformed_id_is_404(client, any_db_url, chat_id):
    new_conversation(any_db_url)

    assert_json_error(client.get(f"/chat/{chat_id}", headers=bearer()), 404)


def test_a_chat_shows_its_messages_in_order_with_usage_cost_and_timings(client, any_db_url):
    conversation_id = new_conversation(any_db_url, title="Greetings")
    add(any_db_url, conversation_id, "Say hello")
    answer_id = add(any_db_url, conversation_id, "", role="assistant")
    metrics = Metrics(
        model="gpt-4o-mini",
        provider="openai",
        prompt_tokens=12,
        completion_tokens=3,
        token_source="reported",
        estimated_prompt_tokens=11,
        estimated_completion_tokens=3,
        encoding="cl100k_base (bundled)",
        cost_usd=0.0000036,
        price="openai gpt-4o-mini: $0.15/input MTok, $0.6/output MTok",
        ttft_ms=180.0,
        duration_ms=400.0,
        tokens_per_s=7.5,
        itl_p50_ms=20.0,
        itl_p95_ms=31.0,
        context_tokens=11,
        context_window=128000,
    )
    with db.session_for(any_db_url) as session:
        db.save_answer(session, message_id=answer_id, content="Hello!", status="complete", metrics=metrics)
        step = db.add_tool_step(
            session,
            message_id=answer_id,
            call_id="call_1",
            name="calculator",
            arguments='{"expression": "1+1"}',
        )
        db.finish_tool_step(session, step_id=step.id, status="ok", result="2", duration_ms=1.5)

    response = client.get(f"/chat/{conversation_id}", headers=bearer())

    assert response.status_code == 200, response.text
    chat = response.json()
    assert (chat["id"], chat["title"], chat["group"], chat["message_count"]) == (
        conversation_id,
        "Greetings",
        "Today",
        2,
    )
    question, answer = chat["messages"]
    assert (question["role"], question["content"], question["status"]) == ("user", "Say hello", "complete")
    assert "usage" not in question and "timings" not in question
    assert (answer["id"], answer["role"], answer["content"], answer["status"]) == (
        answer_id,
        "assistant",
        "Hello!",
        "complete",
    )
    assert (answer["model"], answer["provider"], answer["error"]) == ("gpt-4o-mini", "openai", None)
    assert answer["usage"] == {
        "prompt_tokens": 12,
        "completion_tokens": 3,
        "source": "reported",
        "estimated": {"prompt_tokens": 11, "completion_tokens": 3},
        "reported": {"prompt_tokens": 12, "completion_tokens": 3},
        "encoding": "cl100k_base (bundled)",
    }
    assert answer["cost_usd"] == pytest.approx(0.0000036)
    assert answer["cost"]["price"] == "openai gpt-4o-mini: $0.15/input MTok, $0.6/output MTok"
    assert answer["timings"] == {
        "ttft_ms": 180.0,
        "duration_ms": 400.0,
        "tokens_per_s": 7.5,
        "inter_token_p50_ms": 20.0,
        "inter_token_p95_ms": 31.0,
    }
    assert answer["context"] == {"tokens": 11, "window": 128000}
    (call,) = answer["tool_calls"]
    assert (call["name"], call["arguments"], call["result"], call["status"]) == (
        "calculator",
        '{"expression": "1+1"}',
        "2",
        "ok",
    )
    listed = client.get("/chats", headers=bearer()).json()["chats"][0]
    assert listed["totals"] == {
        "tokens": 15,
        "cost_usd": pytest.approx(0.0000036),
        "cost_usd_known": pytest.approx(0.0000036),
    }

    now = datetime.now(UTC)
    stamps = [chat["created_at"], chat["updated_at"]]
    stamps += [message[key] for message in (question, answer) for key in ("created_at", "updated_at")]
    for stamp in stamps:
        assert TIMESTAMP.fullmatch(stamp), stamp
        assert now - timedelta(minutes=1) < datetime.fromisoformat(stamp) <= now
    assert question["created_at"] <= answer["created_at"] <= answer["updated_at"]


def test_an_answer_still_streaming_shows_estimated_usage_and_no_timings_yet(client, db_url):
    conversation_id = new_conversation(db_url)
    with db.session_for(db_url) as session:
        db.add_message(
            session, conversation_id=conversation_id, role="assistant", content="Hel", status="streaming"
        )

    (answer,) = client.get(f"/chat/{conversation_id}", headers=bearer()).json()["messages"]

    assert (answer["content"], answer["status"]) == ("Hel", "streaming")
    assert (answer["usage"]["source"], answer["usage"]["reported"]) == ("estimated", None)
    assert answer["usage"]["prompt_tokens"] is None and answer["usage"]["completion_tokens"] is None
    assert set(answer["timings"].values()) == {None}
    assert answer["tool_calls"] == []


def test_chat_totals_say_unknown_when_an_answer_has_no_known_price(client, db_url):
    conversation_id = new_conversation(db_url)
    priced, unpriced = (add(db_url, conversation_id, "", role="assistant") for _ in range(2))
    with db.session_for(db_url) as session:
        for message_id, cost in ((priced, 0.25), (unpriced, None)):
            metrics = Metrics(
                model="some-model", provider="openai", prompt_tokens=10, completion_tokens=5, cost_usd=cost
            )
            db.save_answer(session, message_id=message_id, content="ok", status="complete", metrics=metrics)

    (chat,) = client.get("/chats", headers=bearer()).json()["chats"]

    assert chat["totals"] == {"tokens": 30, "cost_usd": None, "cost_usd_known": 0.25}


def test_chats_can_be_filtered_by_pinned(client, db_url):
    plain, pinned = new_conversation(db_url), new_conversation(db_url)
    with db.session_for(db_url) as session:
        db.set_pinned(session, owner=OWNER, conversation_id=pinned, pinned=True)

    only_pinned = client.get("/chats", params={"pinned": "true"}, headers=bearer()).json()["chats"]
    others = client.get("/chats", params={"pinned": "false"}, headers=bearer()).json()["chats"]

    assert [(c["id"], c["pinned"]) for c in only_pinned] == [(pinned, True)]
    assert [(c["id"], c["pinned"]) for c in others] == [(plain, False)]
    assert_json_error(client.get("/chats", params={"pinned": "maybe"}, headers=bearer()), 422)


def test_chats_can_be_filtered_by_category_name(client, db_url):
    filed, other = new_conversation(db_url), new_conversation(db_url)
    with db.session_for(db_url) as session:
        db.file_conversation(session, owner=OWNER, conversation_id=filed, category="Work")

    work = client.get("/chats", params={"category": "work"}, headers=bearer()).json()["chats"]
    unknown = client.get("/chats", params={"category": "Nope"}, headers=bearer())

    assert [c["id"] for c in work] == [filed]
    assert work[0]["category_id"]
    assert unknown.status_code == 200 and unknown.json() == {"chats": [], "next_cursor": None}
    assert other not in [c["id"] for c in work]


def test_chats_can_be_searched_with_q(client, db_url):
    about_puffins, other = new_conversation(db_url, title="Iceland"), new_conversation(db_url, title="Taxes")
    add(db_url, about_puffins, "Where do the puffins nest in June?")
    add(db_url, other, "Deadline for the return")
    theirs = new_conversation(db_url, owner=SOMEONE_ELSE, title="Puffins too")
    add(db_url, theirs, "puffins")

    found = client.get("/chats", params={"q": "PUFFINS nest"}, headers=bearer()).json()

    assert [c["id"] for c in found["chats"]] == [about_puffins]
    assert "puffins nest" in found["chats"][0]["snippet"] and found["next_cursor"] is None


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/chats", {"category": "a\x00b"}),
        ("/chats", {"q": "nul\x00word"}),
        ("/chat/a%00b", {}),
    ],
    ids=["category", "q", "id"],
)
def test_a_nul_in_a_parameter_is_a_json_answer_not_a_server_error(client, any_db_url, path, params):
    # PostgreSQL refuses NUL in text: passed on as it came, it was a 500 there.
    new_conversation(any_db_url)

    response = client.get(path, params=params, headers=bearer())

    assert response.status_code in (200, 404, 422), response.text
    assert response.headers["content-type"] == "application/json"
    if path == "/chats":
        assert response.json() == {"chats": [], "next_cursor": None}


def test_a_long_chat_comes_a_page_at_a_time_in_order(client, any_db_url):
    conversation_id = new_conversation(any_db_url)
    sent = [add(any_db_url, conversation_id, f"message {n}") for n in range(7)]
    pages, cursor = [], None
    while True:
        params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        response = client.get(f"/chat/{conversation_id}", params=params, headers=bearer())
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append([m["id"] for m in body["messages"]])
        assert body["message_count"] == 7  # the whole conversation's, on every page
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert [len(page) for page in pages] == [3, 3, 1]
    assert [m for page in pages for m in page] == sent


def test_a_page_of_long_answers_ends_early_and_the_rest_follows(client, db_url, monkeypatch):
    monkeypatch.setattr(api, "MAX_PAGE_CHARS", 2_500)
    conversation_id = new_conversation(db_url)
    sent = [add(db_url, conversation_id, str(n) * 1_000) for n in range(5)]  # 1,000 characters each
    pages, cursor = [], None
    while True:
        params = {"limit": "100", **({"cursor": cursor} if cursor else {})}
        body = client.get(f"/chat/{conversation_id}", params=params, headers=bearer()).json()
        pages.append([m["id"] for m in body["messages"]])
        if (cursor := body["next_cursor"]) is None:
            break

    assert [len(page) for page in pages] == [2, 2, 1]  # a third would pass 2,500 characters
    assert [m for page in pages for m in page] == sent


def test_a_pages_size_counts_tool_calls_too(client, db_url, monkeypatch):
    monkeypatch.setattr(api, "MAX_PAGE_CHARS", 2_500)
    conversation_id = new_conversation(db_url)
    sent = [add(db_url, conversation_id, "short", role="assistant") for _ in range(3)]
    with db.session_for(db_url) as session:
        for message_id in sent:
            step = db.add_tool_step(session, message_id=message_id, call_id="c", name="t", arguments="{}")
            db.finish_tool_step(session, step_id=step.id, status="ok", result="r" * 2_000, duration_ms=1.0)

    body = client.get(f"/chat/{conversation_id}", headers=bearer()).json()

    assert [m["id"] for m in body["messages"]] == sent[:1] and body["next_cursor"] is not None


def test_one_answer_longer_than_a_page_still_comes_alone(client, db_url, monkeypatch):
    monkeypatch.setattr(api, "MAX_PAGE_CHARS", 10)
    conversation_id = new_conversation(db_url)
    sent = [add(db_url, conversation_id, "x" * 50) for _ in range(2)]

    body = client.get(f"/chat/{conversation_id}", headers=bearer()).json()

    assert [m["id"] for m in body["messages"]] == sent[:1] and body["next_cursor"] is not None


@pytest.mark.parametrize("cursor", ["garbage", forged_cursor("m-1"), forged_cursor("x3"), "\x00"])
def test_a_message_cursor_the_server_did_not_make_is_422(client, db_url, cursor):
    conversation_id = new_conversation(db_url)

    assert_json_error(
        client.get(f"/chat/{conversation_id}", params={"cursor": cursor}, headers=bearer()), 422
    )


def test_a_chats_events_are_its_own_in_order_and_another_owner_gets_404(client, any_db_url):
    conversation_id = new_conversation(any_db_url)
    answer_id = add(any_db_url, conversation_id, "", role="assistant")
    start = datetime.now(UTC)
    with db.session_for(any_db_url) as session:
        add_events(
            session,
            [
                (conversation_id, StatusEvent("request_sent", start, answer_id, "gpt-4o-mini")),
                (conversation_id, StatusEvent("first_token", start + timedelta(milliseconds=210), answer_id)),
                (
                    conversation_id,
                    StatusEvent("finished", start + timedelta(seconds=1), answer_id, "12 tokens"),
                ),
            ],
        )

    response = client.get(f"/chat/{conversation_id}/events", headers=bearer())
    theirs = client.get(f"/chat/{conversation_id}/events", headers=bearer(SOMEONE_ELSE_KEY))

    assert response.status_code == 200, response.text
    events = response.json()["events"]
    assert [(e["kind"], e["detail"], e["message_id"]) for e in events] == [
        ("request_sent", "gpt-4o-mini", answer_id),
        ("first_token", "", answer_id),
        ("finished", "12 tokens", answer_id),
    ]
    assert all(TIMESTAMP.fullmatch(e["at"]) for e in events)
    assert_json_error(theirs, 404)
    latest = client.get(f"/chat/{conversation_id}/events", params={"limit": 1}, headers=bearer()).json()
    assert [e["kind"] for e in latest["events"]] == ["finished"]


def test_the_openapi_document_describes_every_route_and_the_owner_key(client, db_url):
    document = client.get("/openapi.json").json()
    docs = client.get("/docs")

    assert set(document["paths"]) == {"/chats", "/chat/{chat_id}", "/chat/{chat_id}/events"}
    (scheme,) = document["components"]["securitySchemes"].values()
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert docs.status_code == 200 and "swagger-ui-bundle.js" in docs.text and "cdn" not in docs.text
    assert client.get(docs.text.split('src="')[1].split('"')[0]).status_code == 200  # served here, offline


def test_a_row_longer_than_todays_limits_is_still_served_whole(client, any_db_url):
    # Written before the limits existed (or by a path that missed one): a read must never become a 500.
    conversation_id = new_conversation(any_db_url)
    answer_id = add(any_db_url, conversation_id, "", role="assistant")
    with db.session_for(any_db_url) as session:
        db.save_answer(
            session, message_id=answer_id, content="a" * 450_000, status="error", error="e" * 3_000
        )
        step = db.add_tool_step(session, message_id=answer_id, call_id="c", name="calculator", arguments="{}")
        db.finish_tool_step(session, step_id=step.id, status="ok", result="r" * 150_000, duration_ms=1.0)

    response = client.get(f"/chat/{conversation_id}", headers=bearer())

    assert response.status_code == 200, response.text[:300]
    (answer,) = response.json()["messages"]
    assert (len(answer["content"]), len(answer["error"])) == (450_000, 3_000)
    assert len(answer["tool_calls"][0]["result"]) == 150_000
