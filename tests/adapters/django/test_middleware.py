"""The Django middleware, in-process with Django's test client and over a real socket (the live server)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client as DjangoClient
from django.test import override_settings
from django.test.testcases import LiveServerThread
from stylecloak import is_cloaked

from tests.adapters.django import site
from tests.middleware.fixtures import client_for


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def files(**named: tuple[str, bytes, str]) -> dict[str, SimpleUploadedFile]:
    return {field: SimpleUploadedFile(name, data, content_type) for field, (name, data, content_type) in named.items()}


@pytest.fixture
def using(fast_client) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    """Settings for one test, on top of the fast client; each DjangoClient builds fresh middleware."""

    def apply(client: Any = fast_client, **changes: Any) -> override_settings:
        return override_settings(STYLECLOAK_CLIENT=client, **changes)

    site.CALLS.clear()
    yield apply


@pytest.mark.parametrize("engine", [False, pytest.param(True, marks=pytest.mark.engine)], ids=["fake", "engine"])
def test_request_files_hold_cloaked_files_when_the_view_runs(using, jpeg: bytes, engine: bool, request) -> None:  # type: ignore[no-untyped-def]
    notes = b"my process notes\n" * 20
    with using(client_for(request, engine)):
        response = DjangoClient().post(
            "/upload",
            {
                "title": "Wheat field",
                **files(artwork=("wheat.jpg", jpeg, "image/jpeg"), notes=("n.txt", notes, "text/plain")),
            },
            headers={"X-Artist": "vincent"},
        )
    assert response.status_code == 200
    body = response.json()
    assert body["fields"] == {"title": "Wheat field"}
    artwork = body["files"]["artwork"][0]
    assert artwork["cloaked"] and artwork["status"] == "cloaked" and artwork["name"] == "wheat.jpg"
    assert artwork["kind"] == "InMemoryUploadedFile" and artwork["sha256"] != sha(jpeg)
    assert body["files"]["notes"][0]["sha256"] == sha(notes) and body["files"]["notes"][0]["status"] is None
    assert response.headers["X-Stylecloak"].startswith("cloaked; v=")


def test_temporary_file_uploads_are_replaced_by_cloaked_temporary_files(using, jpeg: bytes) -> None:  # type: ignore[no-untyped-def]
    with using(FILE_UPLOAD_MAX_MEMORY_SIZE=1000):  # Django's handler writes this upload to disk
        response = DjangoClient().post("/upload", files(artwork=("wheat.jpg", jpeg, "image/jpeg")))
    artwork = response.json()["files"]["artwork"][0]
    assert artwork["kind"] == "TemporaryUploadedFile" and artwork["cloaked"] and artwork["on_disk_matches"]


def test_csrf_is_checked_before_anything_is_cloaked(using, jpeg: bytes) -> None:  # type: ignore[no-untyped-def]
    with using():
        browser = DjangoClient(enforce_csrf_checks=True)
        refused = browser.post("/upload", files(artwork=("wheat.jpg", jpeg, "image/jpeg")))
        assert refused.status_code == 403 and "X-Stylecloak" not in refused.headers and site.CALLS == []
        token = browser.get("/token").json()["token"]
        accepted = browser.post(
            "/upload", {"csrfmiddlewaretoken": token, **files(artwork=("wheat.jpg", jpeg, "image/jpeg"))}
        )
    assert accepted.status_code == 200 and accepted.json()["files"]["artwork"][0]["cloaked"]


def test_fail_closed_refuses_and_the_view_stores_nothing(using, broken_client, jpeg: bytes) -> None:  # type: ignore[no-untyped-def]
    with using(client=broken_client):
        response = DjangoClient().post(
            "/upload", files(artwork=("wheat.jpg", jpeg, "image/jpeg")), headers={"Accept": "application/json"}
        )
    assert response.status_code == 503 and response.json()["error"] == "protection_unavailable"
    assert response.headers["Retry-After"] == "30" and site.CALLS == []


def test_fail_open_passes_the_original_flagged(using, broken_client, jpeg: bytes) -> None:  # type: ignore[no-untyped-def]
    with using(client=broken_client, STYLECLOAK_ON_FAILURE="fail_open"):
        response = DjangoClient().post("/upload", files(artwork=("wheat.jpg", jpeg, "image/jpeg")))
    artwork = response.json()["files"]["artwork"][0]
    assert artwork["status"] == "unprotected" and artwork["sha256"] == sha(jpeg) and not artwork["cloaked"]
    assert response.headers["X-Stylecloak"].startswith("unprotected;")


def test_oversize_images_get_413(using, jpeg: bytes) -> None:  # type: ignore[no-untyped-def]
    with using(STYLECLOAK_MAX_BYTES=len(jpeg) - 1):
        response = DjangoClient().post("/upload", files(artwork=("wheat.jpg", jpeg, "image/jpeg")))
    assert response.status_code == 413 and response.json()["error"] == "image_too_large" and site.CALLS == []


def test_a_body_over_the_limit_gets_413_before_the_view(using, jpeg: bytes) -> None:  # type: ignore[no-untyped-def]
    with using(STYLECLOAK_MAX_BODY_BYTES=len(jpeg) // 2):
        response = DjangoClient().post("/upload", files(artwork=("wheat.jpg", jpeg, "image/jpeg")))
        exempt = DjangoClient().post("/save", files(artwork=("wheat.jpg", jpeg, "image/jpeg")))
    assert response.status_code == 413 and response.json()["error"] == "upload_too_large"
    assert site.CALLS == ["save"] and exempt.status_code == 200  # an exempt view keeps its own limits


def test_an_already_cloaked_image_is_not_cloaked_again(using, cloaked_jpeg: bytes) -> None:  # type: ignore[no-untyped-def]
    with using():
        response = DjangoClient().post("/upload", files(artwork=("again.jpg", cloaked_jpeg, "image/jpeg")))
    artwork = response.json()["files"]["artwork"][0]
    assert artwork["status"] == "already_cloaked" and artwork["sha256"] == sha(cloaked_jpeg)


def test_djangos_own_upload_limits_still_apply(using, jpeg: bytes, png: bytes) -> None:  # type: ignore[no-untyped-def]
    with using(DATA_UPLOAD_MAX_NUMBER_FILES=1):
        response = DjangoClient().post("/upload", files(a=("a.jpg", jpeg, "image/jpeg"), b=("b.png", png, "image/png")))
    assert response.status_code == 400 and site.CALLS == []


def test_named_fields_refuse_non_images_with_the_sites_own_template(using) -> None:  # type: ignore[no-untyped-def]
    with using(STYLECLOAK_FIELDS=["artwork"], STYLECLOAK_ERROR_TEMPLATE="refused.html"):
        response = DjangoClient().post(
            "/upload", files(artwork=("notes.txt", b"not an image", "image/png")), headers={"Accept": "text/html"}
        )
    assert response.status_code == 415
    assert b'class="site-error"' in response.content and b"notes.txt" in response.content


def test_the_storage_wrapper_cloaks_images_on_save(using, jpeg: bytes, cloaked_jpeg: bytes) -> None:  # type: ignore[no-untyped-def]
    from django.core.files.storage import default_storage

    with using():
        stored = DjangoClient().post("/save", files(artwork=("wheat.jpg", jpeg, "image/jpeg"))).json()
        assert stored["cloaked"] and stored["name"].startswith("art/wheat")
        again = DjangoClient().post("/save", files(artwork=("again.jpg", cloaked_jpeg, "image/jpeg"))).json()
        assert again["sha256"] == sha(cloaked_jpeg)  # already cloaked: stored as is
        text = default_storage.save("notes/n.txt", SimpleUploadedFile("n.txt", b"plain text"))
        with default_storage.open(text) as handle:
            assert handle.read() == b"plain text"


def test_image_responses_carry_the_rights_headers_when_asked(using) -> None:  # type: ignore[no-untyped-def]
    with using(STYLECLOAK_RIGHTS_HEADERS=True):
        response = DjangoClient().get("/media/a.png")
    assert response.headers["X-Robots-Tag"] == "noai, noimageai" and response.headers["tdm-reservation"] == "1"
    with using():
        assert "X-Robots-Tag" not in DjangoClient().get("/media/a.png").headers


def test_over_a_real_socket(using, jpeg: bytes, broken_client) -> None:  # type: ignore[no-untyped-def]
    from tests.middleware.forms import FilePart, multipart

    with using():
        server = LiveServerThread("127.0.0.1", lambda handler: handler)
        server.daemon = True
        server.start()
        server.is_ready.wait(10)
        try:
            assert server.error is None
            body, content_type = multipart(
                fields=[("title", "Wheat field")], files=[FilePart("artwork", "wheat.jpg", jpeg, "image/jpeg")]
            )
            with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=120) as http:
                token = http.get("/token").json()["token"]  # a real browser's CSRF round trip
                response = http.post(
                    "/upload",
                    content=body,
                    headers={"Content-Type": content_type, "X-Artist": "vincent", "X-CSRFToken": token},
                )
        finally:
            server.terminate()
    assert response.status_code == 200 and response.headers["x-stylecloak"].startswith("cloaked;")
    received = response.json()
    assert received["fields"] == {"title": "Wheat field"} and received["files"]["artwork"][0]["cloaked"]
    assert is_cloaked(jpeg) is False
