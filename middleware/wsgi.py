"""WSGI middleware: every image part of a covered multipart request is cloaked before the app reads it.

    app.wsgi_app = StylecloakWSGI(app.wsgi_app, policy=UploadPolicy(fields=("artwork",)))

Requests that are not covered multipart uploads go straight to the application, their ``wsgi.input``
untouched. For a covered upload the app receives the rewritten body (see
:mod:`stylecloak.middleware.rewrite`) with its new ``CONTENT_TYPE`` and ``CONTENT_LENGTH`` (a chunked
request's ``Transfer-Encoding`` is dropped: the body is whole now), plus
``environ["stylecloak.uploads"]`` (the :class:`~stylecloak.middleware.core.Outcome` of each image)
and ``environ["stylecloak.original_content_length"]``; the response carries ``X-Stylecloak``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from stylecloak.errors import MalformedUploadError, StylecloakError, UploadTooLargeError
from stylecloak.middleware.core import HEADER, UploadProtector, rights_headers, summary_header
from stylecloak.middleware.multipart import classify_content_type, multipart_boundary
from stylecloak.middleware.policy import OPT_OUT_HEADER, UploadPolicy
from stylecloak.middleware.responses import error_response
from stylecloak.middleware.rewrite import CHUNK, BodyRewrite

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]

UPLOADS_KEY = "stylecloak.uploads"
ORIGINAL_LENGTH_KEY = "stylecloak.original_content_length"
_OPT_OUT_KEY = "HTTP_" + OPT_OUT_HEADER.upper().replace("-", "_")
_TRUE = {"1", "true", "yes", "on"}
# Image responses that get the rights headers: those to requests that fetch something.
_SERVES_IMAGES = frozenset({"GET", "HEAD"})


def remote_user(environ: Environ) -> str | None:
    """The default artist id: the authenticated user the server put in ``REMOTE_USER``."""
    user = environ.get("REMOTE_USER")
    return str(user) if user else None


class StylecloakWSGI:
    """Wrap a WSGI application. ``artist_id`` (called with the environ) overrides the policy's."""

    def __init__(
        self,
        app: WSGIApp,
        *,
        policy: UploadPolicy | None = None,
        client: Any = None,
        protector: UploadProtector | None = None,
        artist_id: Callable[[Environ], str | None] | None = None,
    ) -> None:
        self.app = app
        self.protector = protector or UploadProtector(policy, client=client)
        self.policy = self.protector.policy
        self.artist_id = artist_id or self.policy.artist_id or remote_user
        #: Rights headers for image responses (X-Robots-Tag, TDMRep).
        self.image_headers = rights_headers(self.protector.rights) if self.policy.rights_headers else []

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        # Frameworks upper-case the method and strip the media type, so "post" and
        # " Multipart/Form-Data" are uploads here too.
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        content_type = environ.get("CONTENT_TYPE", "")
        if (
            content_type
            and classify_content_type(content_type) != "other"
            and self.policy.covers(method, environ.get("PATH_INFO", ""))
        ):
            return self._upload(environ, start_response)
        if not self.image_headers or method not in _SERVES_IMAGES:
            return self.app(environ, start_response)
        return self.app(environ, self._headers(start_response, []))

    def _upload(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        rewrite: BodyRewrite | None = None
        try:
            content_type = environ.get("CONTENT_TYPE", "")
            if classify_content_type(content_type) == "ambiguous":
                raise MalformedUploadError(f"unclear multipart Content-Type {content_type[:100]!r}")
            boundary = multipart_boundary(content_type.partition(";")[2])
            rewrite = BodyRewrite(boundary, self.protector)
            for chunk in _body(environ, self.policy.max_body_bytes):
                rewrite.feed(chunk)
            rewrite.finish()
            opted_out = environ.get(_OPT_OUT_KEY, "").lower() in _TRUE
            artist = self.artist_id(environ) if rewrite.images else None
            outcomes = rewrite.protect_all(artist_id=artist, opted_out=opted_out)
        except StylecloakError as exc:
            if rewrite is not None:
                rewrite.close()
            refusal = error_response(exc, environ.get("HTTP_ACCEPT", ""), retry_after_s=self.policy.retry_after_s)
            start_response(refusal.status_line, refusal.headers)
            return [refusal.body]
        except BaseException:
            if rewrite is not None:
                rewrite.close()
            raise
        environ = dict(environ)
        environ[ORIGINAL_LENGTH_KEY] = rewrite.received
        environ["CONTENT_TYPE"] = rewrite.content_type
        environ["CONTENT_LENGTH"] = str(rewrite.content_length())
        environ["wsgi.input"] = rewrite.stream()
        # The body is whole and its length known: a framework that still saw "chunked" would ignore
        # CONTENT_LENGTH and, without wsgi.input_terminated, read nothing (Werkzeug does).
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        environ.pop("wsgi.input_terminated", None)
        environ[UPLOADS_KEY] = outcomes
        summary = summary_header(outcomes)
        extra = [(HEADER, summary)] if summary else []
        try:
            result = self.app(environ, self._headers(start_response, extra))
        except BaseException:
            rewrite.close()
            raise
        return _Closing(result, rewrite.close)

    def _headers(self, start_response: StartResponse, extra: list[tuple[str, str]]) -> StartResponse:
        image_headers = self.image_headers

        def wrapped(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if extra:
                headers = [*headers, *extra]
            if image_headers and _is_image(headers):
                present = {name.lower() for name, _ in headers}
                headers = [*headers, *(pair for pair in image_headers if pair[0].lower() not in present)]
            return start_response(status, headers, exc_info)

        return wrapped


def _is_image(headers: list[tuple[str, str]]) -> bool:
    for name, value in headers:
        if name.lower() == "content-type":
            return value[:6].lower() == "image/"
    return False


def _body(environ: Environ, limit: int) -> Iterator[bytes]:
    """The request body in chunks, refusing one declared over ``limit`` before reading it.

    Read as Werkzeug reads it: to its end when the server says the stream ends by itself
    (``wsgi.input_terminated``, as for a de-chunked request), else ``CONTENT_LENGTH`` bytes.
    """
    stream = environ["wsgi.input"]
    declared = environ.get("CONTENT_LENGTH") or ""
    if environ.get("wsgi.input_terminated"):
        while chunk := stream.read(CHUNK):
            yield chunk
        return
    if not declared.strip():
        if str(environ.get("HTTP_TRANSFER_ENCODING", "")).strip():
            raise MalformedUploadError("this server passed a chunked upload on undecoded; send a Content-Length")
        raise MalformedUploadError("a multipart upload needs a Content-Length")
    try:
        remaining = int(declared)
    except ValueError as exc:
        raise MalformedUploadError(f"invalid Content-Length {declared!r}") from exc
    if remaining > limit:
        raise UploadTooLargeError(f"the request body is {remaining} bytes; the limit is {limit}")
    while remaining > 0:
        chunk = stream.read(min(CHUNK, remaining))
        if not chunk:
            raise MalformedUploadError("the request body ended before its Content-Length")
        remaining -= len(chunk)
        yield chunk


class _Closing:
    """The app's response iterable, plus a clean-up that runs when the server closes it."""

    def __init__(self, result: Iterable[bytes], cleanup: Callable[[], None]) -> None:
        self._result = result
        self._cleanup = cleanup

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._result)

    def close(self) -> None:
        try:
            close = getattr(self._result, "close", None)
            if close is not None:
                close()
        finally:
            self._cleanup()
