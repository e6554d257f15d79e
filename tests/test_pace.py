"""The flush pace: a tab is sent its answer as often as allowed while the worker keeps up, less often when
the worker's event loop runs late, and as often again once it has caught up. The samples are given here as
the measuring loop would take them, so no test depends on how busy the machine is."""

from __future__ import annotations

import pytest

from chatapp.web.state.pace import LAG_TOLERANCE_S, SLOWEST_HZ, Pace


async def test_a_late_event_loop_slows_the_flushes_down_to_the_slowest_rate_and_back():
    pace = Pace()
    assert pace.interval(20) == 1 / 20 and pace.rate(20) == 20

    for _ in range(3):  # the loop is held up, as by many tabs at once: each timer fires 0.3 s late
        pace.observe(0.3)
    assert pace.interval(20) == 1 / SLOWEST_HZ and pace.rate(20) == SLOWEST_HZ

    for _ in range(30):  # free again: each timer on time, and the rate climbs back
        pace.observe(0.0)
    assert pace.rate(20) == 20


async def test_the_lag_rises_at_once_and_falls_back_slowly():
    pace = Pace()
    pace.observe(0.1)
    assert pace.lag_s == 0.1  # at once: the next flushes are already spread out

    pace.observe(0.0)
    assert pace.lag_s == pytest.approx(0.08)  # a fifth of the way back per sample: no flicker

    pace.observe(0.05)
    assert pace.lag_s == pytest.approx(0.074)


async def test_a_loop_a_few_milliseconds_late_is_at_work_not_behind():
    pace = Pace()
    pace.observe(LAG_TOLERANCE_S)
    assert pace.interval(20) == 1 / 20


async def test_a_lower_configured_rate_is_kept():
    assert Pace().interval(2) == 1 / 2
