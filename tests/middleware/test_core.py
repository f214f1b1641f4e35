"""The neutral core: one upload in, the upload the application sees out, or a typed refusal."""

from __future__ import annotations

import io
import json
import threading

import numpy as np
import pytest
from PIL import Image
from stylecloak import is_cloaked
from stylecloak.errors import ImageTooLargeError, UnsupportedImageError
from stylecloak.middleware import (
    BackgroundCloaker,
    DeferredUpload,
    ProtectionUnavailableError,
    Upload,
    UploadPolicy,
    UploadProtector,
)
from stylecloak.middleware.core import summary_header
from stylecloak.middleware.responses import error_response

from tests.conftest import encoded, painting
from tests.middleware.fixtures import FAST


def protector(client, **policy) -> UploadProtector:  # type: ignore[no-untyped-def]
    return UploadProtector(UploadPolicy(cloak_options=FAST, **policy), client=client)


def upload(data: bytes, filename: str = "art.jpg", field: str = "artwork") -> Upload:
    return Upload(data, filename, "image/jpeg", field)


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.int16)


def test_an_image_is_cloaked_in_its_own_format_and_size(fast_client, jpeg: bytes) -> None:
    outcome = protector(fast_client).protect(upload(jpeg), artist_id="ada")
    assert outcome.status == "cloaked" and outcome.protected
    assert outcome.upload.filename == "art.jpg" and outcome.upload.field_name == "artwork"
    assert outcome.original.data == jpeg
    assert is_cloaked(outcome.upload.data) and not is_cloaked(jpeg)
    assert Image.open(io.BytesIO(outcome.upload.data)).format == "JPEG"
    assert pixels(outcome.upload.data).shape == pixels(jpeg).shape
    assert outcome.report.steps == 2 and outcome.report.rights is not None  # rights signals on by default
    value = outcome.header_value()
    assert value.startswith("cloaked; v=") and f"style={outcome.report.target_style}" in value


def test_pixels_change_within_the_budget(fast_client, png: bytes) -> None:
    outcome = protector(fast_client).protect(upload(png, "art.png"))
    change = np.abs(pixels(outcome.upload.data) - pixels(png))
    assert 0 < change.max() <= np.ceil(outcome.report.linf * 255)  # PNG is lossless: the L∞ rail holds exactly


def test_an_already_cloaked_image_is_not_cloaked_again(fast_client, cloaked_jpeg: bytes) -> None:
    outcome = protector(fast_client).protect(upload(cloaked_jpeg))
    assert outcome.status == "already_cloaked" and outcome.protected
    assert outcome.upload.data == cloaked_jpeg and outcome.report is None


def test_the_upload_is_opened_once_before_the_cloak_and_decoded_only_to_verify_a_marker(
    fast_client, jpeg: bytes, cloaked_jpeg: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    opened: list[str] = []
    loaded: list[str] = []
    real_open, real_load = Image.open, Image.Image.load

    def counting_open(*args, **kwargs):  # type: ignore[no-untyped-def]
        opened.append("open")
        return real_open(*args, **kwargs)

    def counting_load(self):  # type: ignore[no-untyped-def]
        loaded.append("load")
        return real_load(self)

    at_cloak: list[tuple[int, int]] = []
    real_cloak = fast_client.cloak

    def cloak(*args, **kwargs):  # type: ignore[no-untyped-def]
        at_cloak.append((len(opened), len(loaded)))
        return real_cloak(*args, **kwargs)

    monkeypatch.setattr(Image, "open", counting_open)
    monkeypatch.setattr(Image.Image, "load", counting_load)
    monkeypatch.setattr(fast_client, "cloak", cloak)
    assert protector(fast_client).protect(upload(jpeg)).status == "cloaked"
    assert at_cloak == [(1, 0)]  # headers and marker from one open, no pixels decoded before the engine
    opened.clear()
    loaded.clear()
    assert protector(fast_client).protect(upload(cloaked_jpeg)).status == "already_cloaked"
    assert len(opened) == 1 and loaded and at_cloak == [(1, 0)]  # one open; pixels decoded to verify the MAC


def test_a_non_image_is_ignored_unless_the_field_is_named_as_an_image_field(fast_client) -> None:
    text = Upload(b"just some notes\n" * 10, "notes.txt", "text/plain", "attachment")
    assert protector(fast_client).protect(text).status == "ignored"
    with pytest.raises(UnsupportedImageError) as refused:
        protector(fast_client, fields=("attachment",)).protect(text)
    assert refused.value.status == 415 and "notes.txt" in refused.value.message


def test_formats_are_sniffed_never_taken_from_the_name(fast_client, png: bytes) -> None:
    disguised = Upload(png, "innocent.txt", "text/plain", "file")
    outcome = protector(fast_client).protect(disguised)
    assert outcome.status == "cloaked" and outcome.format == "PNG"
    assert Image.open(io.BytesIO(outcome.upload.data)).format == "PNG"


def test_an_image_in_another_format_is_refused_or_skipped(fast_client) -> None:
    bmp = encoded(painting(96, 96), "BMP")
    with pytest.raises(UnsupportedImageError) as refused:
        protector(fast_client).protect(upload(bmp, "a.bmp"))
    assert refused.value.status == 415 and "BMP" in refused.value.message
    outcome = protector(fast_client, reject_other_images=False).protect(upload(bmp, "a.bmp"))
    assert outcome.status == "skipped" and outcome.reason == "format" and outcome.upload.data == bmp


def test_limits_give_413(fast_client, jpeg: bytes) -> None:
    with pytest.raises(ImageTooLargeError) as by_bytes:
        protector(fast_client, max_bytes=len(jpeg) - 1).protect(upload(jpeg))
    assert by_bytes.value.status == 413
    with pytest.raises(ImageTooLargeError) as by_pixels:
        protector(fast_client, max_pixels=160 * 128 - 1).protect(upload(jpeg))
    assert by_pixels.value.status == 413 and "160×128" in by_pixels.value.message


def test_a_tiny_image_passes_flagged_as_skipped(fast_client) -> None:
    icon = encoded(painting(32, 32), "PNG")
    outcome = protector(fast_client).protect(upload(icon, "icon.png"))
    assert outcome.status == "skipped" and outcome.reason == "too_small" and outcome.upload.data == icon


def test_a_broken_image_is_refused_with_its_own_status(fast_client, jpeg: bytes) -> None:
    from stylecloak.errors import ImageError

    with pytest.raises(ImageError) as refused:
        protector(fast_client).protect(upload(jpeg[: len(jpeg) // 2]))
    assert refused.value.status == 400


def test_opt_out_only_where_the_site_allows_it(fast_client, jpeg: bytes) -> None:
    assert protector(fast_client).protect(upload(jpeg), opted_out=True).status == "cloaked"
    outcome = protector(fast_client, allow_opt_out=True).protect(upload(jpeg), opted_out=True)
    assert outcome.status == "opted_out" and outcome.upload.data == jpeg


def test_fail_closed_refuses_with_503_and_calls_no_hook(broken_client, jpeg: bytes) -> None:
    hooked: list[DeferredUpload] = []
    guard = protector(broken_client, on_unprotected=hooked.append)
    with pytest.raises(ProtectionUnavailableError) as refused:
        guard.protect(upload(jpeg))
    assert refused.value.status == 503 and refused.value.detail == "model_not_found"
    assert hooked == []


def test_fail_open_passes_the_original_flagged_and_hands_it_to_the_hook(broken_client, jpeg: bytes) -> None:
    hooked: list[DeferredUpload] = []
    guard = protector(broken_client, on_failure="fail_open", on_unprotected=hooked.append)
    outcome = guard.protect(upload(jpeg), artist_id="ada")
    assert outcome.status == "unprotected" and not outcome.protected
    assert outcome.upload.data == jpeg and outcome.reason == "model_not_found"
    assert [job.upload.data for job in hooked] == [jpeg]
    assert hooked[0].artist_id == "ada" and hooked[0].ticket == outcome.ticket
    assert hooked[0].options.steps == 2


def test_deferred_mode_hands_the_original_to_the_queue_and_cloaks_it_later(fast_client, jpeg: bytes) -> None:
    done: list[tuple[DeferredUpload, bytes]] = []
    finished = threading.Event()

    def publish(job, result, error):  # type: ignore[no-untyped-def]
        assert error is None
        done.append((job, result.data))
        finished.set()

    queue = BackgroundCloaker(on_done=publish, client=fast_client)
    try:
        outcome = protector(fast_client, mode="deferred", defer=queue).protect(upload(jpeg), artist_id="ada")
        assert outcome.status == "pending" and outcome.upload.data == jpeg and outcome.ticket
        assert finished.wait(60)
    finally:
        queue.close()
    job, data = done[0]
    assert job.ticket == outcome.ticket and job.upload.data == jpeg
    assert is_cloaked(data)


def test_deferred_mode_without_a_queue_refuses(fast_client, jpeg: bytes) -> None:
    with pytest.raises(ProtectionUnavailableError):
        protector(fast_client, mode="deferred").protect(upload(jpeg))


def test_summary_header_names_the_least_protected_outcome(fast_client, jpeg, cloaked_jpeg, broken_client) -> None:  # type: ignore[no-untyped-def]
    good = protector(fast_client).protect(upload(cloaked_jpeg))
    bad = protector(broken_client, on_failure="fail_open").protect(upload(jpeg))
    header = summary_header([good, bad])
    assert header is not None and header.startswith("unprotected; v=")
    assert "already_cloaked=1" in header and "unprotected=1" in header
    assert summary_header([]) is None


def test_refusals_are_json_for_apis_and_html_for_browsers() -> None:
    exc = ProtectionUnavailableError("could not protect <it>", detail="overloaded")
    api = error_response(exc, "application/json", retry_after_s=30)
    assert api.status == 503 and api.status_line == "503 Service Unavailable"
    assert json.loads(api.body) == {"error": "protection_unavailable", "message": exc.message, "status": 503,
                                    "detail": "overloaded"}  # fmt: skip
    assert ("Retry-After", "30") in api.headers
    page = error_response(exc, "text/html,application/xhtml+xml,*/*;q=0.8")
    assert ("Content-Type", "text/html; charset=utf-8") in page.headers
    assert b"could not protect &lt;it&gt;" in page.body and b"<it>" not in page.body


def test_a_style_named_in_any_script_stays_a_latin1_header() -> None:
    from urllib.parse import unquote

    from stylecloak.middleware.core import Outcome
    from stylecloak.result import CloakReport

    original = upload(b"x")
    report = CloakReport.model_construct(target_style="ref:水墨 ink\r\nX-Injected: 1")
    value = Outcome("cloaked", original, original, "JPEG", report=report).header_value()
    value.encode("latin-1")  # a response or part header must be latin-1
    assert "\r" not in value and "\n" not in value
    style = value.split("style=")[1]
    assert unquote(style) == "ref:水墨 ink\r\nX-Injected: 1"
