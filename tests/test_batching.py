"""Flushing: pieces are grouped per interval, urgent updates go at once, nothing waits for the next piece."""

from __future__ import annotations

import asyncio

from chatapp.web.state.batching import in_batches

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


async def test_pieces_are_grouped_into_one_flush_per_interval():
    batches = await _collect([(0.005, piece) for piece in "abcdefghij"])

    assert [piece for _, batch in batches for piece in batch] == list("abcdefghij")
    assert len(batches) == 1  # ten pieces in ~50 ms: one interval


async def test_pending_text_is_flushed_when_the_stream_pauses():
    # After "b", the stream goes quiet for a long time: "a" and "b" must not wait for "c".
    batches = await _collect([(0, "a"), (0.01, "b"), (1.0, "c")])

    (sent_at, first), (_, second) = batches
    assert (first, second) == (["a", "b"], ["c"])
    assert sent_at < 0.6


async def test_an_urgent_update_goes_out_at_once_with_what_waits_before_it():
    batches = await _collect(
        [(0, "a"), (0.01, "b"), (0.01, "FIRST TOKEN")], is_urgent=lambda item: item == "FIRST TOKEN"
    )

    ((sent_at, batch),) = batches
    assert batch == ["a", "b", "FIRST TOKEN"]
    assert sent_at < INTERVAL


async def test_the_interval_is_asked_again_after_each_flush():
    asked = []

    def interval() -> float:  # as chatapp.web.state.pace does when the worker falls behind: longer and longer
        asked.append(0.05 * (len(asked) + 1))
        return asked[-1]

    loop = asyncio.get_running_loop()
    start = loop.time()
    flushed = [
        loop.time() - start async for _ in in_batches(_paced([(0.01, "x")] * 40), interval, lambda _: False)
    ]

    assert len(asked) == len(flushed) + 1  # asked after each flush, the last one too
    gaps = [later - earlier for earlier, later in zip([0.0, *flushed], flushed, strict=False)]
    assert all(gap >= wanted - 0.01 for gap, wanted in zip(gaps[:-1], asked, strict=False))
