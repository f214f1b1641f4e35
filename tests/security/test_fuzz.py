"""Bounded, seeded fuzzing (Hypothesis, derandomised) of the three doors attackers use.

- multipart bodies, built from the grammar's odd corners (line breaks, folding, repeated headers,
  stray boundaries, encodings, methods, media types), to Werkzeug alone and behind the middleware:
  every answer is a typed refusal or the view's, no original image reaches the view, every image it
  gets carries a marker that verifies, and no field the framework alone would deliver is lost;
- image headers (a valid file with bytes changed): a typed error or a decoded image, nothing else;
- API options as query strings: a 400 or options inside :mod:`stylecloak.bounds`, never a 5xx.
"""

from __future__ import annotations

import json
import math
import random
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from stylecloak import bounds, images
from stylecloak.engine import presets
from stylecloak.errors import ConfigurationError, ImageError
from stylecloak.wire import CloakOptions

from tests.conftest import encoded, painting
from tests.security.test_multipart_differential import PNG, describe_files, flask_app, summary

flask = pytest.importorskip("flask")

# The differential's image: its view helper flags these exact bytes as an original reaching the view.
IMAGE = PNG
FUZZ = settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# ---------------------------------------------------------------------------------------- multipart

# Weighted towards well-formed bodies, so that many get through and are cloaked; the odd ones stay common.
EOLS = [b"\r\n"] * 12 + [b"\n", b"\r"]
EXTRA_HEADERS = [
    b"Content-Type: image/png",
    b"Content-Transfer-Encoding: base64",
    b'Content-Disposition: form-data; name="x"',
    b" folded",
    b"X-Junk\x00: y",
]


@st.composite
def uploads(draw: st.DrawFn) -> tuple[str, str, bytes]:
    boundary = draw(st.sampled_from([b"----WebKitFormBoundary7MA4YWxkTrZu0gW"] * 4 + [b"XyZb0und", b"a", b'q"uote']))
    delim = b"--" + boundary
    out = [draw(st.sampled_from([b""] * 6 + [b"\r\n", b"preamble\r\n", delim + b"X\r\n"]))]
    for index in range(draw(st.integers(1, 4))):
        eol = draw(st.sampled_from(EOLS))
        name = draw(st.sampled_from([b"art", b"art", b"title", b'a\\"b', b""]))
        disposition = b"Content-Disposition: form-data"
        if name:
            disposition += b'; name="' + name + b'"'
        kind = draw(st.sampled_from(["image", "image", "text", "field"]))
        if kind != "field":
            disposition += draw(
                st.sampled_from(
                    [b'; filename="a.png"'] * 4
                    + [b"; filename*=UTF-8''a.png", b"; FILENAME=a.png", b';\r\n filename="a.png"']
                )
            )
        headers = [disposition]
        if draw(st.integers(0, 3)) == 0:
            headers.append(draw(st.sampled_from(EXTRA_HEADERS)))
        data = {"image": IMAGE, "text": b"notes %d" % index, "field": b"Irises"}[kind]
        if draw(st.integers(0, 9)) == 0:
            data += b"\n" + delim + b"\n"  # a delimiter only a lenient parser sees
        out.append(delim + eol + eol.join(headers) + eol + eol + data + b"\r\n")
    out.append(delim + b"--" + draw(st.sampled_from([b"\r\n"] * 4 + [b"", b"\r\nepilogue", b"\r\n" + delim + b"--"])))
    body = b"".join(out)
    if draw(st.integers(0, 9)) == 0:
        body = body[: draw(st.integers(0, len(body)))]
    media = draw(
        st.sampled_from(
            ["multipart/form-data"] * 4 + ["Multipart/Form-Data", " multipart/form-data", "multipart/mixed"]
        )
    )
    content_type = f"{media}; boundary={boundary.decode('latin-1')}"
    if draw(st.integers(0, 4)) == 0:
        content_type += draw(st.sampled_from(["; boundary=other", "; charset=utf-8", ", text/plain"]))
    method = draw(st.sampled_from(["POST", "PUT", "PATCH", "GET", "DELETE"]))
    return method, content_type, body


@pytest.fixture(scope="module")
def apps(fast_client) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {"guarded": flask_app(fast_client).test_client(), "bare": flask_app(None).test_client()}


@pytest.mark.filterwarnings(
    "ignore::pytest.PytestUnraisableExceptionWarning"
)  # Werkzeug's own leak, see test_multipart_differential
@pytest.mark.filterwarnings("ignore:Generating overly large repr")  # a failing body is printed whole anyway
@pytest.mark.timeout(1800)
@settings(FUZZ, max_examples=100)
@given(upload=uploads())
def test_multipart_bodies(apps: dict[str, Any], upload: tuple[str, str, bytes]) -> None:
    method, content_type, body = upload
    answers = {}
    for name, client in apps.items():
        response = client.open("/upload", method=method, data=body, content_type=content_type)
        answers[name] = (response.status_code, response.get_data())
        response.close()
    status, data = answers["guarded"]
    event(f"guarded {status}, bare {answers['bare'][0]}")
    assert status < 500, (upload, data[:300])
    if status != 200:
        assert status in (400, 413, 415, 422, 503) and b'"view"' not in data, (status, data[:300])
        return
    seen = json.loads(data)
    event(f"images cloaked: {sum(1 for f in seen['files'] if f['image'])}")
    for received in seen["files"]:
        assert not received["original"], ("an uncloaked image reached the view", upload)
        if received["image"] is not None:
            assert received["marker"] == "verified", (received, upload)
    bare_status, bare_data = answers["bare"]
    if bare_status == 200:
        assert summary(seen) == summary(json.loads(bare_data)), ("the view saw other parts", upload)


def test_the_view_helper_sees_originals() -> None:
    # The oracle itself: an untouched image is flagged as the original.
    assert describe_files(iter([("art", IMAGE, "a.png")]))[0]["original"] is True


# ---------------------------------------------------------------------------------------- images

SEEDS = {
    "PNG": encoded(painting(72, 64, seed=51)),
    "JPEG": encoded(painting(72, 64, seed=52), "JPEG", quality=90),
    "GIF": encoded(painting(72, 64, seed=53), "GIF"),
    "WEBP": encoded(painting(72, 64, seed=54), "WEBP"),
    "TIFF": encoded(painting(72, 64, seed=55), "TIFF"),
}


@pytest.mark.timeout(600)
@FUZZ
@given(
    fmt=st.sampled_from(sorted(SEEDS)),
    changes=st.lists(st.tuples(st.integers(0, 95), st.integers(0, 255)), min_size=1, max_size=6),
    cut=st.one_of(st.none(), st.integers(0, 4000)),
)
def test_image_headers(fmt: str, changes: list[tuple[int, int]], cut: int | None) -> None:
    data = bytearray(SEEDS[fmt])
    for offset, value in changes:
        data[offset % len(data)] = value
    if cut is not None:
        data = data[:cut]
    try:
        decoded = images.decode(bytes(data), max_pixels=4_000_000)
    except ImageError:
        return
    assert decoded.rgb.shape[2] == 3 and float(decoded.rgb.min()) >= 0.0 and float(decoded.rgb.max()) <= 1.0


# ---------------------------------------------------------------------------------------- options

VALUES = st.one_of(
    st.sampled_from(["inf", "-inf", "nan", "1e308", "-1", "0", "1", "2**64", "", "true", "0x10", "1_000"]),
    st.integers(-(2**70), 2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=12),
)


@pytest.mark.timeout(600)
@FUZZ
@given(query=st.dictionaries(st.sampled_from(sorted(CloakOptions.model_fields)), VALUES, max_size=4))
def test_cloak_options(query: dict[str, str]) -> None:
    try:
        options = CloakOptions.from_query(query)
    except ConfigurationError:
        return
    numbers = {key: value for key, value in options.overrides().items() if key != "force"}
    for value in numbers.values():
        assert isinstance(value, int) or math.isfinite(value)
    try:
        params = presets.resolve(
            intensity=options.intensity or "default",
            quality=options.quality or "default",
            budget_kind="ssim",
            working_resolution=512,
            seed=0,
            extractor="taef2",
            overrides=numbers,
        )
    except ConfigurationError:
        return
    bounds.check({key: getattr(params, key) for key in bounds.LIMITS})


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, cloaker) -> Any:  # type: ignore[no-untyped-def]
    from stylecloak.serve.config import cpu_config
    from stylecloak.serve.local import create_local_app

    config = cpu_config(tokens=["t"], store=str(tmp_path_factory.mktemp("jobs")))
    from starlette.testclient import TestClient

    with TestClient(create_local_app(config, cloaker=cloaker), headers={"Authorization": "Bearer t"}) as client:
        yield client


@pytest.mark.timeout(600)
def test_cloak_options_over_http_are_never_a_5xx(api: httpx.Client) -> None:
    rng = random.Random(17)
    names = sorted(CloakOptions.model_fields)
    not_an_image = b"GIF89a but not really"  # valid options then fail on the image: no cloak runs
    for _ in range(80):
        query = {
            rng.choice(names): rng.choice(["inf", "nan", "-1", "1e308", str(2**64), "x", "0", "2"]) for _ in range(2)
        }
        response = api.post("/v1/cloak", params=query, content=not_an_image)
        assert 400 <= response.status_code < 500, (query, response.text)
        assert response.json()["error"] in ("configuration_error", "invalid_image", "unsupported_image"), response.text
