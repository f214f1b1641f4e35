"""Starlette/FastAPI: in-process through httpx's ASGI transport, and over a real socket with uvicorn."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from stylecloak.adapters.asgi import policy_from_env
from stylecloak.middleware import UploadPolicy

from tests.adapters.asgi.fastapi_app import create_app
from tests.middleware.fixtures import FAST, client_for


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def call(app: Any, method: str, url: str, **kwargs: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://art.test") as http:
            return await http.request(method, url, **kwargs)

    return asyncio.run(go())


def upload(app: Any, image: bytes, notes: bytes | None = None, **kwargs: Any) -> httpx.Response:
    files = {"image": ("starry.jpg", image, "image/jpeg")}
    if notes is not None:
        files["notes"] = ("notes.txt", notes, "text/plain")
    return call(app, "POST", "/artworks", data={"title": "Starry Night"}, files=files, **kwargs)


@pytest.mark.parametrize("engine", [False, pytest.param(True, marks=pytest.mark.engine)], ids=["fake", "engine"])
def test_fastapi_receives_cloaked_upload_files(jpeg: bytes, engine: bool, request) -> None:  # type: ignore[no-untyped-def]
    notes = b"notes " * 100
    app = create_app(policy=UploadPolicy(cloak_options=FAST), client=client_for(request, engine))
    response = upload(app, jpeg, notes)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["title"] == "Starry Night" and body["filename"] == "starry.jpg"
    assert body["cloaked"] and body["status"] == "cloaked" and body["outcomes"] == ["cloaked"]
    assert body["notes_sha256"] == sha(notes)
    assert response.headers["x-stylecloak"].startswith("cloaked;")


def test_fail_closed_fail_open_and_oversize(broken_client, fast_client, jpeg: bytes) -> None:  # type: ignore[no-untyped-def]
    closed = upload(create_app(policy=UploadPolicy(cloak_options=FAST), client=broken_client), jpeg)
    assert closed.status_code == 503 and closed.json()["error"] == "protection_unavailable"
    opened = upload(create_app(policy=UploadPolicy(on_failure="fail_open"), client=broken_client), jpeg).json()
    assert opened["status"] == "unprotected" and opened["sha256"] == sha(jpeg)
    too_big = upload(create_app(policy=UploadPolicy(max_bytes=len(jpeg) - 1), client=fast_client), jpeg)
    assert too_big.status_code == 413 and too_big.json()["error"] == "image_too_large"


def test_an_already_cloaked_image_is_left_as_is(fast_client, cloaked_jpeg: bytes) -> None:  # type: ignore[no-untyped-def]
    body = upload(create_app(policy=UploadPolicy(cloak_options=FAST), client=fast_client), cloaked_jpeg).json()
    assert body["status"] == "already_cloaked" and body["sha256"] == sha(cloaked_jpeg)


def test_the_policy_can_come_from_the_environment() -> None:
    policy = policy_from_env(
        {"STYLECLOAK_FIELDS": "image,cover", "STYLECLOAK_ON_FAILURE": "fail_open", "STYLECLOAK_MAX_BYTES": "1000"}
    )
    assert policy.fields == ("image", "cover") and policy.on_failure == "fail_open" and policy.max_bytes == 1000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def served(fast_client) -> Iterator[str]:  # type: ignore[no-untyped-def]
    port = free_port()
    app = create_app(policy=UploadPolicy(cloak_options=FAST), client=fast_client)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def test_over_a_real_socket_with_uvicorn(served: str, jpeg: bytes) -> None:
    response = httpx.post(
        served + "/artworks",
        data={"title": "Starry Night"},
        files={"image": ("starry.jpg", jpeg, "image/jpeg")},
        timeout=120,
    )
    assert response.status_code == 200 and response.json()["cloaked"]
    assert response.headers["x-stylecloak"].startswith("cloaked;")
