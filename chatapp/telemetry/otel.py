"""A turn as OpenTelemetry spans and metrics, named as the GenAI semantic conventions of OpenTelemetry
semantic-conventions v1.41.0 name them (development status; the names the opentelemetry-semantic-conventions
package of this version carries).

- Spans: `invoke_agent chatapp` for the turn; under it one `chat {model}` span per request to the model (a
  round of the tool loop) and one `execute_tool {tool}` span per tool call. Message content (prompts, answers,
  tool arguments and results) only when OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT says so.
- Metrics: gen_ai.client.token.usage, gen_ai.client.operation.duration (for tool calls too, with
  gen_ai.operation.name "execute_tool", as v1.41.0 has no metric of their own),
  gen_ai.client.operation.time_to_first_chunk and gen_ai.client.operation.time_per_output_chunk.

Spans are made when the turn ends, with the times it recorded: nothing is done while an answer streams.
"""

from __future__ import annotations

import json
from typing import Any

from opentelemetry import trace
from opentelemetry.metrics import MeterProvider
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
from opentelemetry.semconv.attributes import error_attributes as error
from opentelemetry.trace import SpanKind, Status, StatusCode, TracerProvider

from .instruments import DURATION, TIME_PER_CHUNK, TIME_TO_FIRST_CHUNK, TOKEN_USAGE, Instrument
from .record import RequestRecord, ToolRecord, TurnRecord

AGENT = "chatapp"
# The conventions' names for providers (gen_ai.provider.name); the others go by the app's own name.
PROVIDER_NAMES = {"openai": "openai"}
SEMCONV_VERSION = "1.41.0"


class OtelExporter:
    takes_content = True  # if OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT opts in

    def __init__(self, tracer_provider: TracerProvider, meter_provider: MeterProvider) -> None:
        self._providers = (tracer_provider, meter_provider)
        self._tracer = tracer_provider.get_tracer(
            AGENT, schema_url=f"https://opentelemetry.io/schemas/{SEMCONV_VERSION}"
        )
        meter = meter_provider.get_meter(AGENT)

        def histogram(instrument: Instrument) -> Any:
            return meter.create_histogram(
                instrument.name,
                unit=instrument.unit,
                description=instrument.description,
                explicit_bucket_boundaries_advisory=instrument.buckets,
            )

        self._tokens = histogram(TOKEN_USAGE)
        self._duration = histogram(DURATION)
        self._first_chunk = histogram(TIME_TO_FIRST_CHUNK)
        self._per_chunk = histogram(TIME_PER_CHUNK)

    def started(self) -> None:
        pass  # spans are made when the turn ends

    def close(self) -> None:
        for provider in self._providers:
            shutdown = getattr(provider, "shutdown", None)  # the SDK's providers have it; the API's don't
            if shutdown is not None:
                shutdown()

    def export(self, turn: TurnRecord) -> None:
        provider = PROVIDER_NAMES.get(turn.provider, turn.provider)
        attributes: dict[str, Any] = {
            gen_ai.GEN_AI_OPERATION_NAME: "invoke_agent",
            gen_ai.GEN_AI_PROVIDER_NAME: provider,
            gen_ai.GEN_AI_AGENT_NAME: AGENT,
            gen_ai.GEN_AI_REQUEST_MODEL: turn.model,
        }
        if turn.conversation_id:
            attributes[gen_ai.GEN_AI_CONVERSATION_ID] = turn.conversation_id
        span = self._tracer.start_span(
            f"invoke_agent {AGENT}",
            kind=SpanKind.INTERNAL,
            start_time=turn.wall_ns(turn.started),
            attributes=attributes,
        )
        if turn.status in ("error", "interrupted"):
            span.set_attribute(error.ERROR_TYPE, turn.status)
            span.set_status(Status(StatusCode.ERROR, f"the answer ended {turn.status}"))
        inside = trace.set_span_in_context(span)
        for request in turn.requests:
            self._request(turn, request, provider, inside)
        for tool in turn.tools:
            self._tool(turn, tool, provider, inside)
        span.end(end_time=turn.wall_ns(turn.ended if turn.ended is not None else turn.clock()))

    def _request(self, turn: TurnRecord, request: RequestRecord, provider: str, inside: Any) -> None:
        common = {
            gen_ai.GEN_AI_OPERATION_NAME: "chat",
            gen_ai.GEN_AI_PROVIDER_NAME: provider,
            gen_ai.GEN_AI_REQUEST_MODEL: request.model,
            gen_ai.GEN_AI_RESPONSE_MODEL: request.model,
        }
        attributes: dict[str, Any] = {**common, gen_ai.GEN_AI_REQUEST_STREAM: True}
        if turn.conversation_id:
            attributes[gen_ai.GEN_AI_CONVERSATION_ID] = turn.conversation_id
        if turn.temperature is not None:
            attributes[gen_ai.GEN_AI_REQUEST_TEMPERATURE] = turn.temperature
        if turn.max_tokens is not None:
            attributes[gen_ai.GEN_AI_REQUEST_MAX_TOKENS] = turn.max_tokens
        if request.finish_reason:
            attributes[gen_ai.GEN_AI_RESPONSE_FINISH_REASONS] = [request.finish_reason]
        if request.usage is not None:
            attributes[gen_ai.GEN_AI_USAGE_INPUT_TOKENS], attributes[gen_ai.GEN_AI_USAGE_OUTPUT_TOKENS] = (
                request.usage
            )
        if request.first_chunk_s is not None:
            attributes[gen_ai.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = request.first_chunk_s
        if turn.with_content:
            attributes.update(_messages(request))
        span = self._tracer.start_span(
            f"chat {request.model}",
            context=inside,
            kind=SpanKind.CLIENT,
            start_time=turn.wall_ns(request.started),
            attributes=attributes,
        )
        measured = dict(common)
        if request.error:
            span.set_attribute(error.ERROR_TYPE, request.error)
            span.set_status(Status(StatusCode.ERROR, f"the request ended: {request.error}"))
            measured[error.ERROR_TYPE] = request.error
        span.end(end_time=turn.wall_ns(request.started + request.duration_s))

        self._duration.record(request.duration_s, measured)
        if request.first_chunk_s is not None:
            self._first_chunk.record(request.first_chunk_s, common)
        for gap in request.chunk_gaps_s:
            self._per_chunk.record(gap, common)
        if request.usage is not None:
            for kind, count in zip(("input", "output"), request.usage, strict=True):
                self._tokens.record(count, {**common, gen_ai.GEN_AI_TOKEN_TYPE: kind})

    def _tool(self, turn: TurnRecord, tool: ToolRecord, provider: str, inside: Any) -> None:
        attributes: dict[str, Any] = {
            gen_ai.GEN_AI_OPERATION_NAME: "execute_tool",
            gen_ai.GEN_AI_TOOL_NAME: tool.name,
            gen_ai.GEN_AI_TOOL_CALL_ID: tool.call_id,
            gen_ai.GEN_AI_TOOL_TYPE: "extension" if tool.server else "function",
        }
        if tool.server:
            attributes["chatapp.mcp.server"] = tool.server
        if turn.with_content:
            attributes[gen_ai.GEN_AI_TOOL_CALL_ARGUMENTS] = tool.arguments
            attributes[gen_ai.GEN_AI_TOOL_CALL_RESULT] = tool.result
        span = self._tracer.start_span(
            f"execute_tool {tool.name}",
            context=inside,
            kind=SpanKind.INTERNAL,
            start_time=turn.wall_ns(tool.started),
            attributes=attributes,
        )
        measured = {
            gen_ai.GEN_AI_OPERATION_NAME: "execute_tool",
            gen_ai.GEN_AI_PROVIDER_NAME: provider,
            gen_ai.GEN_AI_TOOL_NAME: tool.name,
        }
        if tool.error_type:
            span.set_attribute(error.ERROR_TYPE, tool.error_type)
            span.set_status(Status(StatusCode.ERROR, f"the tool call ended {tool.status}"))
            measured[error.ERROR_TYPE] = tool.error_type
        span.end(end_time=turn.wall_ns(tool.started + tool.duration_s))
        self._duration.record(tool.duration_s, measured)


def _messages(request: RequestRecord) -> dict[str, str]:
    """The request's prompt and answer in the conventions' message shapes, as JSON strings."""
    system = [m.content for m in request.prompt if m.role == "system"]
    inputs = []
    for message in request.prompt:
        if message.role == "system":
            continue
        parts: list[dict[str, Any]] = []
        if message.role == "tool":
            parts.append(
                {"type": "tool_call_response", "id": message.tool_call_id, "result": message.content}
            )
        elif message.content:
            parts.append({"type": "text", "content": message.content})
        parts += [
            {"type": "tool_call", "id": c.id, "name": c.name, "arguments": c.arguments}
            for c in message.tool_calls
        ]
        inputs.append({"role": message.role, "parts": parts})
    output = {
        "role": "assistant",
        "parts": [{"type": "text", "content": request.output}] if request.output else [],
        "finish_reason": request.finish_reason or "error",
    }
    return {
        gen_ai.GEN_AI_SYSTEM_INSTRUCTIONS: json.dumps([{"type": "text", "content": s} for s in system]),
        gen_ai.GEN_AI_INPUT_MESSAGES: json.dumps(inputs),
        gen_ai.GEN_AI_OUTPUT_MESSAGES: json.dumps([output]),
    }
