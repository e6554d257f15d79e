"""Flushing: the first piece goes out at once, later ones are grouped, nothing waits for the next piece."""

from __future__ import annotations

import asyncio

from chatapp.state.batching import in_batches

INTERVAL = 0.2


async def _paced(items: list[tuple[float, str]]):
    """Yields each item after its delay, like a provider streaming tokens."""
    for delay, item in items:
        await asyncio.sleep(delay)
        yield item


async def _collect(items, is_urgent=lambda item: False):
    loop = asyncio.get_running_loop()
    start = loop.time()
    return [(loop.time() - start, batch) async for batch in in_batches(_paced(items), INTERVAL, is_urgent)]


async def test_first_piece_is_flushed_at_once_and_the_rest_grouped():
    batches = await _collect([(0, "a")] + [(0.005, p) for p in "bcdefghij"])

    first_at, first = batches[0]
    assert first == ["a"] and first_at < INTERVAL / 2
    assert [p for _, batch in batches for p in batch] == list("abcdefghij")
    assert len(batches) == 2  # everything after the first fits in one interval


async def test_pending_text_is_flushed_when_the_stream_pauses():
    # After "b", the stream goes quiet for a long time: "b" must not wait for "c".
    batches = await _collect([(0, "a"), (0.01, "b"), (1.0, "c")])

    (_, first), (b_at, second), (_, third) = batches
    assert (first, second, third) == (["a"], ["b"], ["c"])
    assert b_at < 0.6


async def test_urgent_updates_are_not_held_back():
    batches = await _collect([(0, "a"), (0.01, "b"), (0.01, "DONE")], is_urgent=lambda item: item == "DONE")

    assert batches[-1][1][-1] == "DONE"
    assert batches[-1][0] < INTERVAL
