"""Starts the real app for browser tests: whole (`reflex run --env prod`, one port), or split into a backend
(`--backend-only`) and an exported frontend served by a plain static file server."""

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
REFLEX = [str(BIN / "reflex")]
# What `make run-scaled` runs: Reflex, with Granian replacing a worker that dies.
REFLEX_RESPAWNING = [sys.executable, str(ROOT / "scripts" / "reflex-respawning")]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _environment(db_url: str, extra: dict[str, str]) -> dict[str, str]:
    # Only what a test names: no provider, key or model of the developer's shell reaches a test app.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHATAPP_", "OPENAI_", "REFLEX_DB_URL"))}
    node_bin = ROOT / ".tools" / "node" / "node_modules" / ".bin"
    env["PATH"] = os.pathsep.join([str(node_bin), str(BIN), env.get("PATH", "")])
    env.update(REFLEX_USE_NPM="1", REFLEX_TELEMETRY_ENABLED="false", CHATAPP_DB_URL=db_url)
    env.update(extra)
    return env


def migrate(db_url: str) -> subprocess.CompletedProcess[str]:
    """`reflex db migrate` on this database, as `make run` does; the caller checks how it went."""
    command = [str(BIN / "reflex"), "db", "migrate"]
    return subprocess.run(command, cwd=ROOT, env=_environment(db_url, {}), capture_output=True, text=True)


def _app_environment(workdir: Path, extra: dict[str, str], db_url: str | None = None) -> dict[str, str]:
    """A new migrated database (SQLite in `workdir` unless another URL is given); Reflex's state files in
    `workdir` too, so two apps started by one test run (each `reflex run` empties its states directory)
    never share them."""
    db_url = db_url or f"sqlite:///{workdir / 'app.db'}"
    env = _environment(db_url, {"REFLEX_STATES_WORKDIR": str(workdir / "states")})
    env.update(extra)
    migrate(db_url).check_returncode()
    return env


def _wait_until_up(url: str, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited early:\n{log_path.read_text()[-4000:]}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as response:
            if response.status == 200:
                return
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer in {START_TIMEOUT_S} s:\n{log_path.read_text()[-4000:]}")


@contextlib.contextmanager
def _serving(command: list[str], env: dict[str, str], log_path: Path, ready: list[str]) -> Iterator[None]:
    """Runs `command` in its own process group for the block, once every URL in `ready` answers 200."""
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        for url in ready:
            _wait_until_up(url, process, log_path)
        yield
    finally:
        # The whole group: reflex starts workers (and, for the frontend, node) that outlive a killed parent.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


@contextlib.contextmanager
def running_app(
    workdir: Path,
    env_extra: dict[str, str] | None = None,
    db_url: str | None = None,
    reflex: list[str] = REFLEX,
) -> Iterator[str]:
    """Migrates a new database (SQLite in `workdir`, or `db_url`), starts the app on a free port, yields
    its URL."""
    env = _app_environment(workdir, env_extra or {}, db_url)
    port = str(free_port())
    command = [*reflex, "run", "--env", "prod", "--frontend-port", port, "--backend-port", port]
    url = f"http://127.0.0.1:{port}"
    with _serving(command, env, workdir / "reflex.log", [url + "/ping", url + "/"]):
        yield url


@contextlib.contextmanager
def running_backend(workdir: Path, port: int, env_extra: dict[str, str] | None = None) -> Iterator[str]:
    """`running_app` without its frontend (`--backend-only`), on the given port; yields the backend's URL."""
    env = _app_environment(workdir, env_extra or {})
    command = [str(BIN / "reflex"), "run", "--env", "prod", "--backend-only", "--backend-port", str(port)]
    url = f"http://127.0.0.1:{port}"
    with _serving(command, env, workdir / "backend.log", [url + "/ping"]):
        yield url


def exported_frontend(workdir: Path, api_url: str) -> Path:
    """`reflex export --frontend-only --no-zip` with `api_url` baked in; returns the static files' directory.

    It builds in `workdir/web`, not the project's `.web`: `reflex run --env prod` serves its pages straight
    from `.web/build/client`, so an export there would swap the bundle under an app that is running.
    """
    web = workdir / "web"
    env = _environment(
        f"sqlite:///{workdir / 'app.db'}", {"REFLEX_API_URL": api_url, "REFLEX_WEB_WORKDIR": str(web)}
    )
    command = [str(BIN / "reflex"), "export", "--frontend-only", "--no-zip"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=START_TIMEOUT_S)
    if done.returncode != 0:
        raise RuntimeError(f"reflex export failed:\n{(done.stdout + done.stderr)[-4000:]}")
    return web / "build" / "client"


@contextlib.contextmanager
def static_server(workdir: Path, directory: Path, port: int) -> Iterator[str]:
    """Python's `http.server` serving `directory` on `port`: a static host that knows nothing of Reflex."""
    command = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "-d", str(directory)]
    url = f"http://127.0.0.1:{port}"
    with _serving(command, dict(os.environ), workdir / "static-server.log", [url + "/"]):
        yield url
