"""Refuses an upload that is larger than any import, before Reflex's `/_upload` stores a byte of it.

Reflex reads an upload whole (into memory and temporary files) before a handler sees it, so a size check in
the handler came after 200 MB had been taken in. This ASGI middleware stands in front: a declared length over
the limit is answered 413 at once; a body sent without one is counted as it arrives and cut off there.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# A multipart body holds the file and a few headers around it.
MULTIPART_OVERHEAD = 64 * 1024


class UploadLimit:
    def __init__(self, app: ASGIApp, *, max_bytes: int, message: str) -> None:
        self.app = app
        self.max_bytes = max_bytes + MULTIPART_OVERHEAD
        self.body = json.dumps({"error": message}).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].endswith("/_upload"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(send)
            return

        received = 0
        over = started = False

        async def counted() -> Message:
            nonlocal received, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # To Reflex the client went away: it drops what it read, and its answer goes nowhere.
                    over = True
                    return {"type": "http.disconnect"}
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if over:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except Exception:
            if not over:
                raise
            # The app's way of giving up on a client that left (Starlette raises ClientDisconnect).
        if over and not started:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(self.body)).encode())]
        # The client may still be sending; closing says not to wait for it.
        headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})
