"""The four GenAI histograms both exporters keep: their OpenTelemetry names (semantic-conventions v1.41.0),
units, descriptions and advised buckets, and the names Prometheus gives them."""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry.semconv._incubating.metrics import gen_ai_metrics

# The buckets the conventions advise for each histogram.
TOKEN_BUCKETS = tuple(float(4**power) for power in range(14))
SECOND_BUCKETS = tuple(0.01 * 2**power for power in range(14))


@dataclass(frozen=True)
class Instrument:
    name: str
    unit: str
    description: str
    buckets: tuple[float, ...]

    @property
    def prometheus_name(self) -> str:
        """Dots become underscores, and a time says it is in seconds."""
        return self.name.replace(".", "_") + ("_seconds" if self.unit == "s" else "")


TOKEN_USAGE = Instrument(
    gen_ai_metrics.GEN_AI_CLIENT_TOKEN_USAGE,
    "{token}",
    "Input and output tokens of each request to the model, as the provider reported them",
    TOKEN_BUCKETS,
)
DURATION = Instrument(
    gen_ai_metrics.GEN_AI_CLIENT_OPERATION_DURATION,
    "s",
    "How long each request to the model, and each tool call, took",
    SECOND_BUCKETS,
)
TIME_TO_FIRST_CHUNK = Instrument(
    gen_ai_metrics.GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK,
    "s",
    "From a streamed request to its first chunk",
    SECOND_BUCKETS,
)
TIME_PER_CHUNK = Instrument(
    gen_ai_metrics.GEN_AI_CLIENT_OPERATION_TIME_PER_OUTPUT_CHUNK,
    "s",
    "Between a streamed answer's chunks, after the first",
    SECOND_BUCKETS,
)
