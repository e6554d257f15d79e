"""The local model's process, seen from the web server: one per machine, started, watched and restarted.

Every web worker may ask for the model, but only one copy of it runs: the worker that holds an exclusive
lock on `<socket>.lock` starts worker.py and restarts it whenever it dies; the others only connect to
its socket. If that worker exits, the lock is free and another one takes over. A failure to start (a CPU the
build doesn't suit, a bad GGUF file) is written to `<socket>.status` so that every worker can tell its users
why, instead of waiting.

    python -m chatapp.providers.local.process     the set-up check: one real answer, or what to fix
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import fcntl
import json
import logging
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from . import worker
from .paths import bundled_model_path

log = logging.getLogger(__name__)

# A process that lived this long was working: its next death restarts it at once, not after a backoff.
STABLE_S = 30.0
FIRST_RESTART_DELAY_S = 0.2
MAX_RESTART_DELAY_S = 30.0
CHECK_TIMEOUT_S = 300.0
REBUILD_HINT = "Rebuild it for any CPU of this kind with `make llama-rebuild`."


class ModelUnavailable(Exception):
    """The model process can't be reached; the message says why in words a user can act on."""


def explain_exit(code: int, stderr_tail: str, model_path: str, *, custom_model: bool) -> str:
    """Why the model process ended, and what to do about it."""
    if code == -signal.SIGILL:
        return (
            "llama.cpp ran a CPU instruction this machine can't execute (SIGILL): llama-cpp-python was "
            f"compiled for another CPU. {REBUILD_HINT}"
        )
    if code == -signal.SIGKILL:
        return "the model process was killed (SIGKILL), by hand or for lack of memory"
    if code == worker.EXIT_NO_LLAMA:
        return f"{stderr_tail}. Run `make llama` to build it."
    if code == worker.EXIT_BAD_MODEL:
        fix = "Check CHATAPP_LOCAL_MODEL_PATH." if custom_model else "Reinstall it: `make deps`."
        return f"{stderr_tail}. {fix}"
    if code < 0:
        name = signal.Signals(-code).name
        cause = "a damaged or unsupported GGUF file, or a bug in llama.cpp"
        fix = " Check CHATAPP_LOCAL_MODEL_PATH." if custom_model else ""
        return f"llama.cpp crashed ({name}) with {model_path}: {cause}.{fix}"
    return f"the model process exited with code {code}" + (f": {stderr_tail}" if stderr_tail else "")


class ModelProcess:
    def __init__(
        self, model_path: str, socket_path: str, *, custom_model: bool = False, threads: int | None = None
    ) -> None:
        self.model_path = model_path
        self.socket_path = socket_path
        self.threads = threads
        self.custom_model = custom_model
        self._status_path = Path(socket_path + ".status")
        self._guard = threading.Lock()
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        self._child: subprocess.Popen[str] | None = None

    @property
    def pid(self) -> int | None:
        """The running model process, when this worker is the one that started it."""
        child = self._child
        return child.pid if child is not None and child.poll() is None else None

    def start(self) -> None:
        """Begins supervising in the background (once); returns at once."""
        with self._guard:
            if self._thread is None:
                self._closing.clear()
                self._thread = threading.Thread(target=self._supervise, name="local-model", daemon=True)
                self._thread.start()

    def close(self) -> None:
        """Stops the model process and lets another worker take over."""
        with self._guard:
            thread, self._thread = self._thread, None
        self._closing.set()
        child = self._child
        if child is not None and child.poll() is None:
            child.terminate()
        if thread is not None:
            thread.join(timeout=10)

    async def connect(self, timeout_s: float) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A connection to the running model; waits while it (re)starts, fails at once if it can't start."""
        self.start()
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                return await asyncio.open_unix_connection(self.socket_path)
            except (FileNotFoundError, ConnectionRefusedError):
                failure = self._status_path.read_text() if self._status_path.exists() else ""
                if failure:
                    raise ModelUnavailable(failure) from None
                if time.monotonic() > deadline:
                    raise ModelUnavailable(f"it did not start within {timeout_s:.0f} s") from None
                await asyncio.sleep(0.05)

    # The supervising thread.

    def _supervise(self) -> None:
        with open(self.socket_path + ".lock", "a") as lock:
            while not self._closing.is_set():
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:  # another worker runs the model; stand by in case it goes away
                    self._closing.wait(1.0)
            else:
                return
            self._status_path.write_text("")
            delay = FIRST_RESTART_DELAY_S
            while not self._closing.is_set():
                started = time.monotonic()
                code, ready, stderr_tail = self._run_once()
                if self._closing.is_set():
                    break
                reason = explain_exit(code, stderr_tail, self.model_path, custom_model=self.custom_model)
                lived = time.monotonic() - started
                delay = FIRST_RESTART_DELAY_S if lived > STABLE_S else min(delay * 2, MAX_RESTART_DELAY_S)
                if not ready:  # it can't even load: tell the users instead of letting them wait
                    self._status_path.write_text(reason)
                log.error("the local model process ended: %s; restarting in %.1f s", reason, delay)
                self._closing.wait(delay)

    def _run_once(self) -> tuple[int, bool, str]:
        """Runs the model process until it ends: its exit code, whether it got ready, and its last words."""
        command = [sys.executable, "-m", "chatapp.providers.local.worker", "serve"]
        command += ["--socket", self.socket_path, "--model", self.model_path]
        command += ["--threads", str(self.threads)] if self.threads else []
        child = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self._child = child
        last_lines: collections.deque[str] = collections.deque(maxlen=1)
        drain = threading.Thread(target=_keep_last, args=(child.stderr, last_lines), daemon=True)
        drain.start()
        assert child.stdout is not None
        ready = child.stdout.readline().strip() == "ready"
        if ready:
            self._status_path.write_text("")
            log.info("the local model is ready (process %d, %s)", child.pid, self.model_path)
        code = child.wait()
        drain.join(timeout=1)
        return code, ready, last_lines[-1] if last_lines else ""


def _keep_last(stream, lines: collections.deque[str]) -> None:
    for line in stream:
        if line.strip():
            lines.append(line.strip())
            log.warning("local model: %s", line.strip())


def check(model_path: str, *, custom_model: bool) -> int:
    """The set-up check: one real answer from the model in its own process; 0, or 1 with what to fix."""
    command = [sys.executable, "-m", "chatapp.providers.local.worker", "check", "--model", model_path]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=CHECK_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        print(f"The local model gave no answer within {CHECK_TIMEOUT_S:.0f} s.", file=sys.stderr)
        return 1
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
        reason = explain_exit(done.returncode, tail, model_path, custom_model=custom_model)
        print(f"The local model can't answer on this machine: {reason}", file=sys.stderr)
        return 1
    result = json.loads(done.stdout.strip().splitlines()[-1])
    answer = " ".join(result["answer"].split())
    print(f"local model OK: {answer!r} ({result['tokens']} tokens in {result['seconds']:.2f} s)")
    return 0


def main() -> None:
    from ...config import get_settings

    settings = get_settings()
    model_path = settings.local_model_path or bundled_model_path()
    with contextlib.suppress(KeyboardInterrupt):
        raise SystemExit(check(model_path, custom_model=settings.local_model_path is not None))


if __name__ == "__main__":
    main()
