"""Flask extension: every image uploaded to the app is cloaked before ``request.files`` is read.

    from stylecloak.adapters.flask import Stylecloak
    Stylecloak(app)                          # or: stylecloak = Stylecloak(); stylecloak.init_app(app)

It wraps ``app.wsgi_app`` with the shared :class:`~stylecloak.middleware.wsgi.StylecloakWSGI`, so
``request.files`` holds ordinary ``FileStorage`` objects whose streams are the cloaked images (each
with an ``X-Stylecloak`` entry in ``file.headers``); :func:`outcomes` lists what was done. The policy
comes from ``STYLECLOAK_*`` keys of ``app.config`` (same names as the policy's fields, e.g.
``STYLECLOAK_FIELDS``, ``STYLECLOAK_ON_FAILURE``), SDK settings from the environment or ``client=``.

``MAX_CONTENT_LENGTH`` (as configured when ``init_app`` runs) applies to the body as uploaded (413
before a byte is read); the rewritten body, which can be a little larger (cloaked JPEGs are saved at
quality ≥ 90), is let through.
``artist_id`` is called with ``flask.request`` inside a request context, so ``flask.session`` works.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stylecloak.errors import MissingExtraError
from stylecloak.middleware.core import Outcome, UploadProtector
from stylecloak.middleware.policy import UploadPolicy, policy_from_mapping
from stylecloak.middleware.wsgi import ORIGINAL_LENGTH_KEY, UPLOADS_KEY, Environ, StylecloakWSGI, remote_user

try:
    import flask
except ImportError as exc:  # pragma: no cover - exercised by the no-extras import test
    raise MissingExtraError("flask", "flask") from exc

EXTENSION_KEY = "stylecloak"


class Stylecloak:
    """The Flask extension (``init_app`` pattern). Explicit arguments win over ``app.config``."""

    def __init__(
        self,
        app: flask.Flask | None = None,
        *,
        policy: UploadPolicy | None = None,
        client: Any = None,
        artist_id: Callable[[flask.Request], str | None] | None = None,
    ) -> None:
        self.policy = policy
        self.client = client
        self.artist_id = artist_id
        if app is not None:
            self.init_app(app)

    def init_app(self, app: flask.Flask) -> StylecloakWSGI:
        policy = self.policy or policy_from_mapping(app.config)
        limit = app.config.get("MAX_CONTENT_LENGTH")
        if limit is not None and limit < policy.max_body_bytes:
            policy = policy.replace(max_body_bytes=limit)
        resolve = self.artist_id or policy.artist_id
        middleware = StylecloakWSGI(
            app.wsgi_app,
            protector=UploadProtector(policy, client=self.client),
            artist_id=_in_request_context(app, resolve) if resolve else remote_user,
        )
        app.wsgi_app = middleware  # type: ignore[method-assign]
        app.extensions[EXTENSION_KEY] = middleware
        if limit is not None:  # set MAX_CONTENT_LENGTH before init_app for this to apply
            app.before_request(_allow_rewritten_body)
        return middleware


def outcomes() -> list[Outcome]:
    """What the middleware did to the current request's images (empty when it did nothing)."""
    found: list[Outcome] = flask.request.environ.get(UPLOADS_KEY, [])
    return found


def _in_request_context(
    app: flask.Flask, resolve: Callable[[flask.Request], str | None]
) -> Callable[[Environ], str | None]:
    def artist_of(environ: Environ) -> str | None:
        # The body is being rewritten, so the resolver must not read it: cookies and headers only.
        with app.request_context(environ):
            return resolve(flask.request)

    return artist_of


def _allow_rewritten_body() -> None:
    request = flask.request._get_current_object()  # type: ignore[attr-defined]  # one proxy lookup
    original = request.environ.get(ORIGINAL_LENGTH_KEY)
    if original is None:  # not a body the middleware rewrote: nothing to do
        return
    limit = request.max_content_length
    if limit is None:
        return
    # The upload was within the limit as sent; its cloaked rewrite is what Flask now reads.
    if original <= limit and (request.content_length or 0) > limit:
        request.max_content_length = request.content_length
