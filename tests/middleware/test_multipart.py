"""The parser: the same parts out as in (re-serialised unambiguously), exact captured images, any chunking."""

from __future__ import annotations

import base64

import pytest
from stylecloak.errors import ImageTooLargeError, MalformedUploadError, UploadTooLargeError
from stylecloak.middleware.multipart import (
    Captured,
    MultipartParser,
    Part,
    Raw,
    boundary_of,
    classify_content_type,
    multipart_boundary,
)
from stylecloak.middleware.sniff import sniff

from tests.middleware.forms import BOUNDARY, FilePart, multipart, split

CHUNK_SIZES = [1, 3, 17, 64, 1000, 1 << 20]


def images_only(part: Part, head: bytes) -> bool:
    return sniff(head) is not None


def run(  # type: ignore[no-untyped-def]
    body: bytes, chunk: int, admit=images_only, max_part_bytes: int = 1 << 24, max_parts: int = 1000
) -> tuple[bytes, list[Captured], MultipartParser]:
    """(the rewritten body with every captured part put back, the captured parts, the parser)."""
    parser = MultipartParser(BOUNDARY.encode(), admit=admit, max_part_bytes=max_part_bytes, max_parts=max_parts)
    events = []
    for start in range(0, len(body), chunk):
        events.extend(parser.feed(body[start : start + chunk]))
    events.extend(parser.close())
    out, captured = bytearray(), []
    for event in events:
        if isinstance(event, Raw):
            out += event.data
        else:
            captured.append(event)
            out += event.raw_headers + event.data
    return bytes(out), captured, parser


@pytest.fixture
def body(png: bytes) -> bytes:
    data, _ = multipart(
        fields=[("title", "Starry night"), ("empty", "")],
        files=[
            FilePart("notes", "notes.txt", b"--not-the-boundary\r\n\r\nline two\r\n", "text/plain"),
            FilePart("artwork", "art.png", png, "image/png"),
            FilePart("nothing", "", b""),  # a file input left empty
        ],
        preamble=b"\r\n",
        epilogue=b"epilogue",
    )
    return data


def _summary(parts):  # type: ignore[no-untyped-def]
    return [(p.name, p.filename, p.headers.get("content-type"), p.data) for p in parts]


@pytest.mark.parametrize("chunk", CHUNK_SIZES)
def test_the_rewritten_body_holds_the_same_parts_and_the_exact_image(body: bytes, png: bytes, chunk: int) -> None:
    out, captured, parser = run(body, chunk)
    assert len(captured) == 1
    image = captured[0]
    assert image.data == png and image.part.name == "artwork" and image.part.filename == "art.png"
    assert image.part.content_type == "image/png"
    # A fresh boundary, and every part (fields byte for byte) under it.
    assert parser.boundary.decode() != BOUNDARY and parser.content_type.endswith(parser.boundary.decode())
    assert _summary(split(out, parser.boundary.decode())) == _summary(split(body, BOUNDARY))


@pytest.mark.parametrize("chunk", [1, 64, 1 << 20])
def test_with_nothing_admitted_every_part_passes(body: bytes, chunk: int) -> None:
    out, captured, parser = run(body, chunk, admit=lambda part, head: False)
    assert captured == []
    assert _summary(split(out, parser.boundary.decode())) == _summary(split(body, BOUNDARY))


def test_a_captured_part_over_the_limit_is_refused_while_streaming(body: bytes, png: bytes) -> None:
    with pytest.raises(ImageTooLargeError):
        run(body, 1000, max_part_bytes=len(png) - 1)


def test_a_large_non_image_part_is_not_held(png: bytes) -> None:
    big = b"x" * 300_000
    data, _ = multipart(files=[FilePart("log", "log.txt", big)])
    out, captured, parser = run(data, 4096, max_part_bytes=1000)  # far below the part's size: never captured
    assert captured == [] and split(out, parser.boundary.decode())[0].data == big


def test_parts_beyond_the_limit_are_refused_with_413() -> None:
    data, _ = multipart(fields=[(f"f{i}", "x") for i in range(11)])
    run(data, 4096, max_parts=11)
    with pytest.raises(UploadTooLargeError) as refused:
        run(data, 4096, max_parts=10)
    assert refused.value.status == 413


B = BOUNDARY.encode()
CD = b'Content-Disposition: form-data; name="f"; filename="x.png"'


@pytest.mark.parametrize(
    "broken",
    [
        pytest.param(b"--" + B + b"\r\nContent-Disposition: form-data; name=a\r\n\r\nno end", id="no-closing"),
        pytest.param(b"no boundary anywhere", id="no-boundary"),
        pytest.param(b"--" + B + b"garbage\r\n", id="garbage-after-boundary"),
        pytest.param(
            b"--" + B + b"\r\n" + CD + b"\r\nheader line without colon\r\n\r\nx\r\n--" + B + b"--", id="no-colon"
        ),
        pytest.param(
            b"--" + B + b"\r\n" + CD + b"\r\n\r\nx\n--" + B + b"\n" + CD + b"\n\nx\r\n--" + B + b"--\r\n", id="lf-delim"
        ),
        pytest.param(b"--" + B + b"\r\n" + CD + b"\r\n\r\nx\r--" + B + b"\r\r\nx\r\n--" + B + b"--\r\n", id="cr-delim"),
        pytest.param(
            b"--"
            + B
            + b'\r\nContent-Disposition: form-data; name="f";\r\n filename="x.png"\r\n\r\nx\r\n--'
            + B
            + b"--\r\n",
            id="folded",
        ),
        pytest.param(
            b"--"
            + B
            + b'\r\nContent-Disposition: form-data; name="f"\nContent-Type: image/png\r\n\r\nx\r\n--'
            + B
            + b"--\r\n",
            id="bare-lf",
        ),
        pytest.param(
            b"--" + B + b'\r\nContent-Disposition: form-data; name="f"\r\n' + CD + b"\r\n\r\nx\r\n--" + B + b"--\r\n",
            id="two-dispositions",
        ),
        pytest.param(
            b"--" + B + b'\r\nContent-Disposition: form-data; name="a"; name="b"\r\n\r\nx\r\n--' + B + b"--\r\n",
            id="two-names",
        ),
        pytest.param(b"--" + B + b"\r\nContent-Disposition: form-data\r\n\r\nx\r\n--" + B + b"--\r\n", id="no-name"),
        pytest.param(b"--" + B + b"\r\nContent-Type: text/plain\r\n\r\nx\r\n--" + B + b"--\r\n", id="no-disposition"),
        pytest.param(
            b"--" + B + b'\r\nContent-Disposition: form-data; name="f"\r\n\r\nx--' + B + b"y\r\n--" + B + b"--\r\n",
            id="boundary-in-data",
        ),
        pytest.param(
            b"--" + B + b'\r\nContent-Disposition: form-data; name="f"\r\n\r\nx\r\n--' + B + b"--\r\n--" + B + b"\r\n",
            id="boundary-in-epilogue",
        ),
    ],
)
def test_ambiguous_or_malformed_bodies_are_refused(broken: bytes) -> None:
    with pytest.raises(MalformedUploadError) as refused:
        run(broken, 7)
    assert refused.value.status == 400


def test_encoded_file_parts_are_refused_so_no_image_slips_past_as_base64(png: bytes) -> None:
    data = (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="a"; filename="a.png"\r\n'
            "Content-Transfer-Encoding: base64\r\n\r\n"
        ).encode()
        + base64.b64encode(png)
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )
    with pytest.raises(MalformedUploadError):
        run(data, 1000)


def test_any_mention_of_filename_makes_a_file_part(png: bytes) -> None:
    for disposition in (
        "form-data; name=\"a\"; filename*=UTF-8''na%C3%AFve.png",
        'form-data; name="a"; FILENAME="x.png"',
    ):
        data = (
            f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
            + png
            + f"\r\n--{BOUNDARY}--\r\n".encode()
        )
        _, captured, _ = run(data, 100)
        assert len(captured) == 1 and captured[0].data == png
    assert captured[0].part.filename == "x.png"


def test_content_types() -> None:
    assert boundary_of('multipart/form-data; boundary="ab:c"') == b"ab:c"
    assert boundary_of("application/x-www-form-urlencoded") is None
    assert classify_content_type(" Multipart/Form-Data ;boundary=x") == "form"
    assert classify_content_type("multipart/form-data, text/plain; boundary=x") == "ambiguous"
    assert classify_content_type("text/plain; x=form-data") == "ambiguous"
    assert classify_content_type("multipart/mixed; boundary=x") == "other"
    for params in ("", "boundary=a; boundary=b", "boundary=a\r\n b", "boundary=" + "x" * 300):
        with pytest.raises(MalformedUploadError):
            multipart_boundary(params)
