"""Runs real Reflex events against the app's states without a browser; records what a browser would get.

The processor is Reflex's own (BaseStateEventProcessor over an in-memory state manager); the recorder stands
in for the socket layer and keeps every StateUpdate, so tests can assert on the exact deltas.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from reflex.istate.manager.memory import StateManagerMemory
from reflex.istate.manager.token import BaseStateToken
from reflex.state import StateUpdate
from reflex_base.constants.state import FIELD_MARKER
from reflex_base.event import Event
from reflex_base.event.processor import BaseStateEventProcessor
from reflex_base.utils.format import json_dumps

from chatapp.web.state.conversation import ConversationState
from chatapp.web.state.session import SessionState

from .factories import until

# The app's states all hang under SessionState; their deltas are keyed by their full names.
APP = SessionState.get_full_name()
S = TypeVar("S", bound=SessionState)


def var(name: str) -> str:
    return name + FIELD_MARKER


@dataclass
class Tab:
    """One browser tab: its token, the processor and every update sent to it."""

    processor: BaseStateEventProcessor
    manager: StateManagerMemory
    token: str = field(default_factory=lambda: str(uuid.uuid4()))
    updates: list[StateUpdate] = field(default_factory=list)

    async def emit_update(self, update: StateUpdate, token: str) -> None:
        self.updates.append(update)

    async def start(self, spec: Any):
        """Enqueues an event and returns its future (wait with `await future.wait_all()`)."""
        (event,) = Event.from_event_type(spec)
        return await self.processor.enqueue(self.token, event)

    async def send(self, spec: Any) -> list[dict[str, Any]]:
        """Runs an event and everything it chains (background tasks included); returns their deltas."""
        start = len(self.updates)
        future = await self.start(spec)
        await future.wait_all()
        future.result()
        return self.deltas(start)

    def deltas(self, start: int = 0) -> list[dict[str, Any]]:
        """Each update's vars, from whichever of the app's substates they belong to (their names differ)."""
        merged = [
            {k: v for name, changed in u.delta.items() if name.startswith(APP) for k, v in changed.items()}
            for u in self.updates[start:]
        ]
        return [delta for delta in merged if delta]

    def wire_bytes(self, start: int = 0) -> int:
        """The JSON size of the updates, as the socket layer would encode them."""
        return sum(len(json_dumps(u).encode()) for u in self.updates[start:])

    async def set_owner(self, owner: str) -> None:
        """What the browser's local storage holds: another tab of the same browser shares its owner key."""
        async with self.manager.modify_state(BaseStateToken(ident=self.token, cls=SessionState)) as root:
            (await root.get_state(SessionState)).owner_key = owner

    async def state(self, cls: type[S] = ConversationState) -> S:  # type: ignore[assignment]
        """One of the tab's substates as the server holds it (the open conversation's by default)."""
        root = await self.manager.get_state(BaseStateToken(ident=self.token, cls=cls))
        return await root.get_state(cls)

    async def wait_for(self, predicate, timeout_s: float = 10.0) -> None:
        await until(predicate, timeout_s=timeout_s, every_s=0.005)


@contextlib.asynccontextmanager
async def open_tab() -> AsyncIterator[Tab]:
    async with open_tabs(1) as (tab,):
        yield tab


@dataclass
class _Sockets:
    """What the socket layer does with an update: it goes to the tab whose token it names."""

    tabs: dict[str, Tab] = field(default_factory=dict)

    async def emit_update(self, update: StateUpdate, token: str) -> None:
        await self.tabs[token].emit_update(update, token)


@contextlib.asynccontextmanager
async def open_tabs(count: int) -> AsyncIterator[tuple[Tab, ...]]:
    """Tabs of one backend: one processor and state manager, a token each (one process runs one of each)."""
    manager = StateManagerMemory()
    processor = BaseStateEventProcessor(graceful_shutdown_timeout=5)
    tabs = tuple(Tab(processor=processor, manager=manager) for _ in range(count))
    processor.configure(state_manager=manager, event_namespace=_Sockets({tab.token: tab for tab in tabs}))
    async with processor:
        yield tabs
    await manager.close()


def feed_ops(deltas: list[dict[str, Any]]) -> list[list[Any]]:
    return [op for delta in deltas for op in delta.get(var("feed"), {}).get("ops", [])]


def streamed_text(deltas: list[dict[str, Any]]) -> str:
    return "".join(op[1] for op in feed_ops(deltas) if op[0] == "+")


def shown_messages(deltas: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The messages and monitor events a browser shows after these deltas, applied as assets/live_feed.jsx
    applies them: a newer snapshot replaces the view, and each feed batch counts once, in order."""
    seq, messages, events = -1, [], []
    for delta in deltas:
        snapshot, feed = delta.get(var("snapshot")), delta.get(var("feed"))
        if snapshot and snapshot["seq"] > seq:
            seq, messages, events = snapshot["seq"], list(snapshot["messages"]), list(snapshot["events"])
        if feed and feed["seq"] == seq + 1:
            seq = feed["seq"]
            for op in feed["ops"]:
                if op[0] == "m":
                    ids = [m["id"] for m in messages]
                    if op[1]["id"] in ids:
                        messages[ids.index(op[1]["id"])] = op[1]
                    else:
                        messages.append(op[1])
                elif op[0] == "+":
                    messages[-1] = {**messages[-1], "content": messages[-1]["content"] + op[1]}
                elif op[0] == "u":
                    messages = [{**m, **op[2]} if m["id"] == op[1] else m for m in messages]
                elif op[0] == "e":
                    events.append({"kind": op[1], "message_id": messages[-1]["id"]})
    return messages, events
