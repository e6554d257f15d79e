"""The local model's own process: llama.cpp loaded once, serving a Unix socket; only it imports llama_cpp.

llama.cpp is native code; a CPU it was not built for, a damaged GGUF file or a bug in it kills the process
that runs it. So it runs here, apart from the web server, which starts it (process.py) and talks to it
(local.py) with one request per connection, in newline-delimited JSON:

    -> {"messages": [{"role": ..., "content": ...}], "max_tokens": 512, "temperature": null}
    <- {"started": true}                                  the model took this request (one at a time)
    <- {"text": "Par"} ...                                a token of the answer
    <- {"usage": {"prompt_tokens": 31, "completion_tokens": 9}}   the last line of a whole answer
    <- {"error": "..."}                                   or this, for a failure Python saw

Closing the connection is Stop: generation ends before the next token. The process exits when its stdin
closes, so it never outlives the web server that started it.

    python -m chatapp.providers.local.worker serve --socket PATH --model PATH [--threads N]
    python -m chatapp.providers.local.worker check --model PATH    one real answer, then its speed
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import threading
import time
from typing import Any

CONTEXT_TOKENS = 2048
# Room kept free beside the prompt and the answer for the chat template's own tokens.
TEMPLATE_MARGIN = 64
# Exit codes the supervisor explains to the user (a signal, such as SIGILL, shows as a negative code).
EXIT_NO_LLAMA = 3
EXIT_BAD_MODEL = 4

CHECK_PROMPT = [
    {"role": "system", "content": "You are a helpful, concise assistant."},
    {"role": "user", "content": "What is the capital of France? Answer in one sentence."},
]


def default_threads() -> int:
    return max((os.cpu_count() or 2) // 2, 1)


def load(model_path: str, threads: int | None = None) -> Any:
    """The model, or an exit with a code and a one-line reason on stderr that process.py reads."""
    try:
        from llama_cpp import Llama
    except ImportError as error:
        print(f"llama-cpp-python is not installed: {error}", file=sys.stderr, flush=True)
        raise SystemExit(EXIT_NO_LLAMA) from error
    if not os.path.isfile(model_path):
        print(f"no model file at {model_path}", file=sys.stderr, flush=True)
        raise SystemExit(EXIT_BAD_MODEL)
    try:
        # Half the cores by default, as llama-cpp-python does: the web server (and often the browser) needs
        # the rest. On 2 cores the app streamed faster with 1 thread than with 2 (benchmarks/local_model.py).
        threads = threads or default_threads()
        return Llama(model_path=model_path, n_ctx=CONTEXT_TOKENS, n_threads=threads, verbose=False)
    except (ValueError, RuntimeError) as error:  # llama.cpp refused the file
        print(f"llama.cpp could not load {model_path}: {error}", file=sys.stderr, flush=True)
        raise SystemExit(EXIT_BAD_MODEL) from error


def fit(llama: Any, messages: list[dict[str, str]], max_tokens: int) -> list[dict[str, str]]:
    """Drops the oldest turns until the prompt leaves room for the answer in the context window."""
    budget = CONTEXT_TOKENS - max_tokens - TEMPLATE_MARGIN
    system = [m for m in messages[:1] if m["role"] == "system"]
    rest = messages[len(system) :]

    def size(items: list[dict[str, str]]) -> int:
        return sum(len(llama.tokenize(m["content"].encode(), add_bos=False)) + 4 for m in items)

    while len(rest) > 1 and size(system + rest) > budget:
        rest.pop(0)
    return system + rest


def generate(llama: Any, request: dict[str, Any], emit, stop: threading.Event) -> None:
    """Runs one answer in this thread, handing each line to `emit`; checks `stop` between tokens."""
    max_tokens = int(request["max_tokens"])
    sampling = {} if request.get("temperature") is None else {"temperature": float(request["temperature"])}
    try:
        chunks = llama.create_chat_completion(
            messages=fit(llama, list(request["messages"]), max_tokens),
            stream=True,
            max_tokens=max_tokens,
            **sampling,
        )
        completion = 0
        for chunk in chunks:
            if stop.is_set():
                return
            text = chunk["choices"][0]["delta"].get("content")
            if text:
                completion += 1
                emit({"text": text})
        # llama.cpp holds the prompt and the answer it evaluated; beyond the answer is the prompt.
        prompt = max(llama.n_tokens - completion, 0)
        emit({"usage": {"prompt_tokens": prompt, "completion_tokens": completion}})
    except Exception as error:  # an out-of-context prompt, a template the model lacks
        print(f"the local model failed: {error!r}", file=sys.stderr, flush=True)
        emit({"error": "The local model failed on this request; the server log has the details."})


class Server:
    """One model, many connections, one answer at a time in the order they asked."""

    def __init__(self, llama: Any) -> None:
        self.llama = llama
        self.turn = asyncio.Lock()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        stop = threading.Event()
        try:
            request = json.loads(await reader.readline())
            # Anything more from the client, or its close, means Stop.
            watch = asyncio.ensure_future(reader.read(1))
            watch.add_done_callback(lambda done: _stop_on(done, stop))
            async with self.turn:
                if stop.is_set():
                    return
                await self._answer(request, writer, stop)
            watch.cancel()
        except (ConnectionError, json.JSONDecodeError, KeyError, TypeError, ValueError):
            pass
        finally:
            writer.close()

    async def _answer(self, request: dict[str, Any], writer: asyncio.StreamWriter, stop: threading.Event):
        loop = asyncio.get_running_loop()
        lines: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

        def emit(line: dict[str, Any] | None) -> None:
            loop.call_soon_threadsafe(lines.put_nowait, line)

        def run() -> None:
            try:
                generate(self.llama, request, emit, stop)
            finally:
                emit(None)

        writer.write(b'{"started": true}\n')
        worker = asyncio.ensure_future(asyncio.to_thread(run))
        try:
            while (line := await lines.get()) is not None:
                writer.write(json.dumps(line).encode() + b"\n")
                await writer.drain()
        finally:
            stop.set()
            # The model is free for the next request only once this answer's thread has let go of it.
            await asyncio.shield(worker)


def _stop_on(watch: asyncio.Future, stop: threading.Event) -> None:
    if not watch.cancelled():
        watch.exception()  # a reset connection is a close like any other
        stop.set()


def _exit_when_stdin_closes() -> None:
    """The web server holds our stdin; when it goes away, by exit or crash, so does this process."""
    sys.stdin.buffer.read()
    os._exit(0)


async def serve(socket_path: str, model_path: str, threads: int | None) -> None:
    server = Server(load(model_path, threads))
    # Only once loaded: a thread blocked on stdin would turn a clean exit on a bad file into an abort.
    threading.Thread(target=_exit_when_stdin_closes, daemon=True).start()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(socket_path)  # left by a process that died; the supervisor's lock says none is running
    listener = await asyncio.start_unix_server(server.handle, path=socket_path)
    os.chmod(socket_path, 0o600)
    print("ready", flush=True)
    async with listener:
        await listener.serve_forever()


def check(model_path: str) -> None:
    """One real chat answer, as a user's first question would run; prints what it measured."""
    llama = load(model_path)
    started = time.perf_counter()
    tokens: list[str] = []
    request = {"messages": CHECK_PROMPT, "max_tokens": 48, "temperature": 0}
    generate(llama, request, _collect(tokens), threading.Event())
    seconds = time.perf_counter() - started
    if not tokens:
        print("the model gave no answer", file=sys.stderr, flush=True)
        raise SystemExit(EXIT_BAD_MODEL)
    print(json.dumps({"tokens": len(tokens), "seconds": round(seconds, 3), "answer": "".join(tokens)}))


def _collect(tokens: list[str]):
    def emit(line: dict[str, Any]) -> None:
        if "text" in line:
            tokens.append(line["text"])
        elif "error" in line:
            raise SystemExit(EXIT_BAD_MODEL)

    return emit


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m chatapp.providers.local.worker")
    parser.add_argument("mode", choices=["serve", "check"])
    parser.add_argument("--model", required=True)
    parser.add_argument("--socket")
    parser.add_argument("--threads", type=int)
    args = parser.parse_args()
    if args.mode == "check":
        check(args.model)
        return
    asyncio.run(serve(args.socket, args.model, args.threads))


if __name__ == "__main__":
    main()
