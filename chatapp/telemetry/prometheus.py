"""The same numbers for Prometheus, served at GET /metrics (chatapp.rest.api) when CHATAPP_METRICS is on: the
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

from .instruments import (
    DURATION,
    SECOND_BUCKETS,
    TIME_PER_CHUNK,
    TIME_TO_FIRST_CHUNK,
    TOKEN_USAGE,
    Instrument,
)
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

        def histogram(instrument: Instrument, labels: list[str]) -> Histogram:
            return Histogram(
                instrument.prometheus_name,
                instrument.description,
                labels,
                buckets=instrument.buckets,
                registry=registry,
            )

        self.tokens = histogram(TOKEN_USAGE, [*OPERATION, "gen_ai_token_type"])
        self.duration = histogram(DURATION, [*OPERATION, "error_type"])
        self.first_chunk = histogram(TIME_TO_FIRST_CHUNK, OPERATION)
        self.per_chunk = histogram(TIME_PER_CHUNK, OPERATION)
        self.tool_duration = Histogram(
            "chatapp_tool_call_duration_seconds",
            "How long each tool call took, by tool and how it ended",
            ["gen_ai_tool_name", "mcp_server", "status"],
            buckets=SECOND_BUCKETS,
            registry=registry,
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
            self.duration.labels(*labels, request.error or "").observe(request.duration_s)
            if request.first_chunk_s is not None:
                self.first_chunk.labels(*labels).observe(request.first_chunk_s)
            per_chunk = self.per_chunk.labels(*labels)
            for gap in request.chunk_gaps_s:
                per_chunk.observe(gap)
            if request.usage is not None:
                for kind, count in zip(("input", "output"), request.usage, strict=True):
                    self.tokens.labels(*labels, kind).observe(count)
            if request.error and request.error != "cancelled":
                self.provider_errors.labels(request.error, provider).inc()
        for tool in turn.tools:
            self.duration.labels("execute_tool", provider, model, tool.error_type).observe(tool.duration_s)
            name = self._bounded("tool", tool.name)
            self.tool_duration.labels(name, tool.server, tool.status).observe(tool.duration_s)
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
