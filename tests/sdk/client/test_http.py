"""The http backend's error translation and retries, against a scripted server on a real socket."""

from __future__ import annotations

import email.utils
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

httpx = pytest.importorskip("httpx")

from stylecloak.client import Client  # noqa: E402
from stylecloak.client.http import HttpProtocol, error_from_response, parse_retry_after  # noqa: E402
from stylecloak.errors import (  # noqa: E402
    AlreadyCloakedError,
    ImageTooLargeError,
    ImageTooSmallError,
    InvalidImageError,
    JobFailedError,
    OverloadedError,
    RemoteTimeoutError,
    ServerError,
    TruncatedImageError,
    UnauthorizedError,
    UnsupportedImageError,
)
from stylecloak.settings import Settings  # noqa: E402
from stylecloak.wire import JobNotFoundError  # noqa: E402

STATUS = {"id": "a" * 32, "state": "running", "done": 3, "total": 10, "created_at": 1.0, "updated_at": 2.0}


def _response(status: int, body: object = None, headers: dict[str, str] | None = None) -> httpx.Response:
    content = json.dumps(body).encode() if body is not None else b"upstream trouble"
    return httpx.Response(status, content=content, headers=headers, request=httpx.Request("POST", "http://x/v1/cloak"))


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (401, {"error": "unauthorized", "message": "no"}, UnauthorizedError),
        (403, None, UnauthorizedError),
        (413, None, ImageTooLargeError),
        (413, {"error": "image_too_large", "message": "big"}, ImageTooLargeError),
        (400, {"error": "invalid_image", "message": "junk"}, InvalidImageError),
        (400, {"error": "truncated_image", "message": "cut"}, TruncatedImageError),
        (415, {"error": "unsupported_image", "message": "gif"}, UnsupportedImageError),
        (422, {"error": "image_too_small", "message": "tiny"}, ImageTooSmallError),
        (409, {"error": "already_cloaked", "message": "again"}, AlreadyCloakedError),
        (404, {"error": "job_not_found", "message": "gone"}, JobNotFoundError),
        (503, {"error": "overloaded", "message": "full"}, OverloadedError),
        (429, None, OverloadedError),
        (504, None, RemoteTimeoutError),
        (408, None, RemoteTimeoutError),
        (500, {"error": "no_such_code", "message": "?"}, ServerError),
        (502, None, ServerError),
        (400, None, InvalidImageError),
    ],
)
def test_http_failures_become_typed_errors(status: int, body: object, expected: type) -> None:
    error = error_from_response(_response(status, body))
    assert type(error) is expected
    if isinstance(body, dict) and status not in (401, 403, 503, 429):
        assert error.message == body["message"]


def test_retry_after_is_honoured() -> None:
    assert parse_retry_after("3") == 3.0
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 < (parse_retry_after(when) or 0) <= 30
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
    protocol = HttpProtocol(Settings(endpoint="http://x", retries=2))
    delay = protocol.response_delay(_response(503, headers={"Retry-After": "4"}), attempt=0)
    assert delay is not None and 4.0 <= delay <= 5.0
    assert protocol.response_delay(_response(503), attempt=2) is None  # retries used up
    assert protocol.response_delay(_response(500), attempt=0) is None  # never retried


class Script:
    """Answers requests from a list of (status, headers, body, delay) in order."""

    def __init__(self, answers: list[tuple[int, dict[str, str], bytes, float]]) -> None:
        self.answers = answers
        self.seen: list[tuple[str, str, str]] = []


@pytest.fixture
def scripted() -> Iterator[tuple[str, Script]]:
    script = Script([])

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            self.seen_request()
            status, headers, body, delay = script.answers.pop(0) if script.answers else (500, {}, b"", 0.0)
            time.sleep(delay)
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def seen_request(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            script.seen.append((self.command, self.path, self.headers.get("Authorization", "")))

        do_GET = do_POST = do_DELETE = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", script
    finally:
        server.shutdown()
        server.server_close()


def test_503_then_success_is_retried_with_the_token(scripted: tuple[str, Script]) -> None:
    url, script = scripted
    busy = (503, {"Retry-After": "0", "Content-Type": "application/json"}, b'{"error":"overloaded"}', 0.0)
    script.answers = [busy, busy, (200, {"Content-Type": "application/json"}, json.dumps(STATUS).encode(), 0.0)]
    with Client(endpoint=url, token="s3cret", retries=3) as client:
        status = client.job("a" * 32).status()
    assert status.done == 3 and status.progress == 0.3
    assert client.stats.retries == 2 and client.stats.requests == 3
    assert [seen[2] for seen in script.seen] == ["Bearer s3cret"] * 3
    assert script.seen[0][:2] == ("GET", "/v1/jobs/" + "a" * 32)


def test_retries_run_out_into_overloaded(scripted: tuple[str, Script]) -> None:
    url, script = scripted
    script.answers = [(503, {"Retry-After": "0"}, b"", 0.0)] * 3
    with Client(endpoint=url, token="t", retries=2) as client, pytest.raises(OverloadedError):
        client.job("a" * 32).status()
    assert len(script.seen) == 3


def test_timeouts_and_unreachable_endpoints(scripted: tuple[str, Script]) -> None:
    url, script = scripted
    script.answers = [(200, {}, b"{}", 1.5)]
    with Client(endpoint=url, token="t", timeout_s=0.3, retries=0) as client, pytest.raises(RemoteTimeoutError):
        client.job("a" * 32).status()
    with Client(endpoint="http://127.0.0.1:9", token="t", retries=1) as client, pytest.raises(ServerError):
        client.job("a" * 32).status()
    assert client.stats.retries == 1  # a connection that never opened is safe to retry


def test_failed_job_raises_job_failed_with_the_cause(scripted: tuple[str, Script]) -> None:
    url, script = scripted
    failed = {**STATUS, "state": "failed", "error": {"error": "invalid_image", "message": "junk", "status": 400}}
    script.answers = [(200, {}, json.dumps(failed).encode(), 0.0)]
    with Client(endpoint=url, token="t") as client, pytest.raises(JobFailedError) as caught:
        client.job("a" * 32).result(timeout=5)
    assert isinstance(caught.value.__cause__, InvalidImageError) and caught.value.detail == "invalid_image"
