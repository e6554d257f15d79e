"""Costs from genai-prices: known and unknown models, free providers, and a stored cost shown as it was after
the price changes (REST, the sidebar, an export)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from genai_prices import Usage, calc_price
from starlette.testclient import TestClient

from chatapp import db
from chatapp.domain import money
from chatapp.metering import costs
from chatapp.rest import exchange
from chatapp.rest.api import create_api

from .factories import OWNER, OWNER_KEY, conversation_of, final, run_turn
from .fakes.openai_server import Reply


def test_known_model_costs_what_genai_prices_computes():
    expected = calc_price(Usage(input_tokens=12_345, output_tokens=6_789), model_ref="gpt-4o-mini")
    cost = costs.cost_of(
        provider="openai", model="gpt-4o-mini", prompt_tokens=12_345, completion_tokens=6_789
    )
    assert cost.usd == float(expected.total_price)
    assert cost.usd > 0
    assert cost.price == f"openai gpt-4o-mini: {expected.model_price}"
    assert "/input MTok" in cost.price


def test_more_tokens_cost_more():
    small = costs.cost_of(provider="openai", model="gpt-4o-mini", prompt_tokens=100, completion_tokens=100)
    large = costs.cost_of(provider="openai", model="gpt-4o-mini", prompt_tokens=100, completion_tokens=10_000)
    assert large.usd > small.usd


def test_unknown_model_has_no_cost_rather_than_zero():
    cost = costs.cost_of(
        provider="openai", model="no-such-model-xyz", prompt_tokens=1000, completion_tokens=1000
    )
    assert cost.usd is None
    assert "unknown" in cost.price


@pytest.mark.parametrize(
    ("provider", "price"), [("local", "free (runs on this machine)"), ("mock", "free (scripted)")]
)
def test_local_and_mock_answers_are_free(provider, price):
    # gpt-4o-mini has a price, so only the provider makes these free
    cost = costs.cost_of(provider=provider, model="gpt-4o-mini", prompt_tokens=5000, completion_tokens=5000)
    assert cost == costs.Cost(0.0, price)


def raise_the_price(monkeypatch) -> None:
    """genai-prices' data changes under the app: gpt-4o-mini now costs ten times as much, at a new price."""
    real = calc_price

    def raised(usage, model_ref):
        calculation = real(usage, model_ref=model_ref)
        return SimpleNamespace(
            total_price=calculation.total_price * 10,
            provider=calculation.provider,
            model=calculation.model,
            model_price="$1.5/input MTok, $6/output MTok",
        )

    monkeypatch.setattr(costs, "calc_price", raised)


async def test_an_answers_cost_and_price_are_shown_as_stored_after_the_price_changes(
    server, settings, db_url, monkeypatch
):
    server.replies.append(Reply(pieces=("Bonjour!",), usage=(1000, 500)))
    updates = await run_turn(settings, "Say hello in French")
    paid = costs.cost_of(provider="openai", model="gpt-4o-mini", prompt_tokens=1000, completion_tokens=500)
    answer = final(updates).message
    assert (answer.metrics.cost_usd, answer.metrics.price) == (paid.usd, paid.price)  # stored as answered

    raise_the_price(monkeypatch)
    now = costs.cost_of(provider="openai", model="gpt-4o-mini", prompt_tokens=1000, completion_tokens=500)
    assert now.usd == pytest.approx(paid.usd * 10) and now.price != paid.price  # the change took effect

    # REST, as a script reads the conversation.
    conversation_id = conversation_of(updates)
    client = TestClient(create_api(), raise_server_exceptions=False)
    response = client.get(f"/chat/{conversation_id}", headers={"Authorization": f"Bearer {OWNER_KEY}"})
    assert response.status_code == 200, response.text
    chat = response.json()
    assert chat["messages"][-1]["cost"] == {"usd": paid.usd, "price": paid.price}
    assert chat["messages"][-1]["cost_usd"] == paid.usd
    assert chat["totals"]["cost_usd"] == pytest.approx(paid.usd)
    # The sidebar's listing, and an export of the conversation.
    with db.session_for(db_url) as session:
        (listed,), _ = db.list_conversations(session, owner=OWNER)
        conversation = db.get_conversation(session, owner=OWNER, conversation_id=conversation_id)
        assert conversation is not None
        messages = db.list_messages(session, conversation_id=conversation_id)
    assert listed.total_cost_usd == pytest.approx(paid.usd) and not listed.cost_unknown
    exported = json.loads(exchange.to_json(conversation, messages, {}))
    assert exported["messages"][-1]["cost"] == {"usd": paid.usd, "price": paid.price}
    assert exported["totals"]["cost_usd"] == pytest.approx(paid.usd)
    markdown = exchange.to_markdown(conversation, messages)
    assert money(paid.usd) in markdown and money(now.usd) not in markdown


def test_context_window_of_a_known_model_is_a_positive_int():
    window = costs.context_window("gpt-4o-mini")
    assert isinstance(window, int)
    assert window > 0


def test_context_window_of_an_unknown_model_is_none():
    assert costs.context_window("no-such-model-xyz") is None
