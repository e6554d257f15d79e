"""Each turn's numbers, out to the tools people already run: OpenTelemetry over OTLP (when the standard
OTEL_EXPORTER_OTLP_* variables name a collector) and Prometheus at GET /metrics (when CHATAPP_METRICS is on).
With neither, nothing is set up and a turn's record goes nowhere.

A turn fills in a TurnRecord (record.py) and hands it over once, when it ends; `streams` counts the answers
being written now."""

from __future__ import annotations

import functools
import logging
import os
from typing import Protocol

from ..config import get_settings
from .record import RequestRecord, ToolRecord, TurnRecord

log = logging.getLogger(__name__)

__all__ = [
    "enabled",
    "RequestRecord",
    "ToolRecord",
    "TurnRecord",
    "shutdown",
    "turn_started",
    "turn_ended",
    "with_content",
]


class Exporter(Protocol):
    takes_content: bool  # whether message content may go to it at all

    def started(self) -> None: ...

    def export(self, turn: TurnRecord) -> None: ...

    def close(self) -> None: ...


def otlp_configured() -> bool:
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    names = (
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    )
    return any(os.environ.get(name) for name in names)


def enabled() -> bool:
    """Whether any exporter is on: without one, a turn keeps no record at all."""
    return bool(exporters())


def with_content() -> bool:
    """Whether prompts, answers and tool arguments may go out with the spans: only to OpenTelemetry, and only
    when the standard opt-in variable says so (true, or the newer SPAN_ONLY / SPAN_AND_EVENT)."""
    value = os.environ.get("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "").strip().lower()
    return any(e.takes_content for e in exporters()) and value in ("true", "span_only", "span_and_event")


@functools.cache
def exporters() -> tuple[Exporter, ...]:
    """This process's exporters, set up when first needed. One that can't be set up is logged and left out:
    telemetry never stops an answer."""
    found: list[Exporter] = []
    if otlp_configured():
        try:
            from .setup import otlp_exporter

            found.append(otlp_exporter())
        except Exception:
            log.exception("OpenTelemetry could not be set up from the OTEL_* variables; nothing is exported")
    if get_settings().metrics_enabled:
        try:
            from .prometheus import PrometheusExporter

            found.append(PrometheusExporter.shared())
        except Exception:
            log.exception("Prometheus metrics could not be set up; /metrics serves nothing")
    return tuple(found)


def turn_started() -> None:
    for exporter in exporters():
        try:
            exporter.started()
        except Exception:
            log.exception("telemetry failed as an answer started")


def turn_ended(turn: TurnRecord) -> None:
    """Hands the finished turn to each exporter. Never raises: telemetry must not end an answer."""
    for exporter in exporters():
        try:
            exporter.export(turn)
        except Exception:
            log.exception("exporting a turn's telemetry failed")


def shutdown() -> None:
    """At the app's end: what is buffered goes out, and this worker's live values leave the sum."""
    if exporters.cache_info().currsize == 0:
        return  # none was made, and none is made now
    for exporter in exporters():
        exporter.close()
