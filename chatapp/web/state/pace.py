"""How often a tab's answer is flushed to it: up to `flush_hz` while the worker keeps up, down to SLOWEST_HZ
when its event loop runs late.

Each flush costs the worker the same whatever it carries, so when many answers stream at once, fewer and
fuller flushes keep every tab moving instead of all of them falling behind. The lag is how late a timer
fires on this worker's event loop: it rises at once and falls back slowly, so the rate doesn't flicker.
"""

from __future__ import annotations

import asyncio
import weakref

SLOWEST_HZ = 4.0
SAMPLE_EVERY_S = 0.1
# Each millisecond the loop runs late adds this many to the interval between a tab's flushes.
LAG_WEIGHT = 2.0
# A timer a few milliseconds late is a loop at work, not one falling behind.
LAG_TOLERANCE_S = 0.005


class Pace:
    def __init__(self) -> None:
        self.lag_s = 0.0
        self._watching: asyncio.Task[None] | None = None

    def interval(self, fastest_hz: float) -> float:
        """Seconds between two flushes of one tab, now."""
        self._watch()
        fastest = 1 / fastest_hz
        behind = max(0.0, self.lag_s - LAG_TOLERANCE_S)
        return min(max(fastest, 1 / SLOWEST_HZ), fastest + LAG_WEIGHT * behind)

    def rate(self, fastest_hz: float) -> int:
        """Flushes per second of one tab, now, for the monitor."""
        return round(1 / self.interval(fastest_hz))

    def _watch(self) -> None:
        if self._watching is None or self._watching.done():
            self._watching = asyncio.create_task(self._measure())

    def observe(self, late_s: float) -> None:
        """One sample: how late a timer of SAMPLE_EVERY_S fired."""
        self.lag_s = late_s if late_s > self.lag_s else 0.8 * self.lag_s + 0.2 * late_s

    async def _measure(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            asked = loop.time()
            await asyncio.sleep(SAMPLE_EVERY_S)
            self.observe(max(0.0, loop.time() - asked - SAMPLE_EVERY_S))


_paces: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Pace] = weakref.WeakKeyDictionary()


def pace() -> Pace:
    """This event loop's pace (a worker has one loop; tests make many)."""
    return _paces.setdefault(asyncio.get_running_loop(), Pace())
