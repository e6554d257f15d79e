"""Each turn's numbers out to OpenTelemetry and Prometheus: spans and metrics of real turns (the mock
provider, the real service and database) through the SDK's in-memory exporters, over OTLP/HTTP to a receiver
the test starts, and scraped from GET /metrics with prometheus-client's own parser, on one worker and on
several."""

from __future__ import annotations

import asyncio
import gzip
import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from chatapp import telemetry
from chatapp.config import get_settings
from chatapp.domain import StatusEvent, TurnUpdate
from chatapp.providers.mock import word_tokens
from chatapp.rest.api import create_api
from chatapp.telemetry import RequestRecord, TurnRecord
from chatapp.telemetry.otel import OtelExporter
from chatapp.telemetry.prometheus import PrometheusExporter

from .factories import conversation_of, final, make_turn, run_turn

TWO_ROUNDS = "/mock tool=calculator:1+1 rounds=2 tokens=12 rate=2000 latency=0\nAdd, twice"


@pytest.fixture(autouse=True)
def no_exporters_left_behind():
    telemetry.exporters.cache_clear()
    yield
    telemetry.exporters.cache_clear()


def use(monkeypatch, *exporters) -> None:
    monkeypatch.setattr(telemetry, "exporters", lambda: exporters)


async def stopped_after_first_token(settings, text: str) -> list[TurnUpdate]:
    """Runs a turn, pressing Stop as its first token arrives."""
    turn = make_turn(settings, text)
    updates: list[TurnUpdate] = []
    async with asyncio.timeout(20):
        async for update in turn.updates():
            updates.append(update)
            if isinstance(update, StatusEvent) and update.kind == "first_token":
                turn.stop()
    return updates


# --- OpenTelemetry, in memory ------------------------------------------------------------------------


@pytest.fixture
def in_memory(monkeypatch):
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    use(monkeypatch, OtelExporter(tracer_provider, MeterProvider(metric_readers=[reader])))
    return spans, reader


def points(reader: InMemoryMetricReader) -> dict[str, list]:
    """Every data point of every metric, by metric name."""
    found: dict[str, list] = {}
    data = reader.get_metrics_data()
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                found.setdefault(metric.name, []).extend(metric.data.data_points)
    return found


async def test_a_turn_with_two_tool_rounds_is_a_tree_of_genai_spans(mock_settings, in_memory):
    spans, _reader = in_memory

    updates = await run_turn(mock_settings, TWO_ROUNDS)

    finished = {span.name: span for span in spans.get_finished_spans()}
    assert sorted(s.name for s in spans.get_finished_spans()) == [
        "chat mock-1",
        "chat mock-1",
        "chat mock-1",
        "execute_tool calculator",
        "execute_tool calculator",
        "invoke_agent chatapp",
    ]
    turn = finished["invoke_agent chatapp"]
    chats = [s for s in spans.get_finished_spans() if s.name == "chat mock-1"]
    tools = [s for s in spans.get_finished_spans() if s.name.startswith("execute_tool")]
    assert turn.kind == SpanKind.INTERNAL and turn.parent is None
    assert all(s.parent is not None and s.parent.span_id == turn.context.span_id for s in chats + tools)
    assert dict(turn.attributes) == {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.provider.name": "mock",
        "gen_ai.agent.name": "chatapp",
        "gen_ai.request.model": "mock-1",
        "gen_ai.conversation.id": conversation_of(updates),
    }
    first, _second, last = sorted(chats, key=lambda s: s.start_time)
    assert first.kind == SpanKind.CLIENT
    assert first.attributes["gen_ai.operation.name"] == "chat"
    assert first.attributes["gen_ai.response.finish_reasons"] == ("tool_calls",)
    assert last.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    answer = final(updates).message
    # The mock reports usage for each request; the answer's reported totals are their sums.
    assert sum(s.attributes["gen_ai.usage.output_tokens"] for s in chats) == answer.metrics.completion_tokens
    assert sum(s.attributes["gen_ai.usage.input_tokens"] for s in chats) == answer.metrics.prompt_tokens
    assert last.attributes["gen_ai.response.time_to_first_chunk"] >= 0
    assert "gen_ai.input.messages" not in last.attributes  # content only when opted in
    assert dict(tools[0].attributes) == {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "calculator",
        "gen_ai.tool.call.id": "call_0_0",
        "gen_ai.tool.type": "function",
    }
    assert turn.start_time <= first.start_time < last.end_time <= turn.end_time


async def test_the_turns_metrics_carry_the_conventions_names_and_the_answers_numbers(
    mock_settings, in_memory
):
    _spans, reader = in_memory

    answer = final(await run_turn(mock_settings, TWO_ROUNDS)).message

    found = points(reader)
    tokens = {p.attributes["gen_ai.token.type"]: p for p in found["gen_ai.client.token.usage"]}
    assert tokens["output"].sum == answer.metrics.completion_tokens and tokens["output"].count == 3
    assert tokens["input"].sum == answer.metrics.prompt_tokens
    durations = {p.attributes["gen_ai.operation.name"]: p for p in found["gen_ai.client.operation.duration"]}
    assert durations["chat"].count == 3 and durations["execute_tool"].count == 2
    assert durations["chat"].attributes["gen_ai.provider.name"] == "mock"
    assert list(durations["chat"].explicit_bounds[:3]) == [0.01, 0.02, 0.04]  # the advised buckets
    (first_chunk,) = found["gen_ai.client.operation.time_to_first_chunk"]
    assert first_chunk.count == 1  # the one request that answered in words
    (per_chunk,) = found["gen_ai.client.operation.time_per_output_chunk"]
    assert per_chunk.count == len(word_tokens(answer.content)) - 1  # a gap before each chunk but the first


async def test_an_error_and_a_stopped_answer_are_marked_as_such(mock_settings, in_memory):
    spans, reader = in_memory

    await run_turn(mock_settings, "/mock fail=server\nBreak")
    failed = {s.name: s for s in spans.get_finished_spans()}
    spans.clear()
    stopped_answer = final(
        await stopped_after_first_token(mock_settings, "/mock tokens=500 rate=200 latency=0\nGo on")
    ).message
    stopped = {s.name: s for s in spans.get_finished_spans()}

    assert failed["chat mock-1"].attributes["error.type"] == "server"
    assert failed["chat mock-1"].status.status_code == StatusCode.ERROR
    assert failed["invoke_agent chatapp"].attributes["error.type"] == "error"
    assert stopped_answer.status == "stopped"
    assert stopped["chat mock-1"].attributes["error.type"] == "cancelled"
    assert "error.type" not in stopped["invoke_agent chatapp"].attributes  # stopped by the user: no failure
    errors = [p for p in points(reader)["gen_ai.client.operation.duration"] if "error.type" in p.attributes]
    assert {p.attributes["error.type"] for p in errors} == {"server", "cancelled"}


async def test_message_content_goes_out_only_when_the_standard_variable_opts_in(
    mock_settings, in_memory, monkeypatch
):
    spans, _reader = in_memory
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")

    await run_turn(mock_settings, TWO_ROUNDS)

    chats = sorted(
        (s for s in spans.get_finished_spans() if s.name == "chat mock-1"), key=lambda s: s.start_time
    )
    inputs = json.loads(chats[-1].attributes["gen_ai.input.messages"])
    assert inputs[0] == {"role": "user", "parts": [{"type": "text", "content": TWO_ROUNDS}]}
    assert inputs[-1]["parts"][0] == {"type": "tool_call_response", "id": "call_1_0", "result": "2"}
    output = json.loads(chats[-1].attributes["gen_ai.output.messages"])
    assert output[0]["finish_reason"] == "stop" and "word1" in output[0]["parts"][0]["content"]
    tool = next(s for s in spans.get_finished_spans() if s.name == "execute_tool calculator")
    assert (tool.attributes["gen_ai.tool.call.arguments"], tool.attributes["gen_ai.tool.call.result"]) == (
        '{"expression": "1+1"}',
        "2",
    )


# --- OTLP over HTTP to a collector ------------------------------------------------------------------


class Collector(ThreadingHTTPServer):
    """A minimal OTLP/HTTP receiver: it keeps what it is sent."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Receive)
        self.traces: list[ExportTraceServiceRequest] = []
        self.metrics: list[ExportMetricsServiceRequest] = []


class _Receive(BaseHTTPRequestHandler):
    server: Collector

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        if self.path == "/v1/traces":
            self.server.traces.append(ExportTraceServiceRequest.FromString(body))
        elif self.path == "/v1/metrics":
            self.server.metrics.append(ExportMetricsServiceRequest.FromString(body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def collector():
    server = Collector()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


async def test_a_real_turns_spans_and_metrics_reach_a_collector_over_otlp(
    mock_settings, collector, monkeypatch
):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{collector.server_address[1]}")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "chatapp-under-test")

    await run_turn(mock_settings, TWO_ROUNDS)
    telemetry.shutdown()  # what the app does as it stops: whatever is buffered goes out

    spans = [
        span
        for request in collector.traces
        for resource in request.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]
    assert sorted({span.name for span in spans}) == [
        "chat mock-1",
        "execute_tool calculator",
        "invoke_agent chatapp",
    ]
    service = collector.traces[0].resource_spans[0].resource.attributes
    assert {a.key: a.value.string_value for a in service}["service.name"] == "chatapp-under-test"
    names = {
        metric.name
        for request in collector.metrics
        for resource in request.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }
    assert {"gen_ai.client.token.usage", "gen_ai.client.operation.duration"} <= names


def test_without_a_collector_or_metrics_nothing_is_set_up(mock_settings, monkeypatch):
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)

    assert telemetry.exporters() == ()
    assert not telemetry.with_content()


# --- Prometheus --------------------------------------------------------------------------------------


def scraped(client: TestClient, **headers: str) -> dict[str, list]:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    return {family.name: family.samples for family in text_string_to_metric_families(response.text)}


def value(samples: list, name: str, **labels: str) -> float:
    return sum(s.value for s in samples if s.name == name and labels.items() <= s.labels.items())


@pytest.fixture
def metrics_on(mock_settings, monkeypatch):
    monkeypatch.setenv("CHATAPP_METRICS", "true")
    monkeypatch.setenv("CHATAPP_METRICS_TOKEN", "scrape-secret")
    get_settings.cache_clear()
    exporter = PrometheusExporter()  # one of its own: each test counts from zero
    use(monkeypatch, exporter)
    monkeypatch.setattr(PrometheusExporter, "shared", classmethod(lambda cls: exporter))
    return get_settings()


async def test_metrics_scraped_after_real_turns_equal_what_was_stored(metrics_on):
    first = final(await run_turn(metrics_on, TWO_ROUNDS)).message
    second = final(await run_turn(metrics_on, "/mock tokens=30 latency=0\nAgain")).message
    failed = final(await run_turn(metrics_on, "/mock fail=rate_limit\nToo fast")).message

    families = scraped(TestClient(create_api()), Authorization="Bearer scrape-secret")

    tokens = families["gen_ai_client_token_usage"]
    reported = first.metrics.completion_tokens + second.metrics.completion_tokens
    assert value(tokens, "gen_ai_client_token_usage_sum", gen_ai_token_type="output") == reported
    answers = families["chatapp_answers"]
    assert value(answers, "chatapp_answers_total", status="complete") == 2
    assert value(answers, "chatapp_answers_total", status="error") == 1
    assert value(families["chatapp_provider_errors"], "chatapp_provider_errors_total", kind="rate_limit") == 1
    assert value(families["chatapp_active_streams"], "chatapp_active_streams") == 0  # all ended
    stored = sum(m.metrics.cost_usd or 0 for m in (first, second, failed))
    assert value(families["chatapp_cost_usd"], "chatapp_cost_usd_total") == pytest.approx(stored)
    chats = value(
        families["gen_ai_client_operation_duration_seconds"],
        "gen_ai_client_operation_duration_seconds_count",
        gen_ai_operation_name="chat",
    )
    assert chats == 3 + 1 + 1  # two tool rounds and an answer, one answer, one refused request
    tool_calls = families["chatapp_tool_call_duration_seconds"]
    assert value(tool_calls, "chatapp_tool_call_duration_seconds_count", gen_ai_tool_name="calculator") == 2


def test_metrics_are_off_unless_turned_on_and_guarded_when_on(mock_settings, monkeypatch):
    client = TestClient(create_api())
    assert client.get("/metrics").status_code == 404
    assert "/metrics" not in client.get("/openapi.json").text  # not part of the REST API

    monkeypatch.setenv("CHATAPP_METRICS", "true")
    get_settings.cache_clear()
    assert client.get("/metrics").status_code == 403  # TestClient's peer is no loopback address
    assert TestClient(create_api(), client=("127.0.0.1", 50000)).get("/metrics").status_code == 200

    monkeypatch.setenv("CHATAPP_METRICS_TOKEN", "scrape-secret")
    get_settings.cache_clear()
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"}).status_code == 200


WORKER = """
import sys
from chatapp.telemetry import RequestRecord, TurnRecord
from chatapp.telemetry import RequestRecord, TurnRecord
from chatapp.telemetry.prometheus import PrometheusExporter

exporter = PrometheusExporter()
exporter.started()
clock = iter([0.0, 2.0]).__next__
turn = TurnRecord(provider="openai", model="gpt-4o", conversation_id="c", clock=clock)
turn.requests.append(RequestRecord(model="gpt-4o", started=0.0, first_chunk=0.5, ended=2.0, input_tokens=100,
                                   output_tokens=int(sys.argv[1]), finish_reason="stop"))
turn.status, turn.cost_usd = "complete", 0.25
exporter.export(turn)
if len(sys.argv) > 2:
    exporter.started()  # this worker is writing another answer now
"""

SCRAPE = """
from chatapp.telemetry import RequestRecord, TurnRecord
from chatapp.telemetry.prometheus import PrometheusExporter
print(PrometheusExporter().scrape().decode())
"""


def test_one_scrape_sees_every_worker_in_multiprocess_mode(tmp_path):
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}

    def python(code: str, *args: str) -> str:
        done = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout

    python(WORKER, "40")
    python(WORKER, "60", "still streaming")
    families = {f.name: f.samples for f in text_string_to_metric_families(python(SCRAPE))}

    tokens = families["gen_ai_client_token_usage"]
    assert value(tokens, "gen_ai_client_token_usage_sum", gen_ai_token_type="output") == 100
    assert value(families["chatapp_cost_usd"], "chatapp_cost_usd_total") == pytest.approx(0.5)
    assert value(families["chatapp_answers"], "chatapp_answers_total", status="complete") == 2


# --- telemetry never costs an answer -----------------------------------------------------------------


class Broken:
    takes_content = False

    def started(self) -> None:
        raise RuntimeError("the exporter is broken")

    def export(self, turn) -> None:
        raise RuntimeError("the exporter is broken")

    def close(self) -> None:
        pass


async def test_an_exporter_that_fails_never_ends_an_answer(mock_settings, monkeypatch):
    use(monkeypatch, Broken())

    answer = final(await run_turn(mock_settings, TWO_ROUNDS)).message

    assert answer.status == "complete" and "word12" in answer.content


async def test_an_exporter_that_cant_be_set_up_is_left_out_and_answers_go_on(mock_settings, monkeypatch):
    from chatapp.telemetry import setup

    def broken():
        raise ValueError("OTEL_EXPORTER_OTLP_HEADERS is malformed")

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setattr(setup, "otlp_exporter", broken)

    assert telemetry.exporters() == ()
    assert (
        final(await run_turn(mock_settings, "/mock tokens=3 latency=0\nStill there?")).message.status
        == "complete"
    )


def test_label_values_from_users_and_models_stop_growing_past_a_bound():
    exporter = PrometheusExporter()
    for n in range(80):  # eighty model names, as a user could type them in the settings
        turn = TurnRecord(provider="openai", model=f"model-{n}", conversation_id="c", clock=lambda: 1.0)
        turn.requests.append(
            RequestRecord(model=f"model-{n}", started=0.0, ended=1.0, input_tokens=1, output_tokens=1)
        )
        turn.status = "complete"
        exporter.export(turn)

    families = {f.name: f.samples for f in text_string_to_metric_families(exporter.scrape().decode())}
    models = {s.labels["gen_ai_request_model"] for s in families["gen_ai_client_token_usage"]}
    assert len(models) == 51 and "other" in models
