"""Tools a model may call: one registry, each tool one decorated function with a JSON schema.

A tool gets the caller's context (whose history, which database) and its parsed arguments, and returns text
for the model. Failures never escape: an unknown tool, arguments that don't fit the schema, an exception or a
timeout all become an error result that the model sees and can react to.
"""

from __future__ import annotations

import ast
import asyncio
import functools
import json
import logging
import operator
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .. import db
from ..domain.limits import MAX_QUERY_CHARS, MAX_TOOL_NAME_CHARS, MAX_TOOL_TEXT_CHARS
from ..mcp_servers.connection import McpCallError
from ..mcp_servers.hub import Offered, hub
from ..metering import tokens

if TYPE_CHECKING:
    import tiktoken  # counting itself is metering's

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class ToolContext:
    owner: str
    db_url: str
    servers_off: tuple[str, ...] = ()  # MCP servers the conversation switched off: their tools don't exist


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]  # JSON schema of the arguments object
    run: Callable[[ToolContext, dict[str, Any]], str]
    timeout_s: float = DEFAULT_TIMEOUT_S

    def spec(self) -> dict[str, Any]:
        """The OpenAI function-calling description of this tool."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }


@dataclass(frozen=True)
class ToolOutcome:
    status: Literal["ok", "error"]
    result: str
    duration_ms: float


class ToolError(Exception):
    """A failure worth telling the model about in plain words."""


REGISTRY: dict[str, Tool] = {}


def tool(name: str, description: str, properties: dict[str, Any], required: tuple[str, ...] = (), **options):
    """Registers the decorated function as a tool; this is all it takes to add one."""

    def register(
        run: Callable[[ToolContext, dict[str, Any]], str],
    ) -> Callable[[ToolContext, dict[str, Any]], str]:
        schema = {
            "type": "object",
            "properties": properties,
            "required": list(required),
            "additionalProperties": False,
        }
        REGISTRY[name] = Tool(name=name, description=description, parameters=schema, run=run, **options)
        return run

    return register


def specs(servers_off: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The built-in tools and the connected MCP servers' tools (but `servers_off`'s), as the model is offered
    them."""
    remote = [offered.tool.spec() for offered in _remote_tools(servers_off).values()]
    return [registered.spec() for registered in REGISTRY.values()] + remote


def remote(name: str, servers_off: tuple[str, ...] = ()) -> Offered | None:
    """The MCP tool the model calls `name`, if there is one now: who runs it, and if a call needs approval."""
    return None if name in REGISTRY else _remote_tools(servers_off).get(name)


def _remote_tools(servers_off: tuple[str, ...]) -> dict[str, Offered]:
    return hub().offered(frozenset(REGISTRY), servers_off)


def spec_tokens(offered: list[dict[str, Any]], encoding: tiktoken.Encoding) -> int:
    """What these tool definitions add to a prompt."""
    return _count_once(json.dumps(offered), encoding)


@functools.lru_cache(maxsize=32)
def _count_once(definitions: str, encoding: tiktoken.Encoding) -> int:
    # The same definitions come with every request until a server's tools change: counted once each.
    return tokens.count(definitions, encoding)


_JSON_TYPES: dict[str, tuple[type, ...]] = {"string": (str,), "integer": (int,), "number": (int, float)}


def _json_object(raw: str) -> dict[str, Any]:
    try:
        arguments = json.loads(raw or "{}")
    except json.JSONDecodeError as error:
        raise ToolError(f"The arguments are not valid JSON ({error.msg}).") from None
    if not isinstance(arguments, dict):
        raise ToolError("The arguments must be a JSON object.")
    return arguments


def _check_arguments(registered: Tool, raw: str) -> dict[str, Any]:
    arguments = _json_object(raw)
    properties = registered.parameters["properties"]
    missing = [key for key in registered.parameters["required"] if key not in arguments]
    if missing:
        raise ToolError(f"Missing argument(s): {', '.join(missing)}.")
    for key, value in arguments.items():
        if key not in properties:
            raise ToolError(f"Unknown argument '{key}'. Expected: {', '.join(properties)}.")
        expected = _JSON_TYPES.get(properties[key].get("type", ""), (object,))
        if not isinstance(value, expected) or isinstance(value, bool):
            raise ToolError(f"Argument '{key}' must be of type {properties[key]['type']}.")
    return arguments


async def call(name: str, raw_arguments: str, context: ToolContext, clock=time.perf_counter) -> ToolOutcome:
    started = clock()

    def outcome(status: Literal["ok", "error"], result: str) -> ToolOutcome:
        return ToolOutcome(status=status, result=result, duration_ms=(clock() - started) * 1000)

    if len(raw_arguments) > MAX_TOOL_TEXT_CHARS:
        return outcome("error", f"The arguments are longer than {MAX_TOOL_TEXT_CHARS:,} characters.")
    registered = REGISTRY.get(name)
    if registered is None:
        offered = _remote_tools(context.servers_off)
        if name not in offered:
            available = ", ".join([*REGISTRY, *offered])
            return outcome(
                "error", f"Unknown tool '{name[:MAX_TOOL_NAME_CHARS]}'. Available tools: {available}."
            )
        try:
            failed, text = await _call_remote(offered[name], raw_arguments)
        except (ToolError, McpCallError) as error:
            return outcome("error", str(error))
        return outcome("error" if failed else "ok", text)
    try:
        arguments = _check_arguments(registered, raw_arguments)
        result = await asyncio.wait_for(
            asyncio.to_thread(registered.run, context, arguments), registered.timeout_s
        )
    except ToolError as error:
        return outcome("error", str(error))
    except TimeoutError:
        return outcome("error", f"The tool took longer than {registered.timeout_s:g} s and was abandoned.")
    except Exception as error:  # a tool bug must not end the answer
        # Its text may name the server's files: the model (and the user) get its kind, the log the rest.
        log.exception("tool %s failed", name)
        kind = type(error).__name__
        return outcome("error", f"The tool failed ({kind}); the details are in the server's log.")
    return outcome("ok", result)


async def _call_remote(remote: Offered, raw_arguments: str) -> tuple[bool, str]:
    """An MCP tool's call: its arguments as an object (the server checks them against its schema), and its
    text, cut to what a step holds with a visible mark."""
    failed, text = await remote.connection.call(remote.tool.name, _json_object(raw_arguments))
    if len(text) > MAX_TOOL_TEXT_CHARS:
        keep = MAX_TOOL_TEXT_CHARS - 100  # room for the mark, so the step still fits its column
        text = text[:keep] + f"\n… (truncated: {len(text) - keep:,} more characters)"
    return failed, text


# --- calculator: exact arithmetic on a parsed expression, never eval ---------------------------------

_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
MAX_EXPONENT = 10_000
# About 4,200 digits: keeps a malicious expression from burning the CPU, and stays under the 4,300 digits
# Python will turn an int into text.
MAX_BITS = 14_000
MAX_EXPRESSION_CHARS = 500


def _evaluate(node: ast.AST) -> Fraction:
    value = _evaluate_node(node)
    if max(value.numerator.bit_length(), value.denominator.bit_length()) > MAX_BITS:
        raise ToolError("The result would be too large to compute.")
    return value


def _evaluate_node(node: ast.AST) -> Fraction:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, int | float)
        and not isinstance(node.value, bool)
    ):
        return Fraction(str(node.value)) if isinstance(node.value, float) else Fraction(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd | ast.USub):
        value = _evaluate(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if right == 0 and isinstance(node.op, ast.Div | ast.FloorDiv | ast.Mod):
            raise ToolError("Division by zero.")
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
        base, exponent = _evaluate(node.left), _evaluate(node.right)
        if exponent.denominator != 1 or abs(exponent) > MAX_EXPONENT:
            raise ToolError(f"Exponents must be whole numbers up to {MAX_EXPONENT}.")
        if base == 0 and exponent < 0:
            raise ToolError("Division by zero.")
        size = max(base.numerator.bit_length(), base.denominator.bit_length()) * abs(exponent.numerator)
        if size > MAX_BITS:
            raise ToolError("The result would be too large to compute.")
        return base**exponent.numerator
    raise ToolError("Only numbers, + - * / // % ** and parentheses are allowed.")


def _format_number(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    with localcontext() as context:  # Decimal, not float: no overflow past 1e308, no underflow to 0
        context.prec = 15
        approximate = Decimal(value.numerator) / Decimal(value.denominator)
    return f"{value.numerator}/{value.denominator} ≈ {approximate:g}"


@tool(
    "calculator",
    "Exact arithmetic. Supports + - * / // % ** and parentheses, e.g. '(2 + 3) * 7 / 4'.",
    {"expression": {"type": "string", "description": "The arithmetic expression to evaluate."}},
    required=("expression",),
)
def calculator(_context: ToolContext, arguments: dict[str, Any]) -> str:
    expression = arguments["expression"].replace("^", "**").replace("×", "*").replace("÷", "/")
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise ToolError(f"The expression is longer than {MAX_EXPRESSION_CHARS} characters.")
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError:
        raise ToolError(f"'{arguments['expression']}' is not an arithmetic expression.") from None
    return _format_number(_evaluate(tree))


# --- current time --------------------------------------------------------------------------------------


_ZONE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+){0,2}")
_ZONE_NAME_CHARS = 64


@tool(
    "current_time",
    "The current date and time in a time zone (an IANA name such as 'Europe/Paris'; UTC when omitted).",
    {"timezone": {"type": "string", "description": "IANA time zone name, e.g. 'America/New_York'."}},
)
def current_time(_context: ToolContext, arguments: dict[str, Any]) -> str:
    name = arguments.get("timezone") or "UTC"
    shown = name[:_ZONE_NAME_CHARS]
    unknown = ToolError(f"Unknown time zone '{shown}'. Use an IANA name such as 'Europe/Paris'.")
    # IANA names are short words and slashes: anything else is never looked up, so never a path to open.
    if len(name) > _ZONE_NAME_CHARS or not _ZONE_NAME.fullmatch(name):
        raise unknown
    try:
        zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise unknown from None
    now = datetime.now(zone)
    return f"{now:%A %Y-%m-%d %H:%M:%S} {now.tzname()} (UTC{now:%z}, {name})"


# --- search this owner's own conversations ---------------------------------------------------------------


@tool(
    "search_conversations",
    "Full-text search over the user's own earlier conversations; returns titles, snippets and ids.",
    {
        "query": {"type": "string", "description": "Words to look for."},
        "limit": {"type": "integer", "description": "How many results, 1 to 10 (default 5)."},
    },
    required=("query",),
)
def search_conversations(context: ToolContext, arguments: dict[str, Any]) -> str:
    query = arguments["query"].strip()[:MAX_QUERY_CHARS]  # as the sidebar's and REST's search take it
    if not query:
        raise ToolError("The query is empty.")
    limit = min(max(int(arguments.get("limit", 5)), 1), 10)
    with db.session_for(context.db_url) as session:
        hits = db.search_messages(session, owner=context.owner, query=query, limit=limit)
    if not hits:
        return json.dumps({"results": [], "note": f"Nothing found for '{query}'."})
    return json.dumps(
        {"results": [{"id": h.conversation_id, "title": h.title, "snippet": h.snippet} for h in hits]}
    )
