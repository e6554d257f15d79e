"""A throwaway Redis server for the test session, so the job registry's Redis back end runs for real.

It is Debian's `redis-server`, on 127.0.0.1 at a free port, with persistence off; it is stopped at the end of
the session. A missing binary fails the tests rather than skips them (`make redis` installs it).
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest
import redis

from tests.e2e.appserver import free_port


@contextlib.contextmanager
def running_redis() -> Iterator[str]:
    """Starts Debian's redis-server on a free loopback port for the block; yields its URL."""
    program = shutil.which("redis-server")
    if program is None:
        raise RuntimeError("redis-server was not found: install Debian's redis-server (`make redis`).")
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="chatapp-redis-")
    command = [program, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    server = subprocess.Popen([*command, "--dir", workdir], stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    try:
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        else:
            raise RuntimeError(f"redis-server did not start on port {port}")
        yield url
    finally:
        client.close()
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    try:
        with running_redis() as url:
            yield url
    except RuntimeError as error:  # a missing server fails the tests rather than skips them
        pytest.fail(str(error))
