"""The flush pace: a tab is sent its answer as often as allowed while the worker keeps up, less often when
the worker's event loop runs late, and as often again once it has caught up."""

from __future__ import annotations

import asyncio
import time

from chatapp.web.state.pace import SAMPLE_EVERY_S, SLOWEST_HZ, Pace


async def test_a_late_event_loop_slows_the_flushes_down_to_the_slowest_rate_and_back():
    pace = Pace()
    assert pace.interval(20) == 1 / 20 and pace.rate(20) == 20
    for _ in range(3):  # the loop is held up, as by many tabs at once
        await asyncio.sleep(SAMPLE_EVERY_S / 2)
        time.sleep(0.3)
    await asyncio.sleep(SAMPLE_EVERY_S)
    assert pace.interval(20) == 1 / SLOWEST_HZ and pace.rate(20) == SLOWEST_HZ

    await asyncio.sleep(30 * SAMPLE_EVERY_S)  # free again: the rate climbs back
    assert pace.rate(20) == 20


async def test_a_lower_configured_rate_is_kept():
    assert Pace().interval(2) == 1 / 2
