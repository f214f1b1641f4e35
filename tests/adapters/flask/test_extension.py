"""The Flask extension, in-process with Flask's test client and over a real socket (a server thread)."""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from flask import Flask, jsonify, request, session
from stylecloak import is_cloaked
from stylecloak.adapters.flask import Stylecloak, outcomes
from stylecloak.middleware import UploadPolicy
from werkzeug.serving import make_server

from tests.middleware.fixtures import FAST, client_for
from tests.middleware.forms import FilePart, multipart


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_app(client: Any, **config: Any) -> tuple[Flask, list[str]]:
    app = Flask(__name__)
    app.config.update(SECRET_KEY="tests", STYLECLOAK_CLOAK_OPTIONS=FAST, **config)
    calls: list[str] = []

    @app.post("/login")
    def login():  # type: ignore[no-untyped-def]
        session["artist"] = request.form["artist"]
        return "ok"

    @app.post("/upload")
    def upload():  # type: ignore[no-untyped-def]
        calls.append("upload")
        received = {}
        for field, storage in request.files.items(multi=True):
            data = storage.read()
            received[field] = {
                "filename": storage.filename,
                "sha256": sha(data),
                "cloaked": is_cloaked(data),
                "header": storage.headers.get("X-Stylecloak"),
            }
        return jsonify(
            fields=request.form.to_dict(),
            files=received,
            outcomes=[(o.status, o.report.target_reason if o.report else None) for o in outcomes()],
        )

    Stylecloak(app, client=client, artist_id=lambda req: session.get("artist"))
    return app, calls


def form(*parts: FilePart, **fields: str) -> dict[str, Any]:
    return {**fields, **{part.name: (io.BytesIO(part.data), part.filename, part.content_type) for part in parts}}


@pytest.mark.parametrize("engine", [False, pytest.param(True, marks=pytest.mark.engine)], ids=["fake", "engine"])
def test_request_files_hold_cloaked_file_storages(jpeg: bytes, engine: bool, request) -> None:  # type: ignore[no-untyped-def]
    app, _ = make_app(client_for(request, engine))
    notes = b"just notes\r\n" * 30
    with app.test_client() as browser:
        browser.post("/login", data={"artist": "berthe"})
        response = browser.post(
            "/upload",
            data=form(
                FilePart("artwork", "cradle.jpg", jpeg, "image/jpeg"),
                FilePart("notes", "n.txt", notes),
                title="The Cradle",
            ),
        )
    body = response.get_json()
    assert body["fields"] == {"title": "The Cradle"}
    assert body["files"]["artwork"]["cloaked"] and body["files"]["artwork"]["filename"] == "cradle.jpg"
    assert body["files"]["artwork"]["header"].startswith("cloaked;")
    assert body["files"]["notes"]["sha256"] == sha(notes) and body["files"]["notes"]["header"] is None
    assert body["outcomes"][0][0] == "cloaked" and "berthe" in body["outcomes"][0][1]  # the session's artist
    assert response.headers["X-Stylecloak"].startswith("cloaked;")


def test_max_content_length_gives_413_before_anything_is_read(fast_client, jpeg: bytes) -> None:  # type: ignore[no-untyped-def]
    app, calls = make_app(fast_client, MAX_CONTENT_LENGTH=len(jpeg) // 2)
    response = app.test_client().post("/upload", data=form(FilePart("artwork", "cradle.jpg", jpeg)))
    assert response.status_code == 413 and calls == []


def test_a_cloaked_body_a_little_over_max_content_length_is_still_read(fast_client, jpeg: bytes) -> None:  # type: ignore[no-untyped-def]
    body, content_type = multipart(files=[FilePart("artwork", "cradle.jpg", jpeg, "image/jpeg")])
    app, _ = make_app(fast_client, MAX_CONTENT_LENGTH=len(body))  # the upload fits exactly as sent
    response = app.test_client().post("/upload", data=body, content_type=content_type)
    assert response.status_code == 200 and response.get_json()["files"]["artwork"]["cloaked"]


def test_fail_closed_and_fail_open(broken_client, jpeg: bytes) -> None:  # type: ignore[no-untyped-def]
    app, calls = make_app(broken_client)
    closed = app.test_client().post("/upload", data=form(FilePart("artwork", "cradle.jpg", jpeg)))
    assert closed.status_code == 503 and closed.get_json()["error"] == "protection_unavailable" and calls == []
    app, _ = make_app(broken_client, STYLECLOAK_ON_FAILURE="fail_open")
    opened = app.test_client().post("/upload", data=form(FilePart("artwork", "cradle.jpg", jpeg))).get_json()
    assert opened["files"]["artwork"]["sha256"] == sha(jpeg) and opened["outcomes"][0][0] == "unprotected"


def test_an_already_cloaked_image_is_left_as_is(fast_client, cloaked_jpeg: bytes) -> None:  # type: ignore[no-untyped-def]
    app, _ = make_app(fast_client)
    body = app.test_client().post("/upload", data=form(FilePart("artwork", "a.jpg", cloaked_jpeg))).get_json()
    assert body["files"]["artwork"]["sha256"] == sha(cloaked_jpeg) and body["outcomes"][0][0] == "already_cloaked"


def test_explicit_policy_wins_over_config(fast_client, jpeg: bytes) -> None:  # type: ignore[no-untyped-def]
    app = Flask(__name__)

    @app.post("/upload")
    def upload():  # type: ignore[no-untyped-def]
        return jsonify(cloaked=is_cloaked(request.files["artwork"].read()))

    extension = Stylecloak(policy=UploadPolicy(routes=("/elsewhere",), cloak_options=FAST), client=fast_client)
    extension.init_app(app)
    response = app.test_client().post("/upload", data=form(FilePart("artwork", "a.jpg", jpeg)))
    assert response.get_json() == {"cloaked": False} and "X-Stylecloak" not in response.headers


@pytest.fixture
def served(fast_client) -> Iterator[str]:  # type: ignore[no-untyped-def]
    app, _ = make_app(fast_client)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)


def test_over_a_real_socket(served: str, jpeg: bytes) -> None:
    body, content_type = multipart(
        fields=[("title", "The Cradle")], files=[FilePart("artwork", "cradle.jpg", jpeg, "image/jpeg")]
    )
    with httpx.Client(base_url=served, timeout=120) as http:
        http.post("/login", data={"artist": "berthe"})
        response = http.post("/upload", content=body, headers={"Content-Type": content_type})
    assert response.status_code == 200 and response.headers["x-stylecloak"].startswith("cloaked;")
    received = response.json()
    assert received["fields"] == {"title": "The Cradle"} and received["files"]["artwork"]["cloaked"]
