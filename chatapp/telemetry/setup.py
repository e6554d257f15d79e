"""The OpenTelemetry SDK as the standard environment variables describe it: OTLP over HTTP to
OTEL_EXPORTER_OTLP_ENDPOINT (or the per-signal variables), with their headers, timeouts and intervals;
the service named by OTEL_SERVICE_NAME (chatapp unless named)."""

from __future__ import annotations

import logging
import os

from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from .otel import OtelExporter

log = logging.getLogger(__name__)


def otlp_exporter() -> OtelExporter:
    if os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf") != "http/protobuf":
        log.warning("OTEL_EXPORTER_OTLP_PROTOCOL: only http/protobuf is supported; exporting with it")
    resource = Resource.create({} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": "chatapp"})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    meter_provider = MeterProvider(
        resource=resource, metric_readers=[PeriodicExportingMetricReader(OTLPMetricExporter())]
    )
    log.info("exporting traces and metrics over OTLP")
    return OtelExporter(tracer_provider, meter_provider)
