"""Reading a ``multipart/form-data`` body with a maintained parser, and writing it back unambiguously.

The middleware must never disagree with the framework behind it about which parts a body holds:
an image the framework would deliver as a file but the middleware did not see is an image stored
uncloaked. So the body is parsed with python-multipart (the parser Starlette uses), held to the
strict grammar every framework agrees on, and handed to the application **re-serialised** with a
fresh random boundary and plain ``CRLF`` framing. Whatever the application's parser does with that
body, it finds exactly the parts the middleware found, because nothing in it is ambiguous.

Refused (:class:`~stylecloak.middleware.core.MalformedUploadError`, 400), because a lenient parser
(Werkzeug accepts ``LF`` and ``CR`` line breaks and folded headers; Django splits on the boundary
wherever it occurs) could read them differently:

- the boundary string anywhere but at a delimiter (inside a part's data, the preamble or the epilogue);
- part headers with a control character (a bare ``CR`` or ``LF``), a folded line, a repeated header,
  a repeated or RFC 2231 (``name*``) disposition parameter, or no ``name``;
- a ``Content-Transfer-Encoding`` other than identity (frameworks that decode it would see an image
  the sniffing never saw).

A part whose ``Content-Disposition`` mentions ``filename`` at all is treated as a file, whatever a
parser makes of the parameter. Fed chunks as they arrive, :class:`MultipartParser` yields
:class:`Raw` events (the re-serialised bytes of everything that is not a captured image) and one
:class:`Captured` event per file part that ``admit`` chose from its first bytes. Memory is bounded
by the largest captured part (``max_part_bytes``) plus one chunk.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser as _Parser
from python_multipart.multipart import parse_options_header
from stylecloak.bounds import DEFAULT_MAX_PARTS
from stylecloak.errors import ImageTooLargeError, MalformedUploadError, UploadTooLargeError
from stylecloak.middleware.sniff import SNIFF_BYTES

#: Longest boundary accepted (RFC 2046 allows 70 characters; python-multipart 256).
MAX_BOUNDARY = 200
#: Most parts in one body, as Werkzeug's ``max_form_parts`` (Flask's default); beyond → 413.
_IDENTITY_ENCODINGS = {"", "binary", "8bit", "7bit"}
# Bytes a header value may not contain: every control character but the tab.
_CONTROL = bytes(range(0x20)).replace(b"\t", b"") + b"\x7f"

FormKind = Literal["form", "other", "ambiguous"]


def classify_content_type(content_type: str) -> FormKind:
    """Whether a request's ``Content-Type`` is ``multipart/form-data`` as any framework would read it.

    ``ambiguous``: not exactly that media type, yet it mentions form-data (a folded or listed value,
    stray characters); such a request is refused rather than passed on for a framework to interpret.
    """
    kind = content_type.split(";", 1)[0].strip(" \t\r\n").lower()
    if kind == "multipart/form-data":
        return "form"
    return "ambiguous" if "form-data" in content_type.lower() else "other"


def boundary_of(content_type: str) -> bytes | None:
    """The boundary of a ``multipart/form-data`` content type, or None for any other type."""
    if classify_content_type(content_type) == "other":
        return None
    if classify_content_type(content_type) == "ambiguous":
        raise MalformedUploadError(f"unclear multipart Content-Type {content_type[:100]!r}")
    return multipart_boundary(content_type.partition(";")[2])


def multipart_boundary(params: str) -> bytes:
    """The boundary from a multipart content type's parameters; refuses a missing, repeated or odd one."""
    if any(char in params for char in "\r\n\x00"):
        raise MalformedUploadError("the multipart Content-Type spans several lines")
    _, options = parse_options_header("multipart/form-data;" + params)
    names = [segment.split("=", 1)[0].strip().lower() for segment in params.split(";") if "=" in segment]
    if names.count("boundary") != 1:
        raise MalformedUploadError("multipart/form-data needs exactly one boundary parameter")
    boundary = options.get(b"boundary", b"")
    if not boundary or len(boundary) > MAX_BOUNDARY or any(byte < 0x20 or byte > 0x7E for byte in boundary):
        raise MalformedUploadError("multipart/form-data without a valid boundary")
    return boundary


@dataclass(frozen=True, slots=True)
class Part:
    """A part's headers, as far as the middleware needs them."""

    name: str
    filename: str | None
    content_type: str
    transfer_encoding: str = ""


@dataclass(frozen=True, slots=True)
class Raw:
    data: bytes


@dataclass(frozen=True, slots=True)
class Captured:
    part: Part
    raw_headers: bytes  # the re-serialised header block, ending with the blank line
    data: bytes


Event = Raw | Captured
Admit = Callable[[Part, bytes], bool]


def _header_part(headers: list[tuple[bytes, bytes]]) -> Part:
    """Check a part's headers against the strict grammar and read what the middleware needs."""
    seen: set[bytes] = set()
    for name, value in headers:
        key = name.lower()
        if key in seen:
            raise MalformedUploadError(f"a multipart part repeats its {name.decode('latin-1')} header")
        seen.add(key)
        if value.translate(None, _CONTROL) != value:
            raise MalformedUploadError("a multipart part header holds a line break or control character")
    found = {name.lower(): value.decode("utf-8", errors="replace") for name, value in headers}
    disposition = found.get(b"content-disposition")
    if disposition is None:
        raise MalformedUploadError("a multipart part has no Content-Disposition")
    _, params = parse_options_header(disposition)
    keys = [segment.split("=", 1)[0].strip().lower() for segment in _segments(disposition) if "=" in segment]
    if len(keys) != len(set(keys)) or any("*" in key and key != "filename*" for key in keys):
        raise MalformedUploadError("a multipart part's Content-Disposition repeats or encodes a parameter")
    if b"name" not in params:
        raise MalformedUploadError("a multipart part has no name")
    filename: str | None = None
    if "filename" in disposition.lower():  # any mention: a file to some parser, so a file here
        raw = params.get(b"filename")
        filename = raw.decode("utf-8", errors="replace") if raw is not None else ""
        if "filename*" in keys:
            starred = next(s for s in _segments(disposition) if s.strip().lower().startswith("filename*"))
            given = starred.split("=", 1)[1].strip().strip('"')
            filename = unquote(given.partition("''")[2] or given)
    return Part(
        name=params[b"name"].decode("utf-8", errors="replace"),
        filename=filename,
        content_type=found.get(b"content-type", "").strip(),
        transfer_encoding=found.get(b"content-transfer-encoding", "").strip().lower(),
    )


def _segments(value: str) -> list[str]:
    """``;``-separated segments of a header value, quotes respected."""
    segments: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in value:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == ";" and not quoted:
            segments.append("".join(current))
            current = []
            continue
        current.append(char)
    segments.append("".join(current))
    return segments[1:]


class _BoundaryCounter:
    """Counts every occurrence of ``--boundary`` in the raw body, across chunk edges."""

    def __init__(self, boundary: bytes) -> None:
        self.marker = b"--" + boundary
        self.count = 0
        self._tail = b""

    def feed(self, chunk: bytes) -> None:
        window = self._tail + chunk
        start = 0
        while (found := window.find(self.marker, start)) >= 0:
            self.count += 1
            start = found + 1
        self._tail = window[-(len(self.marker) - 1) :] if len(self.marker) > 1 else b""


class MultipartParser:
    """Feed it the body; iterate the events. ``close`` checks the body ended where it should.

    :attr:`boundary` is the fresh boundary of the re-serialised body (the application's
    ``Content-Type`` must name it: :attr:`content_type`).
    """

    def __init__(
        self, boundary: bytes, *, admit: Admit, max_part_bytes: int, max_parts: int = DEFAULT_MAX_PARTS
    ) -> None:
        self._admit = admit
        self._max_part_bytes = max_part_bytes
        self._max_parts = max_parts
        self.boundary = b"stylecloak-" + secrets.token_hex(16).encode()
        self._delimiter = b"--" + self.boundary
        self._counter = _BoundaryCounter(boundary)
        self._parser = _Parser(
            boundary,
            {
                "on_part_begin": self._on_part_begin,
                "on_part_data": self._on_part_data,
                "on_part_end": self._on_part_end,
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
                "on_end": self._on_end,
            },
        )
        self._events: list[Event] = []
        self._headers: list[tuple[bytes, bytes]] = []
        self._field = bytearray()
        self._value = bytearray()
        self._part: Part | None = None
        self._block = b""
        self._mode = "pass"  # pass | sniff | capture
        self._held = bytearray()
        self._ended = False
        self.parts = 0
        self.captured = 0

    @property
    def content_type(self) -> str:
        """The ``Content-Type`` of the re-serialised body."""
        return "multipart/form-data; boundary=" + self.boundary.decode("ascii")

    def feed(self, chunk: bytes) -> Iterator[Event]:
        self._counter.feed(chunk)
        if not self._ended:
            try:
                self._parser.write(chunk)
            except MultipartParseError as exc:
                raise MalformedUploadError(f"the multipart body cannot be read: {exc}") from exc
        yield from self._drain()

    def close(self) -> Iterator[Event]:
        if not self._ended:
            raise MalformedUploadError("the multipart body ended before its closing boundary")
        # Each part is opened by one delimiter and the body closed by one more; any other
        # "--boundary" is data that a lenient parser (Werkzeug, Django) would take for a delimiter.
        if self._counter.count != self.parts + 1:
            raise MalformedUploadError("the multipart boundary also occurs inside the body")
        yield from self._drain()

    def _drain(self) -> Iterator[Event]:
        events, self._events = self._events, []
        raw = bytearray()
        for event in events:
            if isinstance(event, Raw):
                raw += event.data
                continue
            if raw:
                yield Raw(bytes(raw))
                raw.clear()
            yield event
        if raw:
            yield Raw(bytes(raw))

    # ------------------------------------------------------------------ python-multipart callbacks

    def _on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > self._max_parts:
            raise UploadTooLargeError(f"more than {self._max_parts} parts in one multipart body")
        self._headers = []

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _on_header_end(self) -> None:
        self._headers.append((bytes(self._field), bytes(self._value).rstrip(b" \t")))
        self._field.clear()
        self._value.clear()

    def _on_headers_finished(self) -> None:
        part = _header_part(self._headers)
        if part.transfer_encoding not in _IDENTITY_ENCODINGS:
            # Frameworks that decode such parts (Django, python-multipart) would see an image the
            # sniffing never saw; browsers never send one.
            raise MalformedUploadError(f"Content-Transfer-Encoding {part.transfer_encoding!r} is not accepted")
        lines = [b"%s: %s\r\n" % (name, value) for name, value in self._headers]
        self._block = b"".join(lines) + b"\r\n"
        self._part = part
        self._held.clear()
        self._events.append(Raw(self._delimiter + b"\r\n"))
        self._mode = "sniff"  # fields too: ``admit`` decides from the first bytes

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        self._data(bytes(data[start:end]), final=False)

    def _on_part_end(self) -> None:
        self._data(b"", final=True)
        self._events.append(Raw(b"\r\n"))

    def _on_end(self) -> None:
        self._ended = True
        self._events.append(Raw(self._delimiter + b"--\r\n"))

    def _data(self, data: bytes, *, final: bool) -> None:
        if self._delimiter in data:  # the fresh boundary is random; finding it means a forged body
            raise MalformedUploadError("a multipart part holds the rewritten body's boundary")
        if self._mode == "pass":
            if data:
                self._events.append(Raw(data))
            return
        part = self._part
        assert part is not None
        self._held += data
        if self._mode == "sniff" and (len(self._held) >= SNIFF_BYTES or final):
            if self._admit(part, bytes(self._held[:SNIFF_BYTES])):
                self._mode = "capture"
            else:
                self._events.append(Raw(self._block + bytes(self._held)))
                self._held.clear()
                self._mode = "pass"
        if self._mode == "capture":
            if len(self._held) > self._max_part_bytes:
                raise ImageTooLargeError(f"{part.filename!r} is over the limit of {self._max_part_bytes} bytes")
            if final:
                self._events.append(Captured(part, self._block, bytes(self._held)))
                self.captured += 1
                self._held.clear()
