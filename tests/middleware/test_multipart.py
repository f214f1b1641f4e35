"""The streaming parser: verbatim bytes for what it passes, exact parts for what it captures, whatever the chunking."""

from __future__ import annotations

import pytest
from stylecloak.errors import ImageTooLargeError
from stylecloak.middleware.core import MalformedUploadError
from stylecloak.middleware.multipart import Captured, MultipartParser, Part, Raw, boundary_of, parse_headers
from stylecloak.middleware.sniff import sniff

from tests.middleware.forms import BOUNDARY, FilePart, multipart

CHUNK_SIZES = [1, 3, 17, 64, 1000, 1 << 20]


def images_only(part: Part, head: bytes) -> bool:
    return sniff(head) is not None


def run(body: bytes, chunk: int, admit=images_only, max_part_bytes: int = 1 << 24) -> tuple[bytes, list[Captured]]:  # type: ignore[no-untyped-def]
    parser = MultipartParser(BOUNDARY.encode(), admit=admit, max_part_bytes=max_part_bytes)
    raw, captured = bytearray(), []
    events = []
    for start in range(0, len(body), chunk):
        events.extend(parser.feed(body[start : start + chunk]))
    events.extend(parser.close())
    for event in events:
        if isinstance(event, Raw):
            raw += event.data
        else:
            captured.append(event)
    return bytes(raw), captured


@pytest.fixture
def body(png: bytes) -> bytes:
    data, _ = multipart(
        fields=[("title", "Starry night"), ("empty", "")],
        files=[
            FilePart("notes", "notes.txt", b"--not-the-boundary\r\n\r\nline two\r\n", "text/plain"),
            FilePart("artwork", "art.png", png, "image/png"),
            FilePart("nothing", "", b""),  # a file input left empty
        ],
        preamble=b"ignored preamble\r\n",
        epilogue=b"epilogue",
    )
    return data


@pytest.mark.parametrize("chunk", CHUNK_SIZES)
def test_everything_but_the_image_is_passed_verbatim(body: bytes, png: bytes, chunk: int) -> None:
    raw, captured = run(body, chunk)
    assert len(captured) == 1
    image = captured[0]
    assert image.data == png and image.part.name == "artwork" and image.part.filename == "art.png"
    assert image.part.content_type == "image/png"
    # Putting the captured part back where it was gives the original body, byte for byte.
    at = body.index(image.raw_headers)
    assert raw == body[:at] + body[at + len(image.raw_headers) + len(png) :]


@pytest.mark.parametrize("chunk", [1, 64, 1 << 20])
def test_with_nothing_admitted_the_output_is_the_input(body: bytes, chunk: int) -> None:
    raw, captured = run(body, chunk, admit=lambda part, head: False)
    assert raw == body and captured == []


def test_a_captured_part_over_the_limit_is_refused_while_streaming(body: bytes, png: bytes) -> None:
    with pytest.raises(ImageTooLargeError):
        run(body, 1000, max_part_bytes=len(png) - 1)


def test_a_large_non_image_part_is_not_held(png: bytes) -> None:
    big = b"x" * 300_000
    data, _ = multipart(files=[FilePart("log", "log.txt", big)])
    raw, captured = run(data, 4096, max_part_bytes=1000)  # far below the part's size: it is never captured
    assert raw == data and captured == []


@pytest.mark.parametrize(
    "broken",
    [
        b"--" + BOUNDARY.encode() + b"\r\nContent-Disposition: form-data; name=a\r\n\r\nno end",
        b"no boundary anywhere",
        b"--" + BOUNDARY.encode() + b"garbage\r\n",
        b"--" + BOUNDARY.encode() + b'\r\nContent-Disposition: form-data; name="f"; filename="x.png"\r\n'
        b"header line without colon\r\n\r\nx\r\n--" + BOUNDARY.encode() + b"--",
    ],
)
def test_malformed_bodies_are_refused(broken: bytes) -> None:
    with pytest.raises(MalformedUploadError) as refused:
        run(broken, 7)
    assert refused.value.status == 400


def test_encoded_file_parts_are_refused_so_no_image_slips_past_as_base64(png: bytes) -> None:
    import base64

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


def test_headers_with_quotes_and_rfc5987_filenames() -> None:
    part = parse_headers(
        b'Content-Disposition: form-data; name="a \\"b\\""; filename="x.png"; filename*=UTF-8\'\'na%C3%AFve.png\r\n'
        b"Content-Type: image/png\r\n\r\n"
    )
    assert part.name == 'a "b"' and part.filename == "naïve.png" and part.content_type == "image/png"
    assert parse_headers(b'Content-Disposition: form-data; name="f"\r\n\r\n').filename is None


def test_boundary_of() -> None:
    assert boundary_of('multipart/form-data; boundary="ab:c"') == b"ab:c"
    assert boundary_of("application/x-www-form-urlencoded") is None
    with pytest.raises(MalformedUploadError):
        boundary_of("multipart/form-data")
