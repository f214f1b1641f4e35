"""What one upload may cost, and how many at once (item 7).

Before: a 62 KB PNG of 7990×7990 px cost 108 s and 7.1 GB through the middleware, before the app's
own auth ran, and every request waited for the engine however many were queued. Now the default
pixel limit refuses it from its header (413, nothing decoded), each process protects at most
``max_concurrent`` uploads at once (one more: 503 + Retry-After, or unprotected with fail_open), and
the Serve workers never batch large images together. ``benchmarks/bench_largest.py`` measures the
largest accepted image.
"""

from __future__ import annotations

import io
import threading
import time
from typing import Any

import pytest
from PIL import Image
from stylecloak.middleware import StylecloakWSGI, UploadPolicy
from stylecloak.settings import DEFAULT_MAX_PIXELS

from tests.conftest import encoded, painting
from tests.middleware.forms import FilePart, multipart

pytest.importorskip("werkzeug")
from werkzeug.test import Client as WerkzeugClient


def echo(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def post(app: Any, body: bytes, content_type: str) -> Any:
    return WerkzeugClient(app).post("/upload", data=body, content_type=content_type)


def test_the_issues_decompression_bomb_is_refused_from_its_header(fast_client) -> None:  # type: ignore[no-untyped-def]
    buffer = io.BytesIO()
    Image.new("RGB", (7990, 7990), (120, 90, 60)).save(buffer, format="PNG", optimize=True)
    assert DEFAULT_MAX_PIXELS < 7990 * 7990 and len(buffer.getvalue()) < 300_000
    body, content_type = multipart(files=[FilePart("art", "bomb.png", buffer.getvalue(), "image/png")])
    started = time.monotonic()
    response = post(StylecloakWSGI(echo, client=fast_client), body, content_type)
    assert response.status_code == 413 and response.json["error"] == "image_too_large"
    assert "7990×7990" in response.json["message"]  # read from the header; the peak memory: bench_largest.py
    assert time.monotonic() - started < 10


@pytest.mark.timeout(300)
def test_one_upload_more_than_max_concurrent_gets_503_at_once(slow_client) -> None:  # type: ignore[no-untyped-def]
    policy = UploadPolicy(max_concurrent=1, cloak_options={"steps": 40, "target_style": "hatching"})
    app = StylecloakWSGI(echo, policy=policy, client=slow_client)
    slow, _ = multipart(files=[FilePart("art", "a.png", encoded(painting(seed=40)), "image/png")])
    quick, content_type = multipart(files=[FilePart("art", "b.png", encoded(painting(seed=41)), "image/png")])
    results: list[int] = []
    first = threading.Thread(target=lambda: results.append(post(app, slow, content_type).status_code))
    first.start()
    deadline = time.monotonic() + 120
    while app.protector._slots._value != 0:  # the first upload holds the only slot
        assert time.monotonic() < deadline and first.is_alive(), "the first upload never started"
        time.sleep(0.01)
    started = time.monotonic()
    refused = post(app, quick, content_type)
    assert refused.status_code == 503 and refused.json["error"] == "protection_unavailable"
    assert refused.headers["Retry-After"] == str(policy.retry_after_s) and time.monotonic() - started < 5
    first.join(240)
    assert results == [200]
    assert post(app, quick, content_type).status_code == 200  # the slot is free again


def test_fail_open_passes_the_extra_upload_flagged_for_later(fast_client) -> None:  # type: ignore[no-untyped-def]
    queued: list[Any] = []
    policy = UploadPolicy(max_concurrent=1, on_failure="fail_open", on_unprotected=queued.append)
    app = StylecloakWSGI(echo, policy=policy, client=fast_client)
    body, content_type = multipart(files=[FilePart("art", "b.png", encoded(painting(seed=42)), "image/png")])
    assert app.protector._slots.acquire(blocking=False)  # as if another upload were being protected
    try:
        response = post(app, body, content_type)
    finally:
        app.protector._slots.release()
    assert response.status_code == 200 and response.headers["X-Stylecloak"].startswith("unprotected")
    assert len(queued) == 1 and queued[0].upload.filename == "b.png"


def test_serve_workers_never_batch_large_images_together() -> None:
    from stylecloak.serve.worker import BATCH_MAX_PIXELS, WorkerCore, WorkItem, _Item
    from stylecloak.wire import CloakOptions

    options = CloakOptions()
    small = [_Item(i, WorkItem(options), size=size) for i, size in enumerate([(512, 512), (640, 480)])]
    large = [_Item(i + 2, WorkItem(options), size=(2500, 2500)) for i in range(2)]
    broken = _Item(4, WorkItem(options), size=None)  # undecodable: the engine reports it, alone or not
    assert BATCH_MAX_PIXELS < 2500 * 2500
    keys = [WorkerCore._group_key(item) for item in [*small, *large, broken]]
    assert keys[0] == keys[1] == keys[4] and len({keys[2], keys[3], keys[0]}) == 3
    other = _Item(5, WorkItem(CloakOptions(steps=3)), size=(512, 512))
    assert WorkerCore._group_key(other) != keys[0]
