"""What every part of one turn shares: its settings, provider and owner, its clock, and where its news goes.

The turn's parts (the answer loop, each provider request, each tool step, naming) report through here: an
update goes at once to whoever follows the turn, and a status event is also queued to be stored with the
worker's next group of writes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import db, telemetry
from ..config import Settings
from ..domain import ChatOptions, Message, StatusEvent, StatusKind, TurnUpdate
from ..providers import Provider


@dataclass
class TurnContext:
    settings: Settings
    provider: Provider
    owner: str
    clock: Callable[[], float]
    options: ChatOptions  # the conversation's: tools allowed "always" are added as the turn goes
    model: str
    trace: telemetry.TurnRecord | None = None  # what the answer did, for the exporters, when they are on
    # What the turn reported, for its caller; None once it has ended.
    updates: asyncio.Queue[TurnUpdate | None] = field(default_factory=asyncio.Queue)

    @property
    def writes(self) -> db.WriteBehind:
        return db.write_behind(self.settings.db_url)

    async def db(self, fn: Callable[..., Any], /, **kwargs: Any) -> Any:
        return await db.run(self.settings.db_url, fn, **kwargs)

    def emit(self, update: TurnUpdate) -> None:
        self.updates.put_nowait(update)

    def status(self, kind: StatusKind, assistant: Message, detail: str = "") -> None:
        """Reports a backend event at once; it is stored with the worker's next group of writes."""
        self.emit(self.record(kind, assistant, detail))

    def record(self, kind: StatusKind, assistant: Message, detail: str = "") -> StatusEvent:
        """A backend event, queued to be stored with the worker's next group of writes."""
        event = StatusEvent(kind=kind, at=db.utcnow(), message_id=assistant.id, detail=detail)
        self.writes.add_event(assistant.conversation_id, event)
        return event

    def close(self) -> None:
        self.updates.put_nowait(None)
