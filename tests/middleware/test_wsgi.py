"""The WSGI middleware around a bare WSGI app that echoes the body it receives."""

from __future__ import annotations

import io
import json
from typing import Any
from wsgiref.util import setup_testing_defaults

import httpx
import pytest
from stylecloak import is_cloaked
from stylecloak.middleware import StylecloakWSGI, UploadPolicy
from stylecloak.middleware.wsgi import ORIGINAL_LENGTH_KEY, UPLOADS_KEY

from tests.middleware.fixtures import FAST, client_for
from tests.middleware.forms import BOUNDARY, FilePart, multipart, split


class Echo:
    """Answers with exactly the body it read (CONTENT_LENGTH bytes), and remembers each environ."""

    def __init__(self, content_type: str = "application/octet-stream") -> None:
        self.environs: list[dict[str, Any]] = []
        self.content_type = content_type

    def __call__(self, environ, start_response):  # type: ignore[no-untyped-def]
        self.environs.append(environ)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        assert environ["wsgi.input"].read(1) == b""  # nothing beyond the declared length
        start_response("200 OK", [("Content-Type", self.content_type)])
        return [body]


def middleware(client, app=None, **policy):  # type: ignore[no-untyped-def]
    app = app or Echo()
    return app, StylecloakWSGI(app, policy=UploadPolicy(cloak_options=FAST, **policy), client=client)


def post(wsgi, body: bytes, content_type: str, **headers: str) -> httpx.Response:  # type: ignore[no-untyped-def]
    with httpx.Client(transport=httpx.WSGITransport(app=wsgi), base_url="http://gallery.test") as http:
        return http.post("/upload", content=body, headers={"Content-Type": content_type, **headers})


@pytest.mark.parametrize("engine", [False, pytest.param(True, marks=pytest.mark.engine)], ids=["fake", "engine"])
def test_image_parts_are_cloaked_and_everything_else_is_byte_identical(jpeg: bytes, engine: bool, request) -> None:  # type: ignore[no-untyped-def]
    notes = b"plain text, not an image\r\n" * 50
    body, content_type = multipart(
        fields=[("title", "Sunflowers"), ("caption", "oil on canvas")],
        files=[FilePart("artwork", "sun.jpg", jpeg, "image/jpeg"), FilePart("notes", "notes.txt", notes)],
    )
    app, wsgi = middleware(client_for(request, engine))
    response = post(wsgi, body, content_type)
    assert response.status_code == 200
    received = {part.name: part for part in split(response.content)}
    assert received["title"].data == b"Sunflowers" and received["caption"].data == b"oil on canvas"
    assert received["notes"].data == notes and "x-stylecloak" not in received["notes"].headers
    artwork = received["artwork"]
    assert artwork.filename == "sun.jpg" and artwork.headers["content-type"] == "image/jpeg"
    assert is_cloaked(artwork.data) and artwork.data != jpeg
    assert artwork.headers["x-stylecloak"].startswith("cloaked; v=")
    assert (
        response.headers["x-stylecloak"].startswith("cloaked; v=") and "cloaked=1" in response.headers["x-stylecloak"]
    )
    environ = app.environs[0]
    assert int(environ["CONTENT_LENGTH"]) == len(response.content)  # the new length is exact
    assert environ[ORIGINAL_LENGTH_KEY] == len(body)
    assert [outcome.status for outcome in environ[UPLOADS_KEY]] == ["cloaked"]


def test_requests_that_are_not_covered_uploads_reach_the_app_untouched(fast_client) -> None:
    app, wsgi = middleware(fast_client)
    stream = io.BytesIO(b"title=hello&kind=form")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "CONTENT_LENGTH": "21",
        "wsgi.input": stream,
    }
    setup_testing_defaults(environ)
    statuses: list[str] = []
    body = b"".join(wsgi(environ, lambda status, headers, exc_info=None: statuses.append(status)))
    assert body == b"title=hello&kind=form" and statuses == ["200 OK"]
    assert app.environs[0] is environ and app.environs[0]["wsgi.input"] is stream  # not wrapped, not buffered


def test_a_multipart_body_without_images_is_replayed_unchanged(fast_client) -> None:
    body, content_type = multipart(fields=[("a", "1")], files=[FilePart("doc", "doc.pdf", b"%PDF-1.7 " * 200_000)])
    app, wsgi = middleware(fast_client)
    response = post(wsgi, body, content_type)  # ~1.8 MB: the spool goes to disk on the way
    # The same parts under the middleware's own boundary, with the Content-Type naming it.
    environ = app.environs[0]
    boundary = environ["CONTENT_TYPE"].split("boundary=")[1]
    assert boundary != BOUNDARY
    assert response.content == body.replace(BOUNDARY.encode(), boundary.encode())
    assert "x-stylecloak" not in response.headers and environ["CONTENT_LENGTH"] == str(len(response.content))


def test_excluded_routes_are_not_inspected(fast_client, jpeg: bytes) -> None:
    body, content_type = multipart(files=[FilePart("artwork", "sun.jpg", jpeg)])
    _, wsgi = middleware(fast_client, exclude_routes=("/upload",))
    assert post(wsgi, body, content_type).content == body


def test_fail_closed_refuses_and_the_app_never_runs(broken_client, jpeg: bytes) -> None:
    body, content_type = multipart(files=[FilePart("artwork", "sun.jpg", jpeg)])
    app, wsgi = middleware(broken_client)
    response = post(wsgi, body, content_type, Accept="application/json")
    assert response.status_code == 503 and response.headers["retry-after"] == "30"
    assert response.json()["error"] == "protection_unavailable"
    assert app.environs == []


def test_fail_open_passes_the_original_flagged(broken_client, jpeg: bytes) -> None:
    hooked: list[Any] = []
    body, content_type = multipart(files=[FilePart("artwork", "sun.jpg", jpeg)])
    _, wsgi = middleware(broken_client, on_failure="fail_open", on_unprotected=hooked.append)
    response = post(wsgi, body, content_type)
    artwork = split(response.content)[0]
    assert artwork.data == jpeg and artwork.headers["x-stylecloak"].startswith("unprotected;")
    assert response.headers["x-stylecloak"].startswith("unprotected;")
    assert len(hooked) == 1 and hooked[0].upload.data == jpeg


def test_a_body_declared_over_the_limit_is_refused_before_it_is_read(fast_client) -> None:
    app, wsgi = middleware(fast_client, max_body_bytes=1000)
    stream = io.BytesIO(b"x" * 5000)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "CONTENT_TYPE": "multipart/form-data; boundary=abc",
        "CONTENT_LENGTH": "5000",
        "HTTP_ACCEPT": "application/json",
        "wsgi.input": stream,
    }
    setup_testing_defaults(environ)
    statuses: list[str] = []
    body = b"".join(wsgi(environ, lambda status, headers, exc_info=None: statuses.append(status)))
    assert statuses == ["413 Content Too Large"] and json.loads(body)["error"] == "upload_too_large"
    assert stream.tell() == 0 and app.environs == []


def test_an_oversize_image_part_gives_413(fast_client, jpeg: bytes) -> None:
    body, content_type = multipart(files=[FilePart("artwork", "sun.jpg", jpeg)])
    app, wsgi = middleware(fast_client, max_bytes=len(jpeg) // 2)
    response = post(wsgi, body, content_type)
    assert response.status_code == 413 and response.json()["error"] == "image_too_large" and app.environs == []


def test_an_already_cloaked_image_is_passed_as_is(fast_client, cloaked_jpeg: bytes) -> None:
    body, content_type = multipart(files=[FilePart("artwork", "again.jpg", cloaked_jpeg)])
    _, wsgi = middleware(fast_client)
    response = post(wsgi, body, content_type)
    artwork = split(response.content)[0]
    assert artwork.data == cloaked_jpeg and artwork.headers["x-stylecloak"].startswith("already_cloaked;")


def test_browsers_get_an_html_refusal(fast_client) -> None:
    body, content_type = multipart(files=[FilePart("artwork", "notes.txt", b"not an image at all")])
    _, wsgi = middleware(fast_client, fields=("artwork",))
    response = post(wsgi, body, content_type, Accept="text/html,application/xhtml+xml")
    assert response.status_code == 415 and response.headers["content-type"].startswith("text/html")
    assert "notes.txt" in response.text and "not an image" in response.text


@pytest.mark.parametrize("content_type", ["image/png", "text/html"])
def test_image_responses_carry_the_rights_headers_when_asked(fast_client, content_type: str) -> None:
    _, wsgi = middleware(fast_client, app=Echo(content_type), rights_headers=True)
    with httpx.Client(transport=httpx.WSGITransport(app=wsgi), base_url="http://gallery.test") as http:
        response = http.get("/media/a.png")
    if content_type == "image/png":
        assert response.headers["x-robots-tag"] == "noai, noimageai" and response.headers["tdm-reservation"] == "1"
    else:
        assert "x-robots-tag" not in response.headers
    _, default = middleware(fast_client, app=Echo(content_type))  # off by default: no per-request cost
    with httpx.Client(transport=httpx.WSGITransport(app=default), base_url="http://gallery.test") as http:
        assert "x-robots-tag" not in http.get("/media/a.png").headers


def test_deferred_mode_passes_the_original_pending_and_cloaks_it_in_the_background(fast_client, jpeg: bytes) -> None:
    import threading

    from stylecloak.middleware import BackgroundCloaker

    done: list[tuple[str, bytes]] = []
    finished = threading.Event()

    def publish(job, result, error):  # type: ignore[no-untyped-def]
        done.append((job.ticket, result.data))
        finished.set()

    queue = BackgroundCloaker(on_done=publish, client=fast_client)
    body, content_type = multipart(files=[FilePart("artwork", "sun.jpg", jpeg)])
    try:
        _, wsgi = middleware(fast_client, mode="deferred", defer=queue)
        response = post(wsgi, body, content_type)
        assert finished.wait(60)
    finally:
        queue.close()
    artwork = split(response.content)[0]
    assert artwork.data == jpeg and artwork.headers["x-stylecloak"].startswith("pending;")
    ticket = artwork.headers["x-stylecloak"].split("ticket=")[1].split(";")[0]
    assert done[0][0] == ticket and is_cloaked(done[0][1])


def test_opt_out_header_is_honoured_only_when_allowed(fast_client, jpeg: bytes) -> None:
    body, content_type = multipart(files=[FilePart("artwork", "sun.jpg", jpeg)])
    _, allowed = middleware(fast_client, allow_opt_out=True)
    kept = split(post(allowed, body, content_type, **{"X-Stylecloak-Opt-Out": "1"}).content)[0]
    assert kept.data == jpeg and kept.headers["x-stylecloak"].startswith("opted_out;")
    _, strict = middleware(fast_client)
    cloaked = split(post(strict, body, content_type, **{"X-Stylecloak-Opt-Out": "1"}).content)[0]
    assert is_cloaked(cloaked.data)
