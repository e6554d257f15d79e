"""The upload limit in front of Reflex's `/_upload`: a file larger than any import is refused before the app
takes it in, whether the client declares its length or streams it without one."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from chatapp.rest.upload_limit import MULTIPART_OVERHEAD, UploadLimit

LIMIT = 100_000


def client_and_log() -> tuple[TestClient, list[int], list[int]]:
    """An app that reads an upload the way Reflex does (the whole form), logging the bytes it stored, and
    the bytes of body that reached it."""
    stored: list[int] = []
    reached: list[int] = []

    async def upload(request: Request) -> JSONResponse:
        form = await request.form()
        stored.append(sum([len(await part.read()) for part in form.values() if hasattr(part, "read")]))
        return JSONResponse({"stored": stored[-1]})

    app = Starlette(
        routes=[Route("/_upload", upload, methods=["POST"]), Route("/other", upload, methods=["POST"])]
    )

    async def counting(scope, receive, send):
        async def counted():
            message = await receive()
            reached.append(len(message.get("body", b"")))
            return message

        await app(scope, counted, send)

    limited = UploadLimit(
        counting, max_bytes=LIMIT, message="That file is too large to import (5 MB at most)."
    )
    return TestClient(limited), stored, reached


def test_a_file_within_the_limit_reaches_the_app():
    client, stored, _ = client_and_log()

    response = client.post("/_upload", files={"files": ("chat.json", b"x" * LIMIT, "application/json")})

    assert response.status_code == 200 and stored == [LIMIT]


def test_a_declared_length_over_the_limit_is_refused_before_the_app_reads_anything():
    client, stored, _ = client_and_log()

    response = client.post("/_upload", files={"files": ("big.json", b"x" * (LIMIT * 3), "application/json")})

    assert response.status_code == 413
    assert response.json() == {"error": "That file is too large to import (5 MB at most)."}
    assert stored == []


def test_a_body_streamed_without_a_length_is_cut_off_at_the_limit():
    client, stored, reached = client_and_log()
    boundary = "b0undary"

    def body():
        disposition = 'Content-Disposition: form-data; name="files"; filename="big.json"'
        yield f"--{boundary}\r\n{disposition}\r\n\r\n".encode()
        for _ in range(200):  # 200 × 10 kB = 2 MB, twenty times the limit
            yield b"x" * 10_000
        yield f"\r\n--{boundary}--\r\n".encode()

    response = client.post(
        "/_upload", content=body(), headers={"content-type": f"multipart/form-data; boundary={boundary}"}
    )

    assert response.status_code == 413 and stored == []
    assert sum(reached) <= LIMIT + MULTIPART_OVERHEAD  # the app never saw the bytes past the limit


def test_other_paths_are_not_limited():
    client, stored, _ = client_and_log()

    response = client.post("/other", files={"files": ("big.json", b"x" * (LIMIT * 3), "application/json")})

    assert response.status_code == 200 and stored == [LIMIT * 3]
