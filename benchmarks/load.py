"""Capacity: many tabs streaming at once, driven over Reflex's socket.io protocol with no browser.

Each tab is a python-socketio client with a token of its own, so the app sees a browser tab: it runs the
page's load event (hydrate and on_load), then sends one message, `/mock tokens=200 rate=40 latency=0` (an
ideal 5-second answer), and reads the deltas until the answer is done. All tabs send at the same moment.

Per tab count it prints how many answers finished, how long they took from send to done, how long until the
first text, the worst gap between two updates of a tab while its answer streamed, how many updates a tab got
per second meanwhile (the app's pace), and the backend's CPU time per streamed token (the server's own
processes, from /proc). Then it checks every stored answer against what the mock sent: its text and its
reported token count.

The app starts the way the README says: `one` is `make run` (one process, SQLite), `scaled` is
`make run-scaled` (two workers, Redis and PostgreSQL, through its launcher). Loopback only, and bounded:
each round stops after ROUND_TIMEOUT_S whatever happened.

The load generator shares the machine: its own event loop can run late, and then every tab's updates look
late together. So it measures itself too: the last column is how late its own timer ran at worst during the
round (it also freezes its start-up objects out of the garbage collector's reach before the tabs send).

Run: `make load`, or `.venv/bin/python benchmarks/load.py one 1 20 50 100` / `... scaled 200 400`.
Prints numbers; asserts nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import socketio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chatapp import db  # noqa: E402
from chatapp.metering import tokens  # noqa: E402
from chatapp.web.state.conversation import ConversationState  # noqa: E402
from tests.e2e.appserver import REFLEX, REFLEX_RESPAWNING, running_app  # noqa: E402
from tests.postgres import running_postgres  # noqa: E402
from tests.redis_server import running_redis  # noqa: E402

TOKENS, RATE = 200, 40
IDEAL_S = TOKENS / RATE
ROUND_TIMEOUT_S = 120.0
CONNECTS_AT_ONCE = 25  # a browser's page load, not a reconnect storm
LAG_SAMPLE_S = 0.02
SETTLE_S = 10.0
ROOT_STATE = "reflex___state____state"
CONVERSATION = ConversationState.get_full_name()
STATUS, FEED = "status_rx_state_", "feed_rx_state_"
ROUTER = {"pathname": "/", "query": {}, "asPath": "/"}
EXPECTED = " ".join(f"word{i}" for i in range(1, TOKENS + 1))


@dataclass
class Tab:
    """One tab's socket and what it saw, in perf_counter seconds."""

    number: int
    token: str = field(default_factory=lambda: str(uuid.uuid4()))
    loaded: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    sent_at: float = 0.0
    first_text_at: float = 0.0
    done_at: float = 0.0
    updates_at: list[float] = field(default_factory=list)
    text: str = ""

    def on_update(self, update: dict[str, Any]) -> None:
        now = time.perf_counter()
        delta = update.get("delta", {})
        changed = delta.get(CONVERSATION, {})
        if not self.loaded.is_set():
            if delta.get(ROOT_STATE, {}).get("is_hydrated_rx_state_") is True:  # the page's load is done
                self.loaded.set()
            return
        ops = changed.get(FEED, {}).get("ops", [])
        pieces = [op[1] for op in ops if op[0] == "+"]
        if ops:
            self.updates_at.append(now)
        if pieces and not self.first_text_at:
            self.first_text_at = now
        self.text += "".join(pieces)
        if changed.get(STATUS) in ("done", "error", "stopped", "interrupted"):
            self.done_at = now
            self.done.set()

    @property
    def _while_streaming(self) -> list[float]:
        return [t for t in self.updates_at if self.first_text_at <= t <= (self.done_at or t)]

    @property
    def updates_per_s(self) -> float:
        """How often the tab was sent its answer while it streamed (the app's pace: 20 at most)."""
        streaming = self._while_streaming
        span = streaming[-1] - streaming[0] if len(streaming) > 1 else 0.0
        return (len(streaming) - 1) / span if span else 0.0

    @property
    def worst_gap_s(self) -> float:
        streaming = self._while_streaming
        return max((b - a for a, b in zip(streaming, streaming[1:], strict=False)), default=0.0)


async def run_tab(url: str, tab: Tab, connecting: asyncio.Semaphore, go: asyncio.Event) -> None:
    client = socketio.AsyncClient(reconnection=False)
    client.on("event", tab.on_update, namespace="/_event")
    async with connecting:
        await client.connect(
            f"{url}?token={tab.token}",
            namespaces=["/_event"],
            socketio_path="_event",
            transports=["websocket"],
            wait_timeout=30,
        )
        await client.emit("event", _event(f"{ROOT_STATE}.hydrate_and_load", {}), namespace="/_event")
        await tab.loaded.wait()
    try:
        await go.wait()
        text = f"/mock tokens={TOKENS} rate={RATE} latency=0\nLoad test tab {tab.number}"
        tab.sent_at = time.perf_counter()
        await client.emit(
            "event", _event(f"{CONVERSATION}.user_message", {"form": {"message": text}}), namespace="/_event"
        )
        await tab.done.wait()
    finally:
        await client.disconnect()


def _event(name: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "payload": payload, "router_data": ROUTER}


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes so far (and of their finished children)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(value) for value in fields[11:15])  # utime, stime, cutime, cstime
    return total / ticks


def _server_pids(port: str) -> list[int]:
    """The app's processes: the one started on this port, and every process of its group (its workers)."""
    groups = set()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            if f"--backend-port\0{port}\0" in cmdline.read_text():
                groups.add(os.getpgid(int(cmdline.parent.name)))
    pids = []
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            if os.getpgid(int(entry.name)) in groups:
                pids.append(int(entry.name))
    return pids


async def _own_lag(worst: list[float]) -> None:
    """How late this process's own timer fires, at worst: the generator's share of any gap it measures."""
    loop = asyncio.get_running_loop()
    while True:
        asked = loop.time()
        await asyncio.sleep(LAG_SAMPLE_S)
        worst[0] = max(worst[0], loop.time() - asked - LAG_SAMPLE_S)


async def one_round(url: str, count: int) -> tuple[list[Tab], float]:
    """The tabs, and the generator's own worst lag while they streamed (s)."""
    tabs = [Tab(number) for number in range(count)]
    go = asyncio.Event()
    connecting = asyncio.Semaphore(CONNECTS_AT_ONCE)
    running = [asyncio.create_task(run_tab(url, tab, connecting, go)) for tab in tabs]
    worst_lag = [0.0]
    watching = None
    with contextlib.suppress(TimeoutError):  # what didn't finish in time is reported as such
        async with asyncio.timeout(ROUND_TIMEOUT_S):
            await asyncio.gather(*(tab.loaded.wait() for tab in tabs))
            gc.collect()
            gc.freeze()  # the sockets and tabs made so far: no collection walks them mid-round
            watching = asyncio.create_task(_own_lag(worst_lag))
            go.set()
            await asyncio.gather(*running)
    for task in [*running, *([watching] if watching else [])]:
        task.cancel()
    await asyncio.gather(*running, return_exceptions=True)
    gc.unfreeze()
    return tabs, worst_lag[0]


def _p(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))] if ordered else float("nan")


def _check_stored(db_url: str) -> tuple[int, int]:
    """(answers stored complete with the exact text and token count, answers left streaming), over all
    rounds so far."""
    expected_tokens = tokens.count(EXPECTED, tokens.encoding_for("mock-1"))
    exact = streaming = 0
    engine = db.engine(db_url)
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(
            "SELECT content, status, completion_tokens FROM message WHERE role = 'assistant'"
        ).all()
    for content, status, completion_tokens in rows:
        streaming += status == "streaming"
        exact += content == EXPECTED and status == "complete" and completion_tokens == expected_tokens
    return exact, streaming


def report(mode: str, url: str, db_url: str, counts: list[int]) -> None:
    port = url.rsplit(":", 1)[1]
    print(f"\n{mode}: {TOKENS}-token answers at {RATE} tokens/s (ideal {IDEAL_S:.1f} s), all tabs at once")
    print(
        "| tabs | finished | answer took p50 / p99 | first text p50 / p99 | worst gap p50 / p99 "
        "| updates per s | CPU per token | stored exactly | left streaming | generator's worst lag |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    stored_before = 0
    for count in counts:
        pids = _server_pids(port)
        cpu_before = _cpu_seconds(pids)
        tabs, own_lag = asyncio.run(one_round(url, count))
        cpu = _cpu_seconds(pids) - cpu_before
        finished = [t for t in tabs if t.done_at]
        took = [t.done_at - t.sent_at for t in finished]
        first = [(t.first_text_at - t.sent_at) * 1000 for t in finished if t.first_text_at]
        gaps = [t.worst_gap_s * 1000 for t in finished]
        rates = [t.updates_per_s for t in finished]
        streamed = sum(len(t.text.split()) for t in tabs)
        # The last final saves land, and the round's tabs' state leases (REFLEX_OPLOCK_HOLD_TIME, 8 s on two
        # workers) run out and are given back before the next round, not in the middle of it.
        time.sleep(SETTLE_S if mode == "scaled" else 2)
        exact, streaming = _check_stored(db_url)
        cells = [
            f"{count}",
            f"{len(finished)}",
            f"{_p(took, 0.5):.1f} / {_p(took, 0.99):.1f} s",
            f"{_p(first, 0.5):.0f} / {_p(first, 0.99):.0f} ms",
            f"{_p(gaps, 0.5):.0f} / {_p(gaps, 0.99):.0f} ms",
            f"{_p(rates, 0.5):.1f}",
            f"{cpu / max(streamed, 1) * 1000:.3f} ms",
            f"{exact - stored_before} of {count}",
            f"{streaming}",
            f"{own_lag * 1000:.0f} ms",
        ]
        print("| " + " | ".join(cells) + " |")
        stored_before = exact


@contextlib.contextmanager
def app(mode: str, workdir: Path) -> Iterator[tuple[str, str]]:
    """The app in `mode`; yields (its URL, its database URL)."""
    env = {"CHATAPP_PROVIDER": "mock", "CHATAPP_MOCK_LATENCY_MS": "0", "CHATAPP_MAX_ANSWERS_PER_OWNER": "3"}
    if mode == "one":
        db_url = f"sqlite:///{workdir / 'app.db'}"
        with running_app(workdir, env, db_url, REFLEX) as url:
            yield url, db_url
        return
    with running_postgres() as postgres, running_redis() as redis_url:
        db_url = postgres.create_database("load")
        env |= {"REFLEX_REDIS_URL": redis_url, "GRANIAN_WORKERS": "2"}
        with running_app(workdir, env, db_url, REFLEX_RESPAWNING) as url:
            yield url, db_url


def main() -> None:
    mode = sys.argv[1] if len(sys.argv) > 1 else "one"
    counts = [int(n) for n in sys.argv[2:]] or ([1, 20, 50, 100] if mode == "one" else [1, 50, 100, 200, 400])
    if mode not in ("one", "scaled"):
        sys.exit("usage: load.py one|scaled [tab counts...]")
    scratch = tempfile.TemporaryDirectory(prefix="chatapp-load-")
    with scratch as workdir, app(mode, Path(workdir)) as (url, db_url):
        report(mode, url, db_url, counts)


if __name__ == "__main__":
    main()
