"""Starts the real app (`reflex run --env prod`, one port) on a fresh database, for browser tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
START_TIMEOUT_S = 300


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _environment(db_url: str, extra: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    node_bin = ROOT / ".tools" / "node" / "node_modules" / ".bin"
    env["PATH"] = os.pathsep.join([str(node_bin), str(BIN), env.get("PATH", "")])
    env.update(REFLEX_USE_NPM="1", REFLEX_TELEMETRY_ENABLED="false", CHATAPP_DB_URL=db_url)
    env.update(extra)
    return env


def migrate(db_url: str) -> subprocess.CompletedProcess[str]:
    """`reflex db migrate` on this database, as `make run` does; the caller checks how it went."""
    command = [str(BIN / "reflex"), "db", "migrate"]
    return subprocess.run(command, cwd=ROOT, env=_environment(db_url, {}), capture_output=True, text=True)


def _wait_until_up(url: str, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"reflex exited early:\n{log_path.read_text()[-4000:]}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as response:
            if response.status == 200:
                return
        time.sleep(0.5)
    raise RuntimeError(f"reflex did not start in {START_TIMEOUT_S} s:\n{log_path.read_text()[-4000:]}")


@contextlib.contextmanager
def running_app(workdir: Path, env_extra: dict[str, str] | None = None) -> Iterator[str]:
    """Migrates a new SQLite database in `workdir`, starts the app on a free port, yields its URL."""
    db_url = f"sqlite:///{workdir / 'app.db'}"
    env = _environment(db_url, env_extra or {})
    migrate(db_url).check_returncode()
    port = free_port()
    log_path = workdir / "reflex.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                str(BIN / "reflex"),
                "run",
                "--env",
                "prod",
                "--frontend-port",
                str(port),
                "--backend-port",
                str(port),
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url + "/ping", process, log_path)
        _wait_until_up(url + "/", process, log_path)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
