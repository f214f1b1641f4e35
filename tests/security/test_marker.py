"""The "already cloaked" marker binds to the pixels under the platform's key (item 8).

Before: a PNG carrying only ``stylecloak:cloaked="true"`` passed the Flask middleware uncloaked
(``X-Stylecloak: already_cloaked``), and the S3 adapter skipped any object whose uploader set
``x-amz-meta-stylecloak: cloaked``. Now only a marker whose HMAC (keyed by ``STYLECLOAK_MARKER_KEY``)
matches the decoded pixels counts; anything else is ``unverified`` and treated as absent.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from PIL import Image
from stylecloak import marker, xmp
from stylecloak.errors import AlreadyCloakedError
from stylecloak.rights import containers

from tests.conftest import encoded, painting

FORMATS = ["PNG", "JPEG", "WEBP", "GIF", "TIFF"]
OPTIONS = {"steps": 2, "target_style": "hatching"}


def forged(data: bytes, fmt: str, **extra: str) -> bytes:
    """``data`` with marker properties anyone could write (no valid mac)."""
    props = {"cloaked": "true", "version": "0.1.0", "settings": "0" * 16, **extra}
    return containers.write_xmp(
        data, fmt, xmp.merge_properties(containers.read_xmp(data, fmt), marker.NAMESPACE, props)
    )


@pytest.fixture(scope="module")
def sealed(cloaker) -> dict[str, bytes]:  # type: ignore[no-untyped-def]
    return {fmt: cloaker.cloak(encoded(painting(seed=21), fmt), **OPTIONS).data for fmt in FORMATS}


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_cloak_made_here_verifies_and_is_not_cloaked_twice(cloaker, sealed: dict[str, bytes], fmt: str) -> None:  # type: ignore[no-untyped-def]
    assert marker.check(sealed[fmt], key=cloaker.settings).state == "verified"
    with pytest.raises(AlreadyCloakedError):
        cloaker.cloak(sealed[fmt], **OPTIONS)
    assert cloaker.cloak(sealed[fmt], force=True, **OPTIONS).report.input_marker == "verified"


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_forged_marker_is_unverified_and_the_image_is_cloaked(cloaker, fmt: str) -> None:  # type: ignore[no-untyped-def]
    data = encoded(painting(seed=22), fmt)
    for fake in (forged(data, fmt), forged(data, fmt, mac="ab" * 32, scheme=marker.SCHEME)):
        assert marker.check(fake, key=cloaker.settings).state == "unverified"
        report = cloaker.cloak(fake, **OPTIONS).report
        assert report.input_marker == "unverified"


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_marker_copied_onto_other_pixels_does_not_verify(cloaker, sealed: dict[str, bytes], fmt: str) -> None:  # type: ignore[no-untyped-def]
    other = encoded(painting(seed=23), fmt)
    stolen = containers.write_xmp(other, fmt, containers.read_xmp(sealed[fmt], fmt) or b"")
    assert marker.check(stolen, key=cloaker.settings).state == "unverified"


def test_one_changed_pixel_or_another_key_breaks_the_seal(cloaker, sealed: dict[str, bytes]) -> None:  # type: ignore[no-untyped-def]
    data = sealed["PNG"]
    with Image.open(io.BytesIO(data)) as image:
        pixels = np.array(image)
        packet = containers.read_xmp(data, "PNG")
    pixels[0, 0, 0] ^= 1
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    edited = containers.write_xmp(buffer.getvalue(), "PNG", packet or b"")
    assert marker.check(edited, key=cloaker.settings).state == "unverified"
    assert marker.check(data, key=b"another platform's key").state == "unverified"
    assert marker.check(encoded(painting(seed=24))).state == "absent"


def test_the_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, cloaker) -> None:  # type: ignore[no-untyped-def]
    from stylecloak.engine.cloaker import Cloaker

    monkeypatch.setenv("STYLECLOAK_MARKER_KEY", "platform-secret")
    keyed = Cloaker(cloaker.settings.replace(marker_key="platform-secret"))
    data = keyed.cloak(encoded(painting(seed=25)), **OPTIONS).data
    assert marker.is_cloaked(data)  # the environment's key: what every other process reads
    monkeypatch.setenv("STYLECLOAK_MARKER_KEY", "someone-else")
    assert not marker.is_cloaked(data)


# ---------------------------------------------------------------------------------------- the middleware


@pytest.fixture
def flask_client(fast_client) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    flask = pytest.importorskip("flask")
    from stylecloak.adapters.flask import Stylecloak
    from stylecloak.middleware import UploadPolicy

    app = flask.Flask("marker")

    @app.post("/upload")
    def upload() -> Any:
        data = flask.request.files["art"].read()
        return {
            "verified": marker.check(data).verified,
            "header": flask.request.files["art"].headers.get("X-Stylecloak"),
        }

    Stylecloak(app, policy=UploadPolicy(cloak_options=OPTIONS), client=fast_client)
    with app.test_client() as client:
        yield client


def test_the_middleware_cloaks_an_image_with_a_forged_marker(flask_client) -> None:  # type: ignore[no-untyped-def]
    fake = forged(encoded(painting(seed=26)), "PNG")
    response = flask_client.post("/upload", data={"art": (io.BytesIO(fake), "a.png")})
    assert response.status_code == 200 and response.json["verified"] is True
    assert response.headers["X-Stylecloak"].startswith("cloaked")
    assert "reason=unverified_marker" in response.json["header"]


def test_the_middleware_passes_a_cloak_it_made(flask_client, fast_client) -> None:  # type: ignore[no-untyped-def]
    data = fast_client.cloak(encoded(painting(seed=27)), **OPTIONS).data
    response = flask_client.post("/upload", data={"art": (io.BytesIO(data), "a.png")})
    assert response.status_code == 200 and response.headers["X-Stylecloak"].startswith("already_cloaked")


# ---------------------------------------------------------------------------------------- S3


@pytest.fixture(scope="module")
def stack() -> Iterator[Any]:
    pytest.importorskip("boto3")
    pytest.importorskip("moto.server")
    from tests.adapters.s3.harness import MotoServer, create_stack

    server = MotoServer().start()
    try:
        yield create_stack(server.url)
    finally:
        server.stop()


def test_s3_cloaks_uploads_whose_metadata_or_xmp_claims_a_cloak(stack: Any, fast_client) -> None:  # type: ignore[no-untyped-def]
    from stylecloak.adapters.s3.aws import client_errors  # noqa: F401  (boto3 present)
    from stylecloak.adapters.s3.events import ObjectEvent
    from stylecloak.adapters.s3.processor import Processor

    processor = Processor(stack.s3_config(routes=[stack.route(**OPTIONS)]), fast_client, stack.s3)
    claims = {
        "metadata.png": (encoded(painting(seed=28)), {"stylecloak": "cloaked"}),
        "xmp.png": (forged(encoded(painting(seed=29)), "PNG"), {}),
    }
    for name, (data, metadata) in claims.items():
        key = stack.upload(name, data, ContentType="image/png", Metadata=metadata)
        outcome = processor.process(ObjectEvent("ObjectCreated:Put", stack.bucket, key))
        assert (outcome.status, outcome.reason) == ("written", "cloaked"), (name, outcome)
        assert marker.check(stack.read(stack.output_key(name)) or b"").verified, name
    genuine = fast_client.cloak(encoded(painting(seed=30)), **OPTIONS).data
    key = stack.upload("genuine.png", genuine, ContentType="image/png")
    outcome = processor.process(ObjectEvent("ObjectCreated:Put", stack.bucket, key))
    assert (outcome.status, outcome.reason) == ("skipped", "already_cloaked")
