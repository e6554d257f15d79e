"""Stop across workers: how long from pressing Stop on one worker until the answer has ended on another.

Two worker processes share a real Redis server (started here, on loopback) and a SQLite file, as
`make run-scaled` runs them. The "running" worker admits each answer and runs it; this process, the other
worker, follows the answer through Redis and sends Stop, then waits for the answer's end, stopped, to come
back. That round trip is what a user sees: Stop to "stopped" in the other tab. Measured at three moments:
- before the first token (the provider is still thinking: 10 s of latency);
- mid-stream (40 tokens/s);
- right after the answer started (the first update seen).
Prints numbers; asserts nothing. Run: `.venv/bin/python benchmarks/stop.py` (or `make benchmark-stop`).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chatapp import db  # noqa: E402
from chatapp.config import get_settings  # noqa: E402
from chatapp.domain import AnswerDelta, AnswerDone, AnswerStarted  # noqa: E402
from chatapp.providers.mock import MockProvider  # noqa: E402
from chatapp.turns.redis import RedisJobRegistry  # noqa: E402
from chatapp.turns.turn import Turn  # noqa: E402
from tests.redis_server import running_redis  # noqa: E402

OWNER = "benchmark-owner-key-for-stop"
RUNS = 30
MOMENTS = {
    "before the first token": ("/mock tokens=200 rate=40 latency=10000\nthinking", AnswerStarted),
    "right after it started": ("/mock tokens=2000 rate=40 latency=0\nstarting", AnswerStarted),
    "mid-stream": ("/mock tokens=2000 rate=40 latency=0\nstreaming", AnswerDelta),
}


def running_worker(redis_url: str, requests, replies) -> None:
    """The worker that runs the answers: admits each text it is sent, replies with the job's id."""

    async def serve() -> None:
        settings = get_settings()
        registry = RedisJobRegistry(redis_url, max_answers_per_owner=RUNS)
        loop = asyncio.get_running_loop()
        while (text := await loop.run_in_executor(None, requests.get)) is not None:
            provider = MockProvider()
            turn = Turn(settings=settings, provider=provider, owner=OWNER, conversation_id=None, text=text)
            job = await registry.start(turn)
            replies.put(job.id)
        await registry.close()

    asyncio.run(serve())


async def stop_times(redis_url: str, requests, replies, text: str, wait_for: type, runs: int) -> list[float]:
    """Milliseconds from Stop to the stopped answer's end, as the following worker sees it."""
    registry = RedisJobRegistry(redis_url, max_answers_per_owner=RUNS)
    loop = asyncio.get_running_loop()
    times = []
    for _ in range(runs):
        requests.put(text)
        job_id = await loop.run_in_executor(None, replies.get)
        updates = registry.follow(job_id, OWNER)
        async for update in updates:
            if isinstance(update, wait_for) and (wait_for is not AnswerDelta or len(update.text) > 0):
                break
        if wait_for is AnswerDelta:
            await asyncio.sleep(0.5)  # well into the answer
        pressed = time.perf_counter()
        await registry.stop(job_id, OWNER)
        async for update in updates:
            if isinstance(update, AnswerDone):
                assert update.message is not None and update.message.status == "stopped"
                times.append((time.perf_counter() - pressed) * 1000)
                break
    await registry.close()
    return times


def main() -> None:
    workdir = tempfile.mkdtemp(prefix="chatapp-stop-")
    os.environ["CHATAPP_DB_URL"] = f"sqlite:///{workdir}/chat.db"
    os.environ["CHATAPP_PROVIDER"] = "mock"
    db.create_tables(os.environ["CHATAPP_DB_URL"])
    context = multiprocessing.get_context("spawn")
    with running_redis() as redis_url:
        os.environ["REFLEX_REDIS_URL"] = redis_url
        requests, replies = context.Queue(), context.Queue()
        worker = context.Process(target=running_worker, args=(redis_url, requests, replies))
        worker.start()
        print(f"Stop on one worker, the answer on another ({RUNS} answers each, Redis on loopback)")
        print(f"{'when Stop is pressed':<26} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
        try:
            # The running worker's first answer, on a cold process, is reported apart.
            (cold,) = asyncio.run(stop_times(redis_url, requests, replies, *MOMENTS["mid-stream"], runs=1))
            for moment, (text, wait_for) in MOMENTS.items():
                times = sorted(asyncio.run(stop_times(redis_url, requests, replies, text, wait_for, RUNS)))
                p95 = times[int(len(times) * 0.95) - 1]
                print(f"{moment:<26} {statistics.median(times):>8.1f} {p95:>8.1f} {times[-1]:>8.1f}")
            print(f"(the running worker's first answer, not counted above: {cold:.1f} ms)")
        finally:
            requests.put(None)
            worker.join(timeout=30)


if __name__ == "__main__":
    main()
