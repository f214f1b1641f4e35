"""Django middleware: ``request.FILES`` holds cloaked files by the time the view runs.

Put it after ``CsrfViewMiddleware`` and ``AuthenticationMiddleware``: it works in ``process_view``, so
a request that fails CSRF is never cloaked, ``request.user`` is known (the default artist id is the
user's primary key), and Django has already parsed the upload with its own handlers and limits
(``DATA_UPLOAD_MAX_NUMBER_FILES``, ``FILE_UPLOAD_MAX_MEMORY_SIZE``…). Each image is replaced by a
file of the same kind (in memory, or a temporary file on disk) holding the cloaked bytes, with the
:class:`~stylecloak.middleware.core.Outcome` as its ``stylecloak`` attribute; ``request.stylecloak``
lists them all. Refusals are a JSON body, or for browsers an HTML page (``STYLECLOAK_ERROR_TEMPLATE``
to use your own template, which receives ``error``, ``title`` and ``status``).
"""

from __future__ import annotations

import contextvars
import io
from collections.abc import Callable
from typing import Any, TypeVar

from stylecloak.errors import MissingExtraError, StylecloakError, UploadTooLargeError
from stylecloak.middleware.core import (
    HEADER,
    Outcome,
    Upload,
    UploadProtector,
    rights_headers,
    summary_header,
)
from stylecloak.middleware.policy import OPT_OUT_HEADER
from stylecloak.middleware.responses import error_response, title_for, wants_html
from stylecloak.middleware.sniff import SNIFF_BYTES

try:
    from django.core.files.uploadedfile import InMemoryUploadedFile, TemporaryUploadedFile, UploadedFile
    from django.http import HttpRequest, HttpResponse
    from django.template.loader import render_to_string
    from django.urls import Resolver404, resolve
except ImportError as exc:  # pragma: no cover - exercised by the no-extras import test
    raise MissingExtraError("django", "django") from exc

from stylecloak.adapters.django.conf import client_from_settings, error_template, policy_from_settings

#: The current request's artist id, for the storage wrapper (which never sees the request).
current_artist: contextvars.ContextVar[str | None] = contextvars.ContextVar("stylecloak_artist", default=None)

View = TypeVar("View", bound=Callable[..., Any])
_TRUE = {"1", "true", "yes", "on"}
# Image responses that get the rights headers: those to requests that fetch something.
_SERVES_IMAGES = frozenset({"GET", "HEAD"})


def stylecloak_exempt(view: View) -> View:
    """Mark a view whose uploads are never cloaked (like ``csrf_exempt``)."""
    view.stylecloak_exempt = True  # type: ignore[attr-defined]
    return view


def user_pk(request: HttpRequest) -> str | None:
    """The default artist id: the signed-in user's primary key (stable across renames)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    return str(user.pk)


class StylecloakMiddleware:
    """Cloaks the image uploads of covered requests. Settings: see :mod:`stylecloak.adapters.django.conf`."""

    sync_capable = True
    async_capable = False

    def __init__(
        self, get_response: Callable[[HttpRequest], HttpResponse], *, settings: Any = None, client: Any = None
    ) -> None:
        self.get_response = get_response
        policy = policy_from_settings(settings)
        self.protector = UploadProtector(
            policy, client=client if client is not None else client_from_settings(settings)
        )
        self.policy = policy
        self.artist_id = policy.artist_id or user_pk
        self.error_template = error_template(settings)
        #: Rights headers for image responses (X-Robots-Tag, TDMRep).
        self.image_headers = rights_headers(self.protector.rights) if policy.rights_headers else []

    def __call__(self, request: HttpRequest) -> HttpResponse:
        oversize = self._body_over_limit(request)
        if oversize is not None:
            return oversize
        response = self.get_response(request)
        outcomes: list[Outcome] | None = getattr(request, "stylecloak", None)
        if outcomes is not None:
            _forget_artist(request)
            summary = summary_header(outcomes)
            if summary and HEADER not in response:
                response[HEADER] = summary
        if (
            self.image_headers
            and request.method in _SERVES_IMAGES
            and response.get("Content-Type", "").startswith("image/")
        ):
            for name, value in self.image_headers:
                response.setdefault(name, value)
        return response

    def _body_over_limit(self, request: HttpRequest) -> HttpResponse | None:
        """413 for a covered multipart body over ``max_body_bytes``, before anything reads it.

        Django parses the whole body (spooling files to disk) the first time anything touches
        ``request.POST`` or ``FILES``, and CSRF's ``process_view`` does, so ``process_view`` is too late.
        """
        if request.content_type != "multipart/form-data" or not self.policy.covers(
            request.method or "GET", request.path_info
        ):
            return None
        declared = str(request.META.get("CONTENT_LENGTH") or "")
        if not declared.isdigit() or int(declared) <= self.policy.max_body_bytes:
            return None
        try:
            if getattr(resolve(request.path_info).func, "stylecloak_exempt", False):
                return None
        except Resolver404:
            pass
        limit = self.policy.max_body_bytes
        return self.refusal(request, UploadTooLargeError(f"the request body is {declared} bytes; the limit is {limit}"))

    def process_view(
        self, request: HttpRequest, view: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> HttpResponse | None:
        if getattr(view, "stylecloak_exempt", False) or request.content_type != "multipart/form-data":
            return None
        if not self.policy.covers(request.method or "GET", request.path_info):
            return None
        try:
            request.stylecloak = self._protect(request)  # type: ignore[attr-defined]
        except StylecloakError as exc:
            _forget_artist(request)
            return self.refusal(request, exc)
        return None

    def _protect(self, request: HttpRequest) -> list[Outcome]:
        protector, files = self.protector, request.FILES
        opted_out = request.headers.get(OPT_OUT_HEADER, "").lower() in _TRUE
        outcomes: list[Outcome] = []
        artist: list[str | None] = []  # resolved once, and only if there is an image
        for field, uploaded_files in list(files.lists()):
            if not protector.policy.covers_field(field):
                continue
            replaced = []
            for uploaded in uploaded_files:
                if not protector.admit(field, uploaded.name or "", _head(uploaded)):
                    replaced.append(uploaded)
                    continue
                protector.check_count(len(outcomes) + 1)
                protector.check_size(uploaded.size or 0, uploaded.name or "")
                if not artist:
                    artist.append(self.artist_id(request))
                    request._stylecloak_token = current_artist.set(artist[0])  # type: ignore[attr-defined]
                uploaded.seek(0)
                upload = Upload(uploaded.read(), uploaded.name or "", uploaded.content_type or "", field)
                uploaded.seek(0)
                outcome = protector.protect(upload, artist_id=artist[0], opted_out=opted_out)
                outcomes.append(outcome)
                replaced.append(_replacement(uploaded, outcome))
            files.setlist(field, replaced)
        return outcomes

    def refusal(self, request: HttpRequest, exc: StylecloakError) -> HttpResponse:
        neutral = error_response(exc, request.headers.get("Accept", ""), retry_after_s=self.policy.retry_after_s)
        if self.error_template and wants_html(request.headers.get("Accept", "")):
            body = render_to_string(
                self.error_template, {"error": exc, "title": title_for(exc), "status": exc.status}, request
            )
            response = HttpResponse(body, status=exc.status)
            for name, value in neutral.headers:
                if name not in ("Content-Type", "Content-Length"):
                    response[name] = value
            return response
        response = HttpResponse(neutral.body, status=neutral.status)
        for name, value in neutral.headers:
            response[name] = value
        return response


def _forget_artist(request: HttpRequest) -> None:
    token = request.__dict__.pop("_stylecloak_token", None)
    if token is None:
        return
    try:
        current_artist.reset(token)
    except ValueError:  # set in another context (a sync view under ASGI): clear it there instead
        current_artist.set(None)


def _head(uploaded: UploadedFile) -> bytes:
    uploaded.seek(0)
    head = uploaded.read(SNIFF_BYTES)
    uploaded.seek(0)
    return bytes(head)


def _replacement(uploaded: UploadedFile, outcome: Outcome) -> UploadedFile:
    """A file of the same kind as the one Django's upload handler made, holding what the view must see."""
    if outcome.status != "cloaked":
        uploaded.stylecloak = outcome  # type: ignore[attr-defined]
        return uploaded
    data = outcome.upload.data
    new: UploadedFile
    if isinstance(uploaded, TemporaryUploadedFile):
        new = TemporaryUploadedFile(
            uploaded.name, uploaded.content_type, len(data), uploaded.charset, uploaded.content_type_extra
        )
        new.write(data)
        new.flush()
        new.seek(0)
        uploaded.close()  # removes the original's temporary file; its bytes live on in outcome.original
    else:
        new = InMemoryUploadedFile(
            io.BytesIO(data),
            getattr(uploaded, "field_name", None) or outcome.upload.field_name,
            uploaded.name,
            uploaded.content_type,
            len(data),
            uploaded.charset,
            uploaded.content_type_extra,
        )
    new.stylecloak = outcome  # type: ignore[attr-defined]
    return new
