"""Flushing: pieces are grouped per interval, urgent updates go at once, nothing waits for the next piece.

These run in virtual time (looptime): the event loop's clock moves only by the sleeps and timeouts it is
asked for, so the times asserted are exact and no busy machine can make them late.
"""

from __future__ import annotations

import asyncio

import pytest

from chatapp.web.state.batching import in_batches

INTERVAL = 0.2
pytestmark = pytest.mark.looptime


async def _paced(items: list[tuple[float, str]]):
    """Yields each item after its delay, like a provider streaming tokens."""
    for delay, item in items:
        await asyncio.sleep(delay)
        yield item


async def _collect(items, is_urgent=lambda item: False, interval=INTERVAL):
    loop = asyncio.get_running_loop()
    start = loop.time()
    return [
        (round(loop.time() - start, 6), batch)
        async for batch in in_batches(_paced(items), interval, is_urgent)
    ]


async def test_pieces_are_grouped_into_one_flush_per_interval_and_the_rest_goes_when_the_stream_ends():
    batches = await _collect([(0.03, piece) for piece in "abcdefghij"])  # one piece each 30 ms

    assert batches == [(0.2, list("abcdef")), (0.3, list("ghij"))]


async def test_pending_text_is_flushed_when_the_stream_pauses():
    # After "b", the stream goes quiet for a second: "a" and "b" must not wait for "c".
    batches = await _collect([(0, "a"), (0.01, "b"), (1.0, "c")])

    assert batches == [(0.2, ["a", "b"]), (1.01, ["c"])]


async def test_an_urgent_update_goes_out_at_once_with_what_waits_before_it():
    batches = await _collect(
        [(0, "a"), (0.01, "b"), (0.01, "FIRST TOKEN")], is_urgent=lambda item: item == "FIRST TOKEN"
    )

    assert batches == [(0.02, ["a", "b", "FIRST TOKEN"])]


async def test_the_interval_is_asked_again_after_each_flush():
    asked: list[float] = []

    def interval() -> float:  # as the pace does when the worker falls behind: longer and longer
        asked.append(0.05 * (len(asked) + 1))
        return asked[-1]

    batches = await _collect([(0.01, "x")] * 40, interval=interval)

    assert len(asked) == len(batches) + 1  # asked after each flush, the last one too
    flushed = [at for at, _ in batches]
    gaps = [later - earlier for earlier, later in zip([0.0, *flushed], flushed, strict=False)]
    assert gaps[:-1] == pytest.approx(asked[: len(gaps) - 1])  # each flush waited its own interval
    assert sum(len(batch) for _, batch in batches) == 40


async def test_the_streams_own_error_ends_the_batches_after_what_came_before_it():
    async def failing():
        yield "a"
        raise RuntimeError("the provider failed")

    seen = []
    with pytest.raises(RuntimeError, match="the provider failed"):
        async for batch in in_batches(failing(), INTERVAL, lambda _: False):
            seen.append(batch)
    assert seen == [["a"]]
