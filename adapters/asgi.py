"""Starlette and FastAPI: the ASGI upload middleware, configured the Starlette way.

    from fastapi import FastAPI
    from stylecloak.adapters.asgi import StylecloakMiddleware

    app = FastAPI()
    app.add_middleware(StylecloakMiddleware)                       # policy from STYLECLOAK_* env vars
    app.add_middleware(StylecloakMiddleware, policy=UploadPolicy(fields=("artwork",)), client=client)

Endpoints receive ordinary ``UploadFile`` objects holding the cloaked bytes; each image's
``file.headers["x-stylecloak"]`` says what was done, and :func:`outcomes` (or the :func:`Uploads`
dependency) lists every outcome. ``artist_id`` is called with a ``starlette.requests.Request`` whose
body must not be read (headers, cookies, ``request.user`` and ``request.session`` are fine); the default
is an authenticated ``request.user``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stylecloak.errors import MissingExtraError
from stylecloak.middleware.asgi import SCOPE_KEY, ASGIApp, Scope, StylecloakASGI
from stylecloak.middleware.core import HEADER, Outcome, UploadProtector
from stylecloak.middleware.policy import UploadPolicy, policy_from_env

try:
    from starlette.datastructures import UploadFile
    from starlette.requests import Request
except ImportError as exc:  # pragma: no cover - exercised by the no-extras import test
    raise MissingExtraError("starlette", "asgi") from exc


class StylecloakMiddleware(StylecloakASGI):
    """:class:`~stylecloak.middleware.asgi.StylecloakASGI` with Starlette's request for ``artist_id``."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        policy: UploadPolicy | None = None,
        client: Any = None,
        artist_id: Callable[[Request], str | None] | None = None,
    ) -> None:
        policy = policy or policy_from_env()
        resolve = artist_id or policy.artist_id
        super().__init__(
            app,
            protector=UploadProtector(policy, client=client),
            artist_id=_with_request(resolve) if resolve else None,
        )


def _with_request(resolve: Callable[[Request], str | None]) -> Callable[[Scope], str | None]:
    def artist_of(scope: Scope) -> str | None:
        return resolve(Request(scope))

    return artist_of


def outcomes(request: Request) -> list[Outcome]:
    """What the middleware did to this request's images (empty when it did nothing)."""
    found: list[Outcome] = request.scope.get(SCOPE_KEY, [])
    return found


#: FastAPI dependency: ``def upload(..., done: list[Outcome] = Depends(Uploads))``.
Uploads = outcomes


def status_of(upload: UploadFile) -> str | None:
    """``cloaked``, ``unprotected``, ``pending``… for one received file, or None if not an image."""
    value = upload.headers.get(HEADER.lower()) if upload.headers else None
    return value.split(";", 1)[0] if value else None
