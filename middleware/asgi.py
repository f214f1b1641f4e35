"""Pure ASGI middleware: every image part of a covered multipart request is cloaked before the app reads it.

    app = StylecloakASGI(app, policy=UploadPolicy(fields=("artwork",)))      # any ASGI app
    app.add_middleware(StylecloakASGI, policy=...)                         # Starlette / FastAPI

It wraps ``receive`` rather than using Starlette's ``BaseHTTPMiddleware``, whose body handling is
fragile. Requests that are not covered multipart uploads reach the app with ``receive`` untouched.
For a covered upload the whole body is read (see :mod:`stylecloak.middleware.rewrite`), the images
are cloaked in a worker thread, and the app receives the rewritten body with a corrected
``content-length`` header, plus ``scope["stylecloak"]``: the outcome of each image.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from stylecloak.errors import MalformedUploadError, StylecloakError, UploadTooLargeError
from stylecloak.middleware.core import HEADER, Outcome, UploadProtector, rights_headers, summary_header
from stylecloak.middleware.multipart import classify_content_type, multipart_boundary
from stylecloak.middleware.policy import OPT_OUT_HEADER, UploadPolicy
from stylecloak.middleware.responses import error_response
from stylecloak.middleware.rewrite import BodyRewrite

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SCOPE_KEY = "stylecloak"
_OPT_OUT = OPT_OUT_HEADER.lower().encode()
_TRUE = {b"1", b"true", b"yes", b"on"}
# Image responses that get the rights headers: those to requests that fetch something.
_SERVES_IMAGES = frozenset({"GET", "HEAD"})


def scope_user(scope: Scope) -> str | None:
    """The default artist id: an authenticated ``scope["user"]`` (Starlette's AuthenticationMiddleware)."""
    user = scope.get("user")
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    for attribute in ("identity", "username", "display_name"):
        try:
            value = getattr(user, attribute, None)
        except NotImplementedError:
            continue
        if value:
            return str(value)
    return None


def header(scope: Scope, name: bytes) -> bytes:
    """A request header by its lower-case name (ASGI servers lower-case header names)."""
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return b""


async def run_blocking(function: Callable[[], Any]) -> Any:
    """Run a blocking call off the event loop (anyio's thread pool when present, as Starlette uses)."""
    try:
        import anyio.to_thread
    except ImportError:
        return await asyncio.to_thread(function)
    return await anyio.to_thread.run_sync(function)


class StylecloakASGI:
    """Wrap an ASGI application. ``artist_id`` (called with the scope) overrides the policy's."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        policy: UploadPolicy | None = None,
        client: Any = None,
        protector: UploadProtector | None = None,
        artist_id: Callable[[Scope], str | None] | None = None,
    ) -> None:
        self.app = app
        self.protector = protector or UploadProtector(policy, client=client)
        self.policy = self.protector.policy
        self.artist_id = artist_id or self.policy.artist_id or scope_user
        pairs = rights_headers(self.protector.rights) if self.policy.rights_headers else []
        #: Rights headers for image responses (X-Robots-Tag, TDMRep).
        self.image_headers = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in pairs]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The common case (not an upload) is on every request's path: kept to a few lookups.
        if scope["type"] == "http":
            method = scope["method"].upper()
            for key, value in scope["headers"]:
                if key.lower() == b"content-type":
                    kind = classify_content_type(bytes(value).decode("latin-1"))
                    if kind != "other" and self.policy.covers(method, scope["path"]):
                        await self._upload(scope, receive, send)
                        return
                    break
            if self.image_headers and method in _SERVES_IMAGES:
                send = _HeaderSend(send, [], self.image_headers)
        await self.app(scope, receive, send)

    async def _upload(self, scope: Scope, receive: Receive, send: Send) -> None:
        rewrite: BodyRewrite | None = None
        try:
            content_types = [value for key, value in scope["headers"] if key.lower() == b"content-type"]
            content_type = bytes(content_types[0]).decode("latin-1")
            if len(content_types) > 1 or classify_content_type(content_type) == "ambiguous":
                raise MalformedUploadError(f"unclear multipart Content-Type {content_type[:100]!r}")
            boundary = multipart_boundary(content_type.partition(";")[2])
            declared = header(scope, b"content-length")
            if declared.isdigit() and int(declared) > self.policy.max_body_bytes:
                raise UploadTooLargeError(
                    f"the request body is {int(declared)} bytes; the limit is {self.policy.max_body_bytes}"
                )
            rewrite = BodyRewrite(boundary, self.protector)
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    rewrite.close()
                    return
                rewrite.feed(message.get("body", b""))
                if not message.get("more_body", False):
                    break
            rewrite.finish()
            outcomes: list[Outcome] = []
            if rewrite.images:  # the thread hop only when there is something to cloak
                artist = self.artist_id(scope)
                opted_out = header(scope, _OPT_OUT).lower() in _TRUE
                outcomes = await run_blocking(
                    functools.partial(rewrite.protect_all, artist_id=artist, opted_out=opted_out)
                )
        except StylecloakError as exc:
            if rewrite is not None:
                rewrite.close()
            await self._refuse(scope, send, exc)
            return
        except BaseException:
            if rewrite is not None:
                rewrite.close()
            raise
        inner = dict(scope)
        length = str(rewrite.content_length()).encode()
        replaced = {b"content-length", b"content-type", b"transfer-encoding"}
        inner["headers"] = [(key, value) for key, value in scope.get("headers", ()) if key.lower() not in replaced] + [
            (b"content-type", rewrite.content_type.encode("latin-1")),
            (b"content-length", length),
        ]
        inner[SCOPE_KEY] = outcomes
        summary = summary_header(outcomes)
        extra = [(HEADER.lower().encode(), summary.encode("latin-1"))] if summary else []
        try:
            await self.app(inner, _replay(rewrite, receive), self._headers(send, extra))
        finally:
            rewrite.close()

    async def _refuse(self, scope: Scope, send: Send, exc: StylecloakError) -> None:
        accept = header(scope, b"accept").decode("latin-1")
        refusal = error_response(exc, accept, retry_after_s=self.policy.retry_after_s)
        headers = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in refusal.headers]
        await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
        await send({"type": "http.response.body", "body": refusal.body})

    def _headers(self, send: Send, extra: list[tuple[bytes, bytes]]) -> Send:
        return _HeaderSend(send, extra, self.image_headers)


class _HeaderSend:
    """``send`` with headers added to the response start: the upload summary, and the rights headers
    when the response is an image. A plain callable returning ``send``'s own awaitable, so the
    pass-through path costs no extra coroutine per message."""

    __slots__ = ("extra", "image_headers", "send")

    def __init__(self, send: Send, extra: list[tuple[bytes, bytes]], image_headers: list[tuple[bytes, bytes]]) -> None:
        self.send = send
        self.extra = extra
        self.image_headers = image_headers

    def __call__(self, message: Message) -> Awaitable[None]:
        if message["type"] == "http.response.start":
            original = message.get("headers", ())
            image = bool(self.image_headers) and _is_image(original)
            if self.extra or image:
                headers = [*original, *self.extra]
                if image:
                    present = {bytes(name).lower() for name, _ in headers}
                    headers.extend(pair for pair in self.image_headers if pair[0] not in present)
                message = {**message, "headers": headers}
        return self.send(message)


def _is_image(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name == b"content-type":  # ASGI response header names are lower-case
            return bytes(value[:6]).lower() == b"image/"
    return False


def _replay(rewrite: BodyRewrite, receive: Receive) -> Receive:
    """A ``receive`` that yields the rewritten body, then defers to the real one (disconnects)."""
    chunks = (chunk for chunk in rewrite.chunks() if chunk)
    upcoming = next(chunks, None)
    started = False

    async def replay() -> Message:
        nonlocal upcoming, started
        if started and upcoming is None:
            return await receive()
        started = True
        body, upcoming = upcoming or b"", next(chunks, None)
        return {"type": "http.request", "body": body, "more_body": upcoming is not None}

    return replay
