"""Answer metrics with a scripted clock: time to first token, speed, inter-token latency, token sources."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chatapp.domain import Message, Metrics, UsageReport
from chatapp.metering import costs, tokens
from chatapp.metering import meter as metrics
from chatapp.metering.meter import AnswerMeter, AnswerRecord, percentile
from chatapp.web import views


class ScriptedClock:
    """Returns the given times in order; reading past the end is a test failure, not a silent repeat."""

    def __init__(self, *times: float) -> None:
        self.times = list(times)

    def __call__(self) -> float:
        assert self.times, "the meter read the clock more often than scripted"
        return self.times.pop(0)


@pytest.fixture
def encoding():
    return tokens.encoding_for("mock")


def meter(clock: ScriptedClock, encoding, provider: str = "mock", model: str = "mock") -> AnswerMeter:
    return AnswerMeter(model=model, provider=provider, encoding=encoding, clock=clock, context_window=8192)


def test_timings_come_from_the_clock(encoding):
    # sent at 10.0; tokens at 10.5, 10.6, 10.8, 11.2; ended at 12.0
    clock = ScriptedClock(10.0, 10.5, 10.6, 10.8, 11.2, 12.0)
    answer = meter(clock, encoding)
    answer.request_sent(prompt_tokens=40)
    for piece in ["Hello", " there", ",", " friend"]:
        answer.text(piece)
    answer.usage(UsageReport(prompt_tokens=42, completion_tokens=9))
    answer.end()
    result = answer.snapshot()
    assert clock.times == []
    assert result.ttft_ms == pytest.approx(500)
    assert result.duration_ms == pytest.approx(2000)
    # speed after the first token: 8 more tokens between the first (10.5) and the last (11.2)
    assert result.tokens_per_s == pytest.approx(8 / 0.7)
    # gaps 0.1, 0.2, 0.4 s
    assert result.itl_p50_ms == pytest.approx(200)
    assert result.itl_p95_ms == pytest.approx(200 + 200 * 0.9)
    assert result.context_tokens == 40
    assert result.context_window == 8192


def test_without_tokens_there_is_no_ttft_speed_or_latency(encoding):
    answer = meter(ScriptedClock(1.0, 3.0), encoding)
    answer.request_sent(prompt_tokens=10)
    answer.end()
    result = answer.snapshot()
    assert (result.ttft_ms, result.tokens_per_s, result.itl_p50_ms, result.itl_p95_ms) == (None,) * 4
    assert result.duration_ms == pytest.approx(2000)
    assert result.completion_tokens == 0


def test_a_single_token_has_no_speed(encoding):
    answer = meter(ScriptedClock(1.0, 1.5, 2.0), encoding)
    answer.request_sent(prompt_tokens=10)
    answer.text("Hi")
    answer.end()
    result = answer.snapshot()
    assert result.ttft_ms == pytest.approx(500)
    assert result.tokens_per_s is None
    assert result.itl_p50_ms is None


def test_without_a_usage_report_counts_are_estimated(encoding):
    pieces = ["The answer", " is 42", ", isn't it", "? 😀"]
    answer = meter(ScriptedClock(0.5, 1.0, 1.1, 1.2, 1.3, 2.0), encoding)
    answer.request_sent(prompt_tokens=25)
    for piece in pieces:
        answer.text(piece)
    answer.end()
    result = answer.snapshot()
    estimated = tokens.count("".join(pieces), encoding)
    assert result.token_source == "estimated"
    assert (result.prompt_tokens, result.completion_tokens) == (25, estimated)
    assert (result.estimated_prompt_tokens, result.estimated_completion_tokens) == (25, estimated)
    assert result.tokens_per_s == pytest.approx((estimated - 1) / 0.3)
    # A mock is no OpenAI model: its counts are cl100k_base's, said to be an approximation.
    assert result.encoding == "cl100k_base (approximate: not this model's tokenizer)"


def test_usage_is_reported_only_when_every_request_reported_it(encoding):
    answer = meter(ScriptedClock(0.0, 1.0, 2.0, 3.0), encoding)
    answer.request_sent(prompt_tokens=100)
    answer.text("Let me look that up.")
    answer.usage(UsageReport(prompt_tokens=104, completion_tokens=6))
    answer.request_sent(prompt_tokens=150)  # the tool round: no report for this one
    answer.text("Found it.")
    answer.end()
    result = answer.snapshot()
    assert result.token_source == "estimated"
    assert result.prompt_tokens == 250
    assert result.completion_tokens == tokens.count("Let me look that up.Found it.", encoding)
    assert result.context_tokens == 100


def test_reported_usage_is_summed_across_tool_rounds(encoding):
    answer = meter(ScriptedClock(0.0, 1.0, 2.0, 3.0), encoding)
    answer.request_sent(prompt_tokens=100)
    answer.text("Let me look that up.")
    answer.usage(UsageReport(prompt_tokens=104, completion_tokens=6))
    answer.request_sent(prompt_tokens=150)
    answer.text("Found it.")
    answer.usage(UsageReport(prompt_tokens=160, completion_tokens=4))
    answer.end()
    result = answer.snapshot()
    assert result.token_source == "reported"
    assert (result.prompt_tokens, result.completion_tokens) == (264, 10)
    assert result.estimated_prompt_tokens == 250
    assert result.context_tokens == 100  # the first request's prompt, not the sum


def test_cost_is_computed_from_the_counts_in_force(encoding):
    answer = meter(ScriptedClock(0.0, 1.0, 2.0), encoding, provider="openai", model="gpt-4o-mini")
    answer.request_sent(prompt_tokens=900)
    answer.text("ok")
    answer.usage(UsageReport(prompt_tokens=1000, completion_tokens=500))
    answer.end()
    result = answer.snapshot()
    expected = costs.cost_of(
        provider="openai", model="gpt-4o-mini", prompt_tokens=1000, completion_tokens=500
    )
    assert (result.cost_usd, result.price) == (expected.usd, expected.price)
    assert result.cost_usd > 0


def test_mock_answers_cost_nothing(encoding):
    answer = meter(ScriptedClock(0.0, 1.0, 2.0), encoding)
    answer.request_sent(prompt_tokens=10)
    answer.text("hi")
    answer.end()
    result = answer.snapshot()
    assert (result.cost_usd, result.price) == (0.0, "free (scripted)")


def test_a_snapshot_while_streaming_measures_up_to_now(encoding):
    answer = meter(ScriptedClock(0.0, 1.0, 1.5, 3.0), encoding)
    answer.request_sent(prompt_tokens=10)
    answer.text("one two three four")
    answer.text(" five six seven eight")
    result = answer.snapshot()  # reads the clock: 3.0
    assert result.duration_ms == pytest.approx(3000)
    assert result.tokens_per_s == pytest.approx((result.completion_tokens - 1) / 2.0)


# --- percentile ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([3.0, 1.0, 2.0], 0.5, 2.0),
        ([4.0, 1.0, 3.0, 2.0], 0.5, 2.5),
        ([7.0], 0.5, 7.0),
        ([7.0], 0.95, 7.0),
        (list(range(1, 21)), 0.95, 19.05),
        (list(range(1, 101)), 0.95, 95.05),
        ([10.0, 20.0], 0.95, 19.5),
        ([5.0, 1.0, 9.0], 0.0, 1.0),
        ([5.0, 1.0, 9.0], 1.0, 9.0),
    ],
)
def test_percentile_interpolates_between_closest_ranks(values, q, expected):
    assert percentile(values, q) == pytest.approx(expected)


def test_percentile_of_no_values_is_none():
    assert percentile([], 0.5) is None
    assert percentile((), 0.95) is None


def test_percentile_does_not_reorder_its_input():
    values = [3.0, 1.0, 2.0]
    metrics.percentile(values, 0.5)
    assert values == [3.0, 1.0, 2.0]


# --- how far the estimate was from the report ------------------------------------------------------


def answer_with(estimated: int, reported: int | None, model: str = "gpt-4o") -> Message:
    source = "reported" if reported is not None else "estimated"
    numbers = Metrics(
        model=model,
        provider="openai",
        prompt_tokens=100,
        completion_tokens=reported if reported is not None else estimated,
        token_source=source,
        estimated_prompt_tokens=98,
        estimated_completion_tokens=estimated,
    )
    at = datetime(2026, 12, 5, tzinfo=UTC)
    return Message("m", "c", "assistant", "text", "complete", at, at, metrics=numbers)


def test_the_monitor_says_how_far_each_estimate_was_from_the_report():
    view = views.metrics_view(answer_with(estimated=470, reported=480).metrics)

    assert view["completion_off"] == "estimate 2.1 % low"
    assert view["prompt_off"] == "estimate 2.0 % low"
    assert views.metrics_view(answer_with(505, 500).metrics)["completion_off"] == "estimate 1.0 % high"
    assert views.metrics_view(answer_with(500, 500).metrics)["completion_off"] == "estimate exact"
    assert views.metrics_view(answer_with(500, None).metrics)["completion_off"] == ""  # nothing to compare


def test_the_session_keeps_each_models_mean_estimate_error():
    records = [
        AnswerRecord.of(answer_with(90, 100)),  # 10 % low
        AnswerRecord.of(answer_with(104, 100)),  # 4 % high
        AnswerRecord.of(answer_with(100, None)),  # not reported: not in the mean
        AnswerRecord.of(answer_with(51, 50, model="llama-3")),
    ]

    rows = {row["model"]: row for row in views.session_rows(records)}

    assert rows["gpt-4o"]["estimate_off"] == "-3.0 %"
    assert rows["llama-3"]["estimate_off"] == "+2.0 %"
    assert views.session_rows([AnswerRecord.of(answer_with(7, None))])[0]["estimate_off"] == "—"


def test_the_cost_card_shows_the_prices_this_answer_paid_and_keeps_the_sheet_for_its_tooltip():
    sheet = (
        "openai gpt-4o-mini: $0.15/input MTok, $0.6/output MTok, $0.075/input cache read MTok, "
        "$10/web searches K, $2.5/storage searches K"
    )
    view = views.metrics_view(Metrics(model="gpt-4o-mini", provider="openai", cost_usd=0.001, price=sheet))

    assert view["price"] == "$0.15 in · $0.6 out per million tokens"
    assert view["price_sheet"] == sheet
    assert views.applied_price("free (scripted)") == "free (scripted)"  # a sentence stays as it is
    assert views.applied_price("") == "no price"
