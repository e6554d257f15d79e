"""Streaming benchmark: wire bytes per token, app-added time to first painted token, and how far the browser
lags behind the provider, all measured through the real app, a real browser and the real websocket.

It prints numbers and asserts nothing. Run it with `make benchmark` (or `.venv/bin/python
benchmarks/streaming.py`); it takes about a minute and a half on 2 cores, plus a first build of the frontend.

How each number is taken:
- Bytes per token: every websocket frame the browser receives (Playwright's `framereceived`, UTF-8 bytes) from
  the Enter key until the answer is finished (summary line shown, monitor says "done", Send button back),
  divided by the answer's token count. Each case runs in a fresh browser context, so the sidebar list the app
  sends when a conversation is created has one row.
- Time to first painted token: in the page, from the Enter keydown (a capture listener) to the first mutation
  that leaves the new assistant message with non-empty text (a MutationObserver; the DOM commit, which the
  screen shows at the next frame). The mock answers with no latency, so all of it is the app: send handler,
  database writes, background task, flush, websocket, React.
- Lag: the same observer records when the text reaches its final length; the provider produced its last token
  (N-1)/rate after its first, so lag = last paint - (first paint + (N-1)/rate). Because that is anchored on
  the first token, which can wait longer than later ones, the last token's delay over the best-delivered
  token's is reported too.
"""

from __future__ import annotations

import bisect
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Browser, BrowserContext, Page, WebSocket, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.e2e.appserver import CHROMIUM_ARGS, running_app  # noqa: E402

APP_ENV = {"CHATAPP_PROVIDER": "mock", "CHATAPP_MOCK_LATENCY_MS": "0", "CHATAPP_MOCK_TOKENS_PER_S": "500"}
TARGET_BYTES_PER_TOKEN = 30
TARGET_FIRST_PAINT_MS = 150
TARGET_LAG_MS = 150
WIRE_SIZES = (100, 1000)
WIRE_HISTORY = (0, 10)
EARLIER = "/mock tokens=100 latency=0 rate=2000"
FIRST_PAINT_RUNS = 5
FIRST_PAINT_MESSAGE = "/mock tokens=50 rate=200 latency=0"
LAG_TOKENS = 1000
LAG_RATES = (200, 500)
LAG_RUNS = 5
TURN_TIMEOUT_MS = 60_000

# Installed before the app's own scripts: times the Enter key, watches the newest assistant message, and
# timestamps every websocket message the page receives (for the breakdown of the first-paint time).
INSTRUMENT_JS = """
(() => {
  const bench = (window.__bench = {
    t0: null, first: null, last: null, target: 0, seen: new Set(), frames: [], paints: [], lastFrame: 0,
    firstFeedFrame: null,
  });
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (e) => {
        const now = performance.now();
        bench.frames.push(now);
        bench.lastFrame = now;
        if (bench.t0 !== null && bench.firstFeedFrame === null && typeof e.data === "string"
            && e.data.includes('["+"')) bench.firstFeedFrame = now;
      });
    }
  };
  document.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && e.target && e.target.id === "chat-input" && bench.t0 === null) {
      bench.t0 = performance.now();
    }
  }, true);
  const check = () => {
    if (bench.t0 === null || bench.last !== null) return;
    const rows = document.querySelectorAll("#messages .cf-row-assistant");
    const row = rows[rows.length - 1];
    if (!row || bench.seen.has(row.dataset.messageId)) return;
    const body = row.querySelector(".cf-plain, .cf-markdown");
    const length = body ? body.textContent.length : 0;
    const now = performance.now();
    const paints = bench.paints;
    const changed = paints.length === 0 || paints[paints.length - 1][1] !== length;
    if (length > 0 && changed) paints.push([now, length]);
    if (length > 0 && bench.first === null) bench.first = now;
    if (bench.target > 0 && length >= bench.target) bench.last = now;
  };
  new MutationObserver(check).observe(document, { subtree: true, childList: true, characterData: true });
})();
"""

ARM_JS = """
(target) => {
  const b = window.__bench;
  b.t0 = null; b.first = null; b.last = null; b.firstFeedFrame = null; b.target = target; b.frames = [];
  b.paints = [];
  const shown = document.querySelectorAll("#messages [data-message-id]");
  b.seen = new Set([...shown].map((e) => e.dataset.messageId));
}
"""

# The turn is over when the new answer shows its summary line, the monitor says done and Send is back.
DONE_JS = """
() => {
  const b = window.__bench;
  if (b.t0 === null) return false;
  const rows = document.querySelectorAll("#messages .cf-row-assistant");
  const row = rows[rows.length - 1];
  if (!row || b.seen.has(row.dataset.messageId) || !row.querySelector(".cf-summary")) return false;
  const status = document.querySelector("#monitor-status");
  return !!status && status.textContent.trim() === "done" && !!document.querySelector("#send-button")
    && !document.querySelector("#stop-button");
}
"""


DIAGNOSE_JS = """
() => {
  const rows = document.querySelectorAll("#messages .cf-row-assistant");
  const row = rows[rows.length - 1];
  const body = row && row.querySelector(".cf-plain, .cf-markdown");
  const text = (sel) => { const e = document.querySelector(sel); return e ? e.textContent.trim() : null; };
  return {
    status: text("#monitor-status"), notice: text("#notice"), send: !!document.querySelector("#send-button"),
    stop: !!document.querySelector("#stop-button"), lastAnswerStatus: row ? row.querySelector(".cf-bubble")
      .dataset.status : null, lastAnswerLength: body ? body.textContent.length : 0,
    lastAnswerIsNew: row ? !window.__bench.seen.has(row.dataset.messageId) : false,
    summary: row ? !!row.querySelector(".cf-summary") : false, target: window.__bench.target,
  };
}
"""


def answer_text(tokens: int) -> str:
    """What the mock answers to `/mock tokens=N`."""
    return " ".join(f"word{i}" for i in range(1, tokens + 1))


def frame_bytes(payload: str | bytes) -> int:
    return len(payload.encode()) if isinstance(payload, str) else len(payload)


@dataclass
class Turn:
    """What one sent message cost on the wire and when it showed in the page (page clock, ms)."""

    tokens: int
    frames: list[str | bytes]
    sent: float
    first_paint: float | None
    last_paint: float | None
    first_feed_frame: float | None
    frame_times: list[float]  # when the page received each of `frames`
    paints: list[tuple[float, int]]  # (time, text length) each time the answer's text changed

    @property
    def wire_bytes(self) -> int:
        return sum(frame_bytes(f) for f in self.frames)

    @property
    def first_paint_ms(self) -> float:
        if self.first_paint is None:
            raise RuntimeError("the answer's first token was never painted")
        return self.first_paint - self.sent


@dataclass
class Tab:
    """One browser context with the app open; collects every websocket frame it receives."""

    context: BrowserContext
    page: Page
    frames: list[str | bytes] = field(default_factory=list)

    @classmethod
    def open(cls, browser: Browser, url: str) -> Tab:
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        context.add_init_script(INSTRUMENT_JS)
        page = context.new_page()
        tab = cls(context, page)
        page.on("websocket", lambda ws: tab._watch(ws))
        page.goto(url)
        page.wait_for_selector("#send-button")
        # The state arrived and the page has been quiet for a moment (on_load and hydration are over).
        page.wait_for_function(
            "() => window.__bench.frames.length > 0 && performance.now() - window.__bench.lastFrame > 300"
        )
        return tab

    def _watch(self, ws: WebSocket) -> None:
        # Playwright tags handlers with an attribute, so they must be plain functions, not bound built-ins.
        ws.on("framereceived", lambda payload: self.frames.append(payload))

    def send(self, text: str, tokens: int) -> Turn:
        page = self.page
        page.fill("#chat-input", text)
        page.evaluate(ARM_JS, len(answer_text(tokens)))
        mark = len(self.frames)
        page.press("#chat-input", "Enter")
        try:
            page.wait_for_function(DONE_JS, timeout=TURN_TIMEOUT_MS)
        except PlaywrightTimeoutError:
            raise RuntimeError(f"the answer to {text!r} did not finish:\n{self.diagnose(mark)}") from None
        bench = page.evaluate("() => ({...window.__bench, seen: null})")
        # Playwright delivers frame events asynchronously: wait until it has seen every frame the page has.
        deadline = time.monotonic() + 5
        while len(self.frames) - mark < len(bench["frames"]) and time.monotonic() < deadline:
            page.wait_for_timeout(10)
        return Turn(
            tokens=tokens,
            frames=self.frames[mark:],
            sent=bench["t0"],
            first_paint=bench["first"],
            last_paint=bench["last"],
            first_feed_frame=bench["firstFeedFrame"],
            frame_times=bench["frames"],
            paints=[(t, n) for t, n in bench["paints"]],
        )

    def diagnose(self, mark: int) -> str:
        shown = self.page.evaluate(DIAGNOSE_JS)
        frames = "\n".join(f"    {frame_bytes(f):>6} B  {describe(f)}" for f in self.frames[mark:][-12:])
        return f"  page: {json.dumps(shown)}\n  last frames since the message was sent:\n{frames}"

    def close(self) -> None:
        self.context.close()


# --- what is in the frames -------------------------------------------------------------------------------


def decode(payload: str | bytes) -> dict | None:
    """The Reflex update inside a socket.io `42/_event,["event", {...}]` frame, or None for anything else."""
    if not isinstance(payload, str) or not payload.startswith("42") or "[" not in payload:
        return None
    try:
        message = json.loads(payload[payload.index("[") :])
    except ValueError:
        return None
    if isinstance(message, list) and len(message) > 1 and isinstance(message[1], dict):
        return message[1]
    return None


def is_feed_append(payload: str | bytes) -> bool:
    return isinstance(payload, str) and '["+"' in payload


def json_bytes(value: object) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


def bytes_by_var(frames: list[str | bytes]) -> Counter[str]:
    """Attributes each frame's bytes to the state vars it carries (the feed split by operation: `feed +` is
    streamed text, `feed e` monitor events, `feed m`/`feed u` messages); the rest is envelope: socket.io's
    prefix, Reflex's `{"delta":{"<state name>":...}}` wrapper, and client-side events such as `_set_value`."""
    totals: Counter[str] = Counter()
    for payload in frames:
        size = frame_bytes(payload)
        update = decode(payload)
        delta = update.get("delta") if update else None
        counted = 0
        if isinstance(delta, dict):
            for state_vars in delta.values():
                for name, value in (state_vars or {}).items():
                    var = name.removesuffix("_rx_state_")
                    part = json_bytes({name: value}) - 1  # "name":value plus its comma
                    counted += part
                    if var == "feed" and isinstance(value, list):
                        for op in value:
                            totals[f"feed {op[0]}"] += json_bytes(op) + 1
                            part -= json_bytes(op) + 1
                    totals[var] += part
        totals["(envelope)"] += size - counted
    return totals


def describe(payload: str | bytes) -> str:
    """What a frame carries, in a line: the vars in its delta (feed operations spelled out), or its events."""
    update = decode(payload)
    if update is None:
        return repr(payload[:60])
    parts = []
    for state_vars in (update.get("delta") or {}).values():
        for name, value in (state_vars or {}).items():
            var = name.removesuffix("_rx_state_")
            if var == "feed" and isinstance(value, list):
                var += "[" + " ".join(str(op[0]) for op in value) + "]"
            parts.append(var)
    parts += [f"event {e.get('name')}" for e in update.get("events") or []]
    return ", ".join(parts)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# --- the three measurements ------------------------------------------------------------------------------


def measure_wire(browser: Browser, url: str) -> list[dict]:
    rows = []
    for earlier in WIRE_HISTORY:
        for tokens in WIRE_SIZES:
            tab = Tab.open(browser, url)
            try:
                for _ in range(earlier):
                    tab.send(EARLIER, 100)
                turn = tab.send(f"/mock tokens={tokens} latency=0", tokens)
            finally:
                tab.close()
            appends = [f for f in turn.frames if is_feed_append(f)]
            append_bytes = [frame_bytes(f) for f in appends]
            timed = zip(turn.frame_times, turn.frames, strict=False)
            append_times = [at for at, payload in timed if is_feed_append(payload)]
            span_s = (append_times[-1] - append_times[0]) / 1000 if len(append_times) > 1 else 0.0
            row = {
                "tokens": tokens,
                "earlier": earlier,
                "bytes": turn.wire_bytes,
                "per_token": turn.wire_bytes / tokens,
                "frames": len(turn.frames),
                "append_median": median(append_bytes),
                "flush_hz": (len(append_times) - 1) / span_s if span_s else float("nan"),
                "text_bytes": len(answer_text(tokens)),
                "fixed_bytes": turn.wire_bytes - sum(append_bytes),
                "by_var": bytes_by_var(turn.frames),
                "turn": turn,
            }
            rows.append(row)
            print(
                f"  {tokens:>5} tokens after {earlier:>2} exchanges: {row['bytes']:>7,} B"
                f" in {row['frames']:>3} frames = {row['per_token']:5.1f} B/token"
                f" ({len(appends)} streaming frames at {row['flush_hz']:.0f} Hz,"
                f" median {row['append_median']:.0f} B;"
                f" {row['fixed_bytes']:,} B in the others)",
                flush=True,
            )
    return rows


def measure_first_paint(browser: Browser, url: str) -> dict[str, list[Turn]]:
    turns: dict[str, list[Turn]] = {"new conversation": [], "follow-up": []}
    for _ in range(FIRST_PAINT_RUNS):
        tab = Tab.open(browser, url)
        try:
            turns["new conversation"].append(tab.send(FIRST_PAINT_MESSAGE, 50))
        finally:
            tab.close()
    tab = Tab.open(browser, url)
    try:
        tab.send(FIRST_PAINT_MESSAGE, 50)  # creates the conversation; the runs below are follow-ups
        for _ in range(FIRST_PAINT_RUNS):
            turns["follow-up"].append(tab.send(FIRST_PAINT_MESSAGE, 50))
    finally:
        tab.close()
    for kind, runs in turns.items():
        paints = ", ".join(f"{t.first_paint_ms:.0f}" for t in runs)
        frames = ", ".join(f"{t.first_feed_frame - t.sent:.0f}" for t in runs if t.first_feed_frame)
        print(f"  {kind:>16}: first paint {paints} ms (its frame received at {frames} ms)", flush=True)
    return turns


@dataclass
class Lag:
    at_end: float  # last paint - (first paint + (N-1)/rate), as defined above
    worst: float  # the largest such delay of any token, each measured when it was first painted
    over_best: float  # the last token's delay minus the smallest delay of any token
    paints: int


def lag_of(turn: Turn, rate: float) -> Lag:
    if turn.first_paint is None or turn.last_paint is None:
        raise RuntimeError("the answer was not painted in full")
    text = answer_text(turn.tokens)
    ends = [i for i in range(1, len(text) + 1) if i == len(text) or text[i] == " "]  # where each token ends
    # Each paint shows the tokens up to `newest` for the first time; its delay relative to the first token's:
    delays = []
    for painted_at, length in turn.paints:
        newest = bisect.bisect_right(ends, length)
        if newest:
            delays.append(painted_at - (turn.first_paint + (newest - 1) / rate * 1000))
    at_end = turn.last_paint - (turn.first_paint + (turn.tokens - 1) / rate * 1000)
    return Lag(at_end=at_end, worst=max(delays), over_best=at_end - min(delays), paints=len(turn.paints))


def measure_lag(browser: Browser, url: str) -> dict[int, list[Lag]]:
    lags: dict[int, list[Lag]] = {}
    tab = Tab.open(browser, url)
    try:
        tab.send(FIRST_PAINT_MESSAGE, 50)  # creates the conversation so that each run is a follow-up
        for rate in LAG_RATES:
            lags[rate] = [
                lag_of(tab.send(f"/mock tokens={LAG_TOKENS} rate={rate} latency=0", LAG_TOKENS), rate)
                for _ in range(LAG_RUNS)
            ]
            runs = lags[rate]
            print(
                f"  {rate:>4} tokens/s: lag at the end {', '.join(f'{x.at_end:.0f}' for x in runs)} ms;"
                f" worst token {', '.join(f'{x.worst:.0f}' for x in runs)} ms;"
                f" last over best {', '.join(f'{x.over_best:.0f}' for x in runs)} ms;"
                f" {', '.join(str(x.paints) for x in runs)} paints",
                flush=True,
            )
    finally:
        tab.close()
    return lags


# --- the report ------------------------------------------------------------------------------------------


def verdict(value: float, target: float) -> str:
    return "ok" if value <= target else "**over**"


def print_timeline(title: str, turn: Turn) -> None:
    print(f"\n{title} (ms after Enter; first paint at {turn.first_paint_ms:.0f} ms):")
    for at, payload in zip(turn.frame_times, turn.frames, strict=False):
        if at - turn.sent > turn.first_paint_ms + 100:
            print("  ...")
            break
        print(f"  {at - turn.sent:>6.0f}  {frame_bytes(payload):>5} B  {describe(payload)}")


def print_analysis(wire: list[dict], first_paint: dict[str, list[Turn]]) -> None:
    print("\n## Analysis")
    for row in wire:
        total = row["bytes"]
        print(f"\nWhere the bytes go: {row['tokens']} tokens after {row['earlier']} exchanges ({total:,} B):")
        for name, size in row["by_var"].most_common():
            print(f"  {name:<18} {size:>7,} B  {size / total:6.1%}  {size / row['tokens']:5.1f} B/token")
        text = row["text_bytes"]
        print(f"  (the answer's text alone is {text:,} B = {text / row['tokens']:.1f} B/token)")
    big = max(wire, key=lambda r: (r["tokens"], r["earlier"]))
    appends = [f for f in big["turn"].frames if is_feed_append(f)]
    if appends:
        typical = sorted(appends, key=frame_bytes)[len(appends) // 2]
        print(
            f"\nA typical streaming frame ({frame_bytes(typical)} B; {len(appends)} such frames carried"
            f" {big['tokens']} tokens, ~{big['tokens'] / len(appends):.0f} per frame):\n  {typical!s}"
        )
    print(f"\nAll frames but the streaming ones, {big['tokens']} tokens after {big['earlier']} exchanges:")
    for payload in big["turn"].frames:
        if not is_feed_append(payload):
            text = payload if isinstance(payload, str) else repr(payload)
            print(f"  {frame_bytes(payload):>6} B  {text[:300]}{'…' if len(text) > 300 else ''}")
    for kind, runs in first_paint.items():
        typical = sorted(runs, key=lambda t: t.first_paint_ms)[len(runs) // 2]
        print_timeline(f"Frames of a median first-paint run, {kind}", typical)


def print_summary(
    wire: list[dict], first_paint: dict[str, list[Turn]], lags: dict[int, list[Lag]], load: float
) -> None:
    print("\n## Streaming benchmark\n")
    print(
        "Mock provider (no latency), `reflex run --env prod`, headless Chromium through Playwright,"
        f" {os.cpu_count()} cores (load average up to {load:.1f} during the run),"
        f" {time.strftime('%Y-%m-%d')}.\n"
    )
    print(
        "Wire bytes per token (websocket frames received in the browser;"
        f" target ≤ {TARGET_BYTES_PER_TOKEN}):\n"
    )
    print("| answer | earlier exchanges | frames | bytes | bytes/token | |")
    print("|---:|---:|---:|---:|---:|---|")
    for row in wire:
        print(
            f"| {row['tokens']} tokens | {row['earlier']} | {row['frames']} | {row['bytes']:,} "
            f"| {row['per_token']:.1f} | {verdict(row['per_token'], TARGET_BYTES_PER_TOKEN)} |"
        )
    print(
        f"\nTime to first painted token, all of it app overhead (median of {FIRST_PAINT_RUNS}; "
        f"target ≤ {TARGET_FIRST_PAINT_MS} ms):\n"
    )
    print("| message | median | min | max | first token's frame received (median) | |")
    print("|---|---:|---:|---:|---:|---|")
    for kind, runs in first_paint.items():
        paints = [t.first_paint_ms for t in runs]
        frames = [t.first_feed_frame - t.sent for t in runs if t.first_feed_frame is not None]
        print(
            f"| {kind} | {median(paints):.0f} ms | {min(paints):.0f} ms | {max(paints):.0f} ms "
            f"| {median(frames):.0f} ms | {verdict(median(paints), TARGET_FIRST_PAINT_MS)} |"
        )
    print(
        f"\nBrowser lag behind the provider, {LAG_TOKENS} tokens (median of {LAG_RUNS};"
        f" target ≤ {TARGET_LAG_MS} ms). Lag is measured from the first token's paint, so it is negative when"
        " the first token waited longer than the last; the last column compares the last token with the"
        " best-delivered one instead:\n"
    )
    print("| provider rate | lag at the last token | min | max | worst token | last token over best | |")
    print("|---:|---:|---:|---:|---:|---:|---|")
    for rate, values in lags.items():
        ends = [x.at_end for x in values]
        print(
            f"| {rate} tokens/s | {median(ends):.0f} ms | {min(ends):.0f} ms | {max(ends):.0f} ms "
            f"| {median([x.worst for x in values]):.0f} ms | {median([x.over_best for x in values]):.0f} ms "
            f"| {verdict(median(ends), TARGET_LAG_MS)} |"
        )


def main() -> None:
    started = time.monotonic()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="chatapp-bench-") as workdir, sync_playwright() as playwright:
        print("starting the app (the first run builds the frontend)...", flush=True)
        with running_app(Path(workdir), APP_ENV) as url:
            print(f"app up at {url} after {time.monotonic() - started:.0f} s", flush=True)
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            try:
                # One throwaway turn: the first answer of a process pays for imports and caches.
                warm = Tab.open(browser, url)
                warm.send(FIRST_PAINT_MESSAGE, 50)
                warm.close()
                print("\n1. wire bytes per token", flush=True)
                wire = measure_wire(browser, url)
                print("\n2. time to first painted token", flush=True)
                first_paint = measure_first_paint(browser, url)
                print("\n3. browser lag behind the provider", flush=True)
                lags = measure_lag(browser, url)
            except Exception:
                log = (Path(workdir) / "reflex.log").read_text(errors="replace")
                print(f"\nthe app's log, last lines:\n{log[-3000:]}", file=sys.stderr)
                raise
            finally:
                browser.close()
    load = max(load, os.getloadavg()[0])
    print_analysis(wire, first_paint)
    print_summary(wire, first_paint, lags, load)
    print(f"\n(benchmark took {time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
