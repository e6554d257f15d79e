"""The same numbers for Prometheus, served at GET /metrics (chatapp.api) when CHATAPP_METRICS is on: the
GenAI histograms under Prometheus names (dots become underscores, seconds say so), and the app's own: cost
by model and provider, answers streaming now, answers by how they ended, provider errors by kind.

With several workers, PROMETHEUS_MULTIPROC_DIR (set by scripts/run-scaled.sh) makes prometheus-client keep
each worker's values in files there, and a scrape of any worker adds them all up.
"""

from __future__ import annotations

import functools
import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from .otel import SECOND_BUCKETS, TOKEN_BUCKETS
from .record import TurnRecord

OPERATION = ["gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model"]
TEXT_FORMAT = CONTENT_TYPE_LATEST


def multiprocess_dir() -> str:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


# Label values come from users and models (a model name typed in the settings, a tool name a model made up):
# past this many of each, the rest count as "other", so no client can grow the series without bound.
MAX_LABEL_VALUES = 50


class PrometheusExporter:
    takes_content = False

    def __init__(self) -> None:
        self._seen: dict[str, set[str]] = {"model": set(), "tool": set()}
        # Several workers: each writes its values to files, and nothing is registered in this process;
        # one worker: a registry of its own.
        self._registry = None if multiprocess_dir() else CollectorRegistry()
        registry = self._registry

        def histogram(name: str, doc: str, labels: list[str], buckets: list[float]) -> Histogram:
            return Histogram(name, doc, labels, buckets=buckets, registry=registry)

        self.tokens = histogram(
            "gen_ai_client_token_usage",
            "Input and output tokens of each request to the model, as the provider reported them",
            [*OPERATION, "gen_ai_token_type"],
            TOKEN_BUCKETS,
        )
        self.duration = histogram(
            "gen_ai_client_operation_duration_seconds",
            "How long each request to the model, and each tool call, took",
            [*OPERATION, "error_type"],
            SECOND_BUCKETS,
        )
        self.first_chunk = histogram(
            "gen_ai_client_operation_time_to_first_chunk_seconds",
            "From a streamed request to its first chunk",
            OPERATION,
            SECOND_BUCKETS,
        )
        self.per_chunk = histogram(
            "gen_ai_client_operation_time_per_output_chunk_seconds",
            "Between a streamed answer's chunks, after the first",
            OPERATION,
            SECOND_BUCKETS,
        )
        self.tool_duration = histogram(
            "chatapp_tool_call_duration_seconds",
            "How long each tool call took, by tool and how it ended",
            ["gen_ai_tool_name", "mcp_server", "status"],
            SECOND_BUCKETS,
        )
        self.cost = Counter(
            "chatapp_cost_usd",
            "What the answers cost, in US dollars",
            ["model", "provider"],
            registry=registry,
        )
        self.streams = Gauge(
            "chatapp_active_streams",
            "Answers being written now",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.answers = Counter(
            "chatapp_answers", "Answers by how they ended", ["status", "provider"], registry=registry
        )
        self.provider_errors = Counter(
            "chatapp_provider_errors",
            "Requests to the model that failed, by kind",
            ["kind", "provider"],
            registry=registry,
        )

    @classmethod
    @functools.cache
    def shared(cls) -> PrometheusExporter:
        """One per process: prometheus-client refuses to make a metric twice."""
        return cls()

    def started(self) -> None:
        self.streams.inc()

    def _bounded(self, kind: str, value: str) -> str:
        seen = self._seen[kind]
        if value not in seen and len(seen) >= MAX_LABEL_VALUES:
            return "other"
        seen.add(value)
        return value[:128]

    def export(self, turn: TurnRecord) -> None:
        self.streams.dec()
        provider = turn.provider
        model = self._bounded("model", turn.model)
        for request in turn.requests:
            labels = ["chat", provider, self._bounded("model", request.model)]
            ended = request.ended if request.ended is not None else request.started
            self.duration.labels(*labels, request.error or "").observe(ended - request.started)
            if request.first_chunk is not None:
                self.first_chunk.labels(*labels).observe(request.first_chunk - request.started)
            per_chunk = self.per_chunk.labels(*labels)
            for gap in request.chunk_gaps_s:
                per_chunk.observe(gap)
            if request.input_tokens is not None and request.output_tokens is not None:
                self.tokens.labels(*labels, "input").observe(request.input_tokens)
                self.tokens.labels(*labels, "output").observe(request.output_tokens)
            if request.error and request.error != "cancelled":
                self.provider_errors.labels(request.error, provider).inc()
        for tool in turn.tools:
            ended = tool.ended if tool.ended is not None else tool.started
            self.duration.labels("execute_tool", provider, model, tool.error_type).observe(
                ended - tool.started
            )
            name = self._bounded("tool", tool.name)
            self.tool_duration.labels(name, tool.server, tool.status).observe(ended - tool.started)
        self.answers.labels(turn.status, provider).inc()
        if turn.cost_usd is not None:  # an unknown price adds nothing, not a guess
            self.cost.labels(model, provider).inc(turn.cost_usd)

    def scrape(self) -> bytes:
        """The text format of every value: this process's, or with several workers, all of theirs."""
        if self._registry is not None:
            return generate_latest(self._registry)
        everyone = CollectorRegistry()
        multiprocess.MultiProcessCollector(everyone)
        return generate_latest(everyone)

    def close(self) -> None:
        """This worker's live values (answers streaming now) leave the sum as it exits."""
        if multiprocess_dir():
            multiprocess.mark_process_dead(os.getpid())
