"""Costs from genai-prices: known and unknown models, free providers, stored prices outliving a change."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from genai_prices import Usage, calc_price

from chatapp import db
from chatapp.domain import Metrics
from chatapp.metering import costs

OWNER = "owner-key-for-cost-tests"


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


def test_stored_cost_and_price_survive_a_price_change(db_url, monkeypatch):
    before = costs.cost_of(provider="openai", model="gpt-4o-mini", prompt_tokens=1000, completion_tokens=500)
    with db.session_for(db_url) as session:
        conversation = db.create_conversation(session, owner=OWNER, title="Prices")
        answer = db.add_message(
            session, conversation_id=conversation.id, role="assistant", content="", status="streaming"
        )
        db.save_answer(
            session,
            message_id=answer.id,
            content="An answer.",
            status="complete",
            metrics=Metrics(
                model="gpt-4o-mini",
                provider="openai",
                prompt_tokens=1000,
                completion_tokens=500,
                cost_usd=before.usd,
                price=before.price,
            ),
        )

    raised = SimpleNamespace(
        total_price=before.usd * 10,
        provider=SimpleNamespace(id="openai"),
        model=SimpleNamespace(id="gpt-4o-mini"),
        model_price="$1.5/input MTok, $6/output MTok",
    )
    monkeypatch.setattr(costs, "calc_price", lambda usage, model_ref: raised)
    after = costs.cost_of(provider="openai", model="gpt-4o-mini", prompt_tokens=1000, completion_tokens=500)
    assert (after.usd, after.price) != (before.usd, before.price)  # the change took effect

    with db.session_for(db_url) as session:
        (stored,) = db.list_messages(session, conversation_id=conversation.id)
    assert stored.metrics.cost_usd == before.usd
    assert stored.metrics.price == before.price


def test_context_window_of_a_known_model_is_a_positive_int():
    window = costs.context_window("gpt-4o-mini")
    assert isinstance(window, int)
    assert window > 0


def test_context_window_of_an_unknown_model_is_none():
    assert costs.context_window("no-such-model-xyz") is None
