"""A small OpenAI-compatible chat server on a loopback port, scripted reply by reply, for the real openai SDK
in the tests: streamed text, tool calls in pieces, usage, and every failure a model server shows. Its
fixtures (`server`, `settings`, `provider`) are shared through tests/conftest.py."""

from __future__ import annotations

import itertools
import json
import socket
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal

import pytest

from chatapp.config import Settings, get_settings
from chatapp.providers.openai import OpenAIProvider

SYSTEM_PROMPT = "You answer in one short sentence."


@dataclass(frozen=True)
class Reply:
    """What the server does with the next request: an HTTP error, or an answer streamed piece by piece."""

    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()  # with an error status: Retry-After, say
    silent: bool = False  # accept the request, then send nothing at all (not even the status line)
    pieces: tuple[str, ...] = ()
    # A chunk with no choices after this many pieces, as some servers send keep-alives or stray usage.
    empty_chunk_after: int | None = None
    usage: tuple[int, int] | None = None  # (prompt_tokens, completion_tokens)
    # done: finish and [DONE]; drop: cut the socket; stall: wait; cut: end the body cleanly, unfinished;
    # garbage: a line that isn't JSON; error: an `error` object instead of a chunk, as OpenAI sends mid-stream
    ending: Literal["done", "drop", "stall", "cut", "garbage", "error"] = "done"
    # Tool calls after the text, as (id, name, JSON arguments); the arguments go a few characters a chunk.
    calls: tuple[tuple[str, str, str], ...] = ()
    argument_chars: int = 4
    interleave: bool = False  # the calls' chunks take turns instead of one call after the other


class FakeOpenAI(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ChatCompletions)
        self.replies: deque[Reply] = deque()
        self.requests: list[dict] = []
        self.tool_call_deltas: list[dict] = []  # as sent, one per chunk
        self.release = threading.Event()  # lets a stalled answer go at teardown
        # Requests for one whole answer, not streamed (the app naming a new conversation) get this one.
        self.one_shot_reply = Reply(pieces=("Title: French ", "greeting", "\nCategory: Other"))
        self.one_shot_requests: list[dict] = []
        self.models = ["gpt-4o-mini", "gpt-4o", "o3-mini"]
        self.models_status = 200

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


def _chunk(delta: dict | None, usage: tuple[int, int] | None = None, finish: str | None = None) -> dict:
    chunk = {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "gpt-4o-mini",
        "choices": [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage is not None:
        prompt, completion = usage
        chunk["usage"] = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
    return chunk


def _tool_call_deltas(reply: Reply) -> list[dict]:
    """The calls as OpenAI streams them: id, type and name in a call's first delta only, then arguments."""
    per_call = []
    for index, (call_id, name, arguments) in enumerate(reply.calls):
        size = reply.argument_chars
        pieces = [arguments[at : at + size] for at in range(0, len(arguments), size)] or [""]
        function = {"name": name, "arguments": pieces[0]}
        first = {"index": index, "id": call_id, "type": "function", "function": function}
        per_call.append([first] + [{"index": index, "function": {"arguments": p}} for p in pieces[1:]])
    if not reply.interleave:
        return [delta for deltas in per_call for delta in deltas]
    turns = itertools.zip_longest(*per_call)
    return [delta for deltas in turns for delta in deltas if delta is not None]


class _ChatCompletions(BaseHTTPRequestHandler):
    # HTTP/1.1 with a chunked body, as the real API streams: a body cut short is then a detectable failure.
    protocol_version = "HTTP/1.1"
    server: FakeOpenAI

    def do_POST(self) -> None:
        self.close_connection = True
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if not body.get("stream"):
            self.server.one_shot_requests.append(body)
            if not self._refused(self.server.one_shot_reply):
                self._answer_whole(self.server.one_shot_reply)
            return
        self.server.requests.append(body)
        reply = self.server.replies.popleft()
        if self._refused(reply):
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        self._event(_chunk({"role": "assistant", "content": ""}))
        for index, piece in enumerate(reply.pieces):
            if index == reply.empty_chunk_after:
                self._event(_chunk(None))
            self._event(_chunk({"content": piece}))
        for delta in _tool_call_deltas(reply):
            self.server.tool_call_deltas.append(delta)
            self._event(_chunk({"tool_calls": [delta]}))
        if reply.ending == "stall":
            self.server.release.wait(timeout=30)
            return
        if reply.ending == "drop":
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if reply.ending == "cut":
            self.wfile.write(b"0\r\n\r\n")
            return
        if reply.ending in ("garbage", "error"):
            overloaded = {
                "error": {"message": "The model is overloaded.", "type": "server_error", "code": None}
            }
            self._event(
                '{"choices": [{"delta": {"content": "unfinished' if reply.ending == "garbage" else overloaded
            )
            self.wfile.write(b"0\r\n\r\n")
            return
        self._event(_chunk({}, finish="tool_calls" if reply.calls else "stop"))
        if reply.usage is not None:
            self._event(_chunk(None, reply.usage))
        self._event("[DONE]")
        self.wfile.write(b"0\r\n\r\n")

    def _refused(self, reply: Reply) -> bool:
        """Whether the reply is silence or an error status (then sent), instead of an answer."""
        if reply.silent:
            self.server.release.wait(timeout=30)
            return True
        if self.path != "/v1/chat/completions" or reply.status != 200:
            self._send_error(reply.status if reply.status != 200 else 404, reply.headers)
            return True
        return False

    def _answer_whole(self, reply: Reply) -> None:
        prompt, completion = reply.usage or (0, 0)
        message = {"role": "assistant", "content": "".join(reply.pieces)}
        body = json.dumps(
            {
                "id": "chatcmpl-test",
                "object": "chat.completion",
                "created": 1700000000,
                "model": "gpt-4o-mini",
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "total_tokens": prompt + completion,
                },
            }
        ).encode()
        self._send_json(body)

    def do_GET(self) -> None:
        self.close_connection = True
        if self.path != "/v1/models" or self.server.models_status != 200:
            self._send_error(self.server.models_status if self.path == "/v1/models" else 404)
            return
        listed = [{"id": m, "object": "model", "created": 0, "owned_by": "test"} for m in self.server.models]
        self._send_json(json.dumps({"object": "list", "data": listed}).encode())

    def _send_json(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def _event(self, data: dict | str) -> None:
        payload = f"data: {data if isinstance(data, str) else json.dumps(data)}\n\n".encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(payload), payload))
        self.wfile.flush()

    def _send_error(self, status: int, headers: tuple[tuple[str, str], ...] = ()) -> None:
        body = json.dumps({"error": {"message": f"scripted failure {status}", "type": "test", "code": None}})
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep test output to the failures


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI()
    thread = threading.Thread(target=fake.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield fake
    fake.release.set()
    fake.shutdown()
    fake.server_close()
    thread.join(timeout=5)


def openai_settings(monkeypatch, base_url: str) -> Settings:
    monkeypatch.setenv("CHATAPP_PROVIDER", "openai")
    monkeypatch.setenv("OPENAI_BASE_URL", base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("CHATAPP_MODEL", "gpt-4o-mini")
    monkeypatch.setenv("CHATAPP_SYSTEM_PROMPT", SYSTEM_PROMPT)
    get_settings.cache_clear()
    return get_settings()


@pytest.fixture
def settings(db_url, server, monkeypatch) -> Settings:
    return openai_settings(monkeypatch, server.base_url)


@pytest.fixture
def provider(settings) -> OpenAIProvider:
    return OpenAIProvider(settings)
