"""The field types of the REST and export schemas: text, ids, times and numbers, each with its limit.

Text is cleaned as every store takes it (no NUL, no lone surrogate); a time read from a file must lie
between 1970 and now; a count is a whole number, a measure a finite one.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, StrictInt

from ..domain import plain_text
from ..domain.limits import (
    MAX_ANSWER_CHARS,
    MAX_CATEGORY_CHARS,
    MAX_ERROR_CHARS,
    MAX_LABEL_CHARS,
    MAX_MODEL_CHARS,
    MAX_NAME_CHARS,
    MAX_TITLE_CHARS,
    MAX_TOOL_NAME_CHARS,
    MAX_TOOL_TEXT_CHARS,
)

MAX_COUNT = 100_000_000


def _utc(moment: datetime) -> datetime:
    # The databases hand back naive datetimes; every time the app stores is UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _plausible(moment: datetime) -> datetime:
    """A time read from a file: in UTC, and between 1970 and now (a conversation dated 2099 would stay at
    the top of the sidebar for good; year 1 or 9999 overflow on the way to UTC)."""
    try:
        moment = _utc(moment)
    except OverflowError:
        raise ValueError("out of range") from None
    if not EARLIEST <= moment <= datetime.now(UTC) + timedelta(days=1):
        raise ValueError("not a time between 1970 and now")
    return moment


EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return _utc(moment).isoformat(timespec="milliseconds").replace("+00:00", "Z")


Timestamp = Annotated[
    datetime,
    AfterValidator(_plausible),
    PlainSerializer(iso, return_type=str),
    Field(description="UTC, to the millisecond: 2026-12-01T09:30:00.250Z"),
]
Id = Annotated[str, Field(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")]


def _clean(value: Any) -> Any:
    # Before the type check: a lone surrogate is no valid string to pydantic, but it is text to replace.
    return plain_text(value) if isinstance(value, str) else value


def _at_most(limit: int) -> Any:
    return Field(max_length=limit, strict=True)


_CLEAN = BeforeValidator(_clean)
# Text as every store takes it (no NUL, no lone surrogate), each kind with its own length limit; the
# optional ones are null when not set, as REST says it.
Title = Annotated[str, _at_most(MAX_TITLE_CHARS), _CLEAN]
Content = Annotated[str, _at_most(MAX_ANSWER_CHARS), _CLEAN]
ToolName = Annotated[str, _at_most(MAX_TOOL_NAME_CHARS), _CLEAN]
ToolText = Annotated[str, _at_most(MAX_TOOL_TEXT_CHARS), _CLEAN]
CategoryName = Annotated[Annotated[str, _at_most(MAX_CATEGORY_CHARS)] | None, _CLEAN]
ModelName = Annotated[Annotated[str, _at_most(MAX_MODEL_CHARS)] | None, _CLEAN]
SystemPrompt = Annotated[Annotated[str, _at_most(100_000)] | None, _CLEAN]
ProviderName = Annotated[Annotated[str, _at_most(MAX_NAME_CHARS)] | None, _CLEAN]
EncodingName = Annotated[Annotated[str, _at_most(MAX_LABEL_CHARS)] | None, _CLEAN]
PriceText = Annotated[Annotated[str, _at_most(1_000)] | None, _CLEAN]
ErrorText = Annotated[Annotated[str, _at_most(MAX_ERROR_CHARS)] | None, _CLEAN]
# An MCP server's name: the characters a model's function name may hold.
ServerName = Annotated[str, Field(pattern=rf"^[A-Za-z0-9_-]{{1,{MAX_NAME_CHARS}}}$")]


Count = Annotated[StrictInt, Field(ge=0, le=MAX_COUNT)]
Number = Annotated[float, Field(ge=0, allow_inf_nan=False, strict=True)]


class Shape(BaseModel):
    """The base of every REST and export shape."""

    # Unknown keys are ignored: a newer export still imports here.
    model_config = ConfigDict(extra="ignore")
