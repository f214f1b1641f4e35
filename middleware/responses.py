"""The neutral response a shell sends when an upload is refused: JSON for APIs, HTML for browsers."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass

from stylecloak.errors import ProtectionUnavailableError, StylecloakError
from stylecloak.middleware.core import HEADER

_REASONS = {
    400: "Bad Request",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noai, noimageai"><title>{title}</title>
<style>
body{{margin:0;min-height:100vh;display:grid;place-items:center;background:#f6f3ee;color:#1f1c18;
font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif}}
main{{max-width:34rem;margin:2rem;padding:2rem 2.25rem;background:#fff;border-radius:14px;
box-shadow:0 10px 30px rgba(40,30,20,.08)}}
h1{{font-size:1.25rem;margin:0 0 .5rem}} p{{margin:.5rem 0}} code{{color:#8a5a2b}}
a{{color:#8a5a2b}}
</style></head>
<body><main role="alert"><h1>{title}</h1><p class="stylecloak-error">{message}</p>
<p><small>Error <code>{code}</code> · HTTP {status}</small></p>
<p><a href="javascript:history.back()">Go back</a></p></main></body></html>
"""


@dataclass(frozen=True, slots=True)
class ErrorResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def status_line(self) -> str:
        return f"{self.status} {_REASONS.get(self.status, 'Error')}"


def wants_html(accept: str) -> bool:
    """Browsers (Accept lists text/html before any JSON) get a page; everything else gets JSON."""
    accept = accept.lower()
    if "text/html" not in accept:
        return False
    return "application/json" not in accept or accept.index("text/html") < accept.index("application/json")


def title_for(exc: StylecloakError) -> str:
    if exc.status == 413:
        return "That upload is too large"
    if isinstance(exc, ProtectionUnavailableError):
        return "We could not protect your upload"
    return "That upload was not accepted"


def error_response(exc: StylecloakError, accept: str = "", *, retry_after_s: int = 0) -> ErrorResponse:
    """The refusal for ``exc``: its status, a JSON body (``exc.to_dict()``) or an HTML page."""
    headers = [(HEADER, f"refused; reason={exc.code}"), ("Cache-Control", "no-store")]
    if exc.status == 503 and retry_after_s:
        headers.append(("Retry-After", str(retry_after_s)))
    if wants_html(accept):
        body = _PAGE.format(
            title=html.escape(title_for(exc)),
            message=html.escape(exc.message),
            code=html.escape(exc.code),
            status=exc.status,
        ).encode()
        headers.append(("Content-Type", "text/html; charset=utf-8"))
    else:
        body = json.dumps(exc.to_dict()).encode()
        headers.append(("Content-Type", "application/json"))
    headers.append(("Content-Length", str(len(body))))
    return ErrorResponse(exc.status, headers, body)
