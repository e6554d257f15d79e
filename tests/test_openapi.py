"""REST against its own OpenAPI document: schemathesis generates requests from it, on SQLite and PostgreSQL,
and checks every answer (no server error; status, content type, headers and body as documented)."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import ignored_auth, positive_data_acceptance

from chatapp import db
from chatapp.db.messages import add_events
from chatapp.domain import Metrics, StatusEvent
from chatapp.rest.api import create_api

from .factories import OWNER, OWNER_KEY

CASES = 1_000  # per endpoint and database

schema = schemathesis.openapi.from_asgi("/openapi.json", create_api())


@schema.auth()
class OwnerKey:
    """Every case is signed in with this key. (Schemathesis's own auth check is left out: to this app, any
    well-formed key is a browser's, so its "wrong" key reads an empty history, which is correct. A missing
    or malformed key's 401, and another owner's 404, are tested in test_api.)"""

    def get(self, case, ctx) -> str:
        return OWNER_KEY

    def set(self, case, data, ctx) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


def seed(url: str) -> str:
    """A conversation with a question, an answer with every number and a tool call, and its events."""
    with db.session_for(url) as session:
        chat = db.create_conversation(session, owner=OWNER, title="Fuzzed")
        db.file_conversation(session, owner=OWNER, conversation_id=chat.id, category="Work")
        db.add_message(session, conversation_id=chat.id, role="user", content="What is 2+2?")
        answer = db.add_message(session, conversation_id=chat.id, role="assistant", content="")
        step = db.add_tool_step(
            session, message_id=answer.id, call_id="c1", name="calculator", arguments='{"expression": "2+2"}'
        )
        db.finish_tool_step(session, step_id=step.id, status="ok", result="4", duration_ms=0.4)
        metrics = Metrics(
            model="m", provider="mock", prompt_tokens=9, completion_tokens=2, token_source="reported"
        )
        db.save_answer(session, message_id=answer.id, content="4", status="complete", metrics=metrics)
        add_events(session, [(chat.id, StatusEvent("finished", db.utcnow(), answer.id, "2 tokens"))])
    return chat.id


@schema.parametrize()
@schema.given(known_chat=st.booleans())
@settings(max_examples=CASES, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_answer_matches_the_document(case, known_chat, any_db_url, request):
    # Seeded once per test (a database per test), then reused by every generated case.
    if not hasattr(request.node, "chat_id"):
        request.node.chat_id = seed(any_db_url)
    if known_chat and "chat_id" in (case.path_parameters or {}):
        case.path_parameters["chat_id"] = request.node.chat_id
    # A cursor is opaque: any string fits the document, and only those this server made are accepted (a
    # made-up one is a 422, see test_api). Every other check still runs on those cases.
    opaque = "cursor" in (case.query or {})
    case.call_and_validate(excluded_checks=[ignored_auth, *([positive_data_acceptance] if opaque else [])])
