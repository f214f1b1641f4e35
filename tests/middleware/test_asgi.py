"""The pure ASGI middleware around a bare ASGI app that echoes the body it receives."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from stylecloak import is_cloaked
from stylecloak.middleware import StylecloakASGI, UploadPolicy
from stylecloak.middleware.asgi import SCOPE_KEY, header

from tests.middleware.fixtures import FAST
from tests.middleware.forms import FilePart, multipart, split


class Echo:
    """Answers with the body it received; remembers each scope and how many messages the body took."""

    def __init__(self) -> None:
        self.scopes: list[dict[str, Any]] = []
        self.messages: list[int] = []

    async def __call__(self, scope, receive, send):  # type: ignore[no-untyped-def]
        self.scopes.append(scope)
        body, count, more = b"", 0, True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
            count += 1
        self.messages.append(count)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"image/png")]})
        await send({"type": "http.response.body", "body": body})


def post(app, body: bytes, content_type: str, **headers: str) -> httpx.Response:  # type: ignore[no-untyped-def]
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gallery.test") as http:
            return await http.post("/upload", content=body, headers={"Content-Type": content_type, **headers})

    return asyncio.run(go())


def test_image_parts_are_cloaked_and_the_rest_is_byte_identical(fast_client, jpeg: bytes, png: bytes) -> None:
    body, content_type = multipart(
        fields=[("title", "Irises")],
        files=[
            FilePart("artwork", "irises.jpg", jpeg, "image/jpeg"),
            FilePart("sketch", "sketch.png", png, "image/png"),
            FilePart("notes", "notes.txt", b"n" * 200_000, "text/plain"),
        ],
    )
    echo = Echo()
    app = StylecloakASGI(echo, policy=UploadPolicy(cloak_options=FAST), client=fast_client)
    response = post(app, body, content_type)
    received = {part.name: part for part in split(response.content)}
    assert received["title"].data == b"Irises" and received["notes"].data == b"n" * 200_000
    assert is_cloaked(received["artwork"].data) and is_cloaked(received["sketch"].data)
    assert received["artwork"].headers["x-stylecloak"].startswith("cloaked;")
    assert "cloaked=2" in response.headers["x-stylecloak"]
    scope = echo.scopes[0]
    assert int(header(scope, b"content-length")) == len(response.content)
    assert [outcome.status for outcome in scope[SCOPE_KEY]] == ["cloaked", "cloaked"]
    assert echo.messages[0] > 1  # replayed in chunks, not as one message


def test_image_responses_to_get_carry_the_rights_headers_when_asked(fast_client) -> None:
    async def image(scope, receive, send):  # type: ignore[no-untyped-def]
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"image/webp")]})
        await send({"type": "http.response.body", "body": b"RIFF"})

    async def page(scope, receive, send):  # type: ignore[no-untyped-def]
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]})
        await send({"type": "http.response.body", "body": b"<p>hi</p>"})

    async def get(app) -> httpx.Response:  # type: ignore[no-untyped-def]
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gallery.test") as http:
            return await http.get("/media/a.webp")

    policy = UploadPolicy(rights_headers=True)
    served = asyncio.run(get(StylecloakASGI(image, policy=policy, client=fast_client)))
    assert served.headers["x-robots-tag"] == "noai, noimageai" and served.headers["tdm-reservation"] == "1"
    assert "x-robots-tag" not in asyncio.run(get(StylecloakASGI(page, policy=policy, client=fast_client))).headers
    assert "x-robots-tag" not in asyncio.run(get(StylecloakASGI(image, client=fast_client))).headers  # opt-in


def test_other_requests_keep_their_own_receive(fast_client) -> None:
    seen: list[Any] = []

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        seen.append(receive)
        message = await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": message["body"]})

    originals: list[Any] = []

    async def outer(scope, receive, send):  # type: ignore[no-untyped-def]
        originals.append(receive)
        await StylecloakASGI(app, client=fast_client)(scope, receive, send)

    response = post(outer, b"a=1&b=2", "application/x-www-form-urlencoded")
    assert response.content == b"a=1&b=2" and seen == originals


def test_fail_closed_refuses_with_503_and_the_app_never_runs(broken_client, jpeg: bytes) -> None:
    body, content_type = multipart(files=[FilePart("artwork", "irises.jpg", jpeg)])
    echo = Echo()
    app = StylecloakASGI(echo, policy=UploadPolicy(cloak_options=FAST), client=broken_client)
    response = post(app, body, content_type)
    assert response.status_code == 503 and response.json()["error"] == "protection_unavailable"
    assert echo.scopes == []


def test_a_declared_length_over_the_limit_gives_413(fast_client) -> None:
    body, content_type = multipart(fields=[("a", "x" * 5000)])
    echo = Echo()
    app = StylecloakASGI(echo, policy=UploadPolicy(max_body_bytes=1000), client=fast_client)
    response = post(app, body, content_type)
    assert response.status_code == 413 and echo.scopes == []
