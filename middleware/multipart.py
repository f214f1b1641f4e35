"""A streaming, sans-I/O ``multipart/form-data`` parser that hands back the body's own bytes.

Fed chunks as they arrive, it yields :class:`Raw` events carrying the original bytes of everything
that is not a captured part (preamble, delimiters, plain fields, non-image files, epilogue), so those
bytes can be re-emitted verbatim, and one :class:`Captured` event per file part that ``admit`` chose
from its first bytes (the image parts). Nothing is decoded except part headers; memory is bounded by
the largest captured part (``max_part_bytes``) plus one chunk.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import unquote

from stylecloak.errors import ImageTooLargeError
from stylecloak.middleware.core import MalformedUploadError
from stylecloak.middleware.sniff import SNIFF_BYTES

MAX_HEADER_BYTES = 16 * 1024
_PARAM = re.compile(r';\s*([^\s=;]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')
_IDENTITY_ENCODINGS = {"", "binary", "8bit", "7bit"}


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
    raw_headers: bytes  # the header block as received, ending with the blank line
    data: bytes


Event = Raw | Captured
Admit = Callable[[Part, bytes], bool]


def boundary_of(content_type: str) -> bytes | None:
    """The boundary of a ``multipart/form-data`` content type, or None for any other type."""
    kind, _, rest = content_type.partition(";")
    if kind.strip().lower() != "multipart/form-data":
        return None
    return multipart_boundary(rest)


def multipart_boundary(params: str) -> bytes:
    """The boundary from a multipart content type's parameters; refuses a missing or unusable one."""
    boundary = parameters(";" + params).get("boundary", "")
    if not boundary or len(boundary) > 200:
        raise MalformedUploadError("multipart/form-data without a valid boundary")
    return boundary.encode("latin-1")


def parameters(value: str) -> dict[str, str]:
    """``; a=1; b="x y"`` → {"a": "1", "b": "x y"} (names lower-cased, quotes and escapes removed)."""
    found: dict[str, str] = {}
    for name, raw in _PARAM.findall(value):
        raw = raw.strip()
        if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        found.setdefault(name.lower(), raw)
    return found


def parse_headers(block: bytes) -> Part:
    headers: dict[str, str] = {}
    # Browsers send non-ASCII filenames as raw UTF-8 inside the quotes.
    for line in block.decode("utf-8", errors="replace").split("\r\n"):
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise MalformedUploadError(f"a multipart part has a malformed header line: {line[:80]!r}")
        headers[name.strip().lower()] = value.strip()
    disposition = headers.get("content-disposition", "")
    params = parameters(";" + disposition.partition(";")[2])
    filename = params.get("filename")
    if "filename*" in params:
        _, _, encoded = params["filename*"].partition("''")
        filename = unquote(encoded or params["filename*"])
    return Part(
        name=params.get("name", ""),
        filename=filename,
        content_type=headers.get("content-type", ""),
        transfer_encoding=headers.get("content-transfer-encoding", "").lower(),
    )


class MultipartParser:
    """Feed it the body; iterate the events. ``close`` checks the body ended where it should."""

    def __init__(self, boundary: bytes, *, admit: Admit, max_part_bytes: int) -> None:
        self._dash = b"--" + boundary
        self._delimiter = b"\r\n--" + boundary
        self._admit = admit
        self._max_part_bytes = max_part_bytes
        self._buffer = bytearray()
        self._state = "preamble"
        self._part: Part | None = None
        self._raw_headers = b""
        self._mode = "pass"  # pass | sniff | capture
        self._held = bytearray()
        self.captured = 0

    def feed(self, chunk: bytes) -> Iterator[Event]:
        self._buffer += chunk
        raw = bytearray()  # consecutive raw bytes leave as one event
        while True:
            events, progressed = getattr(self, "_" + self._state)()
            for event in events:
                if isinstance(event, Raw):
                    raw += event.data
                    continue
                if raw:
                    yield Raw(bytes(raw))
                    raw.clear()
                yield event
            if not progressed:
                break
        if raw:
            yield Raw(bytes(raw))

    def close(self) -> Iterator[Event]:
        if self._state != "epilogue":
            raise MalformedUploadError("the multipart body ended before its closing boundary")
        if self._buffer:
            yield Raw(bytes(self._buffer))
            self._buffer.clear()

    # Each state returns (events, whether it consumed input and may run again).

    def _preamble(self) -> tuple[list[Event], bool]:
        buffer = self._buffer
        if buffer.startswith(self._dash):
            return self._after(len(self._dash), [])
        if len(buffer) < len(self._dash) and self._dash.startswith(bytes(buffer)):
            return [], False
        found = buffer.find(self._delimiter)
        if found >= 0:
            return self._after(found + len(self._delimiter), [])
        keep = len(self._delimiter) - 1
        if len(buffer) > keep:
            data = bytes(buffer[:-keep])
            del buffer[:-keep]
            return [Raw(data)], False
        return [], False

    def _after(self, end: int, events: list[Event]) -> tuple[list[Event], bool]:
        """Emit the delimiter itself as raw bytes and look at what follows it."""
        events.append(Raw(bytes(self._buffer[:end])))
        del self._buffer[:end]
        self._state = "boundary"
        return events, True

    def _boundary(self) -> tuple[list[Event], bool]:
        buffer = self._buffer
        if len(buffer) < 2:
            return [], False
        if buffer.startswith(b"--"):
            self._state = "epilogue"
            return [], True
        end = buffer.find(b"\r\n")
        if end < 0:
            if len(buffer) > 256:
                raise MalformedUploadError("a multipart boundary line does not end")
            return [], False
        if buffer[:end].strip(b" \t"):
            raise MalformedUploadError("unexpected bytes after a multipart boundary")
        data = bytes(buffer[: end + 2])
        del buffer[: end + 2]
        self._state = "headers"
        return [Raw(data)], True

    def _headers(self) -> tuple[list[Event], bool]:
        buffer = self._buffer
        if buffer.startswith(b"\r\n"):
            end = 2  # a part with no headers at all
        else:
            found = buffer.find(b"\r\n\r\n")
            if found < 0:
                if len(buffer) > MAX_HEADER_BYTES:
                    raise MalformedUploadError("a multipart part's headers are too long")
                return [], False
            end = found + 4
        block = bytes(buffer[:end])
        del buffer[:end]
        self._state = "body"
        self._held.clear()
        if b"filename" not in block.lower():  # a plain field: passed on without parsing its headers
            self._mode = "pass"
            return [Raw(block)], True
        part = parse_headers(block)
        if part.filename is not None and part.transfer_encoding not in _IDENTITY_ENCODINGS:
            # Frameworks decode such parts, so an image could slip past the sniffing as base64.
            raise MalformedUploadError(f"Content-Transfer-Encoding {part.transfer_encoding!r} is not accepted")
        if part.filename is None:
            self._mode = "pass"
            return [Raw(block)], True
        self._part, self._raw_headers, self._mode = part, block, "sniff"
        return [], True

    def _body(self) -> tuple[list[Event], bool]:
        buffer = self._buffer
        found = buffer.find(self._delimiter)
        if found >= 0:
            events = self._data(bytes(buffer[:found]), final=True)
            del buffer[:found]
            return self._after(len(self._delimiter), events)
        keep = len(self._delimiter) - 1
        if len(buffer) <= keep:
            return [], False
        data = bytes(buffer[:-keep])
        del buffer[:-keep]
        return self._data(data, final=False), False

    def _epilogue(self) -> tuple[list[Event], bool]:
        if not self._buffer:
            return [], False
        data = bytes(self._buffer)
        self._buffer.clear()
        return [Raw(data)], False

    def _data(self, data: bytes, *, final: bool) -> list[Event]:
        if self._mode == "pass":
            return [Raw(data)] if data else []
        self._held += data
        events: list[Event] = []
        part = self._part
        assert part is not None
        if self._mode == "sniff" and (len(self._held) >= SNIFF_BYTES or final):
            if self._admit(part, bytes(self._held[:SNIFF_BYTES])):
                self._mode = "capture"
            else:
                events.append(Raw(self._raw_headers + bytes(self._held)))
                self._held.clear()
                self._mode = "pass"
        if self._mode == "capture":
            if len(self._held) > self._max_part_bytes:
                raise ImageTooLargeError(f"{part.filename!r} is over the limit of {self._max_part_bytes} bytes")
            if final:
                events.append(Captured(part, self._raw_headers, bytes(self._held)))
                self.captured += 1
                self._held.clear()
        return events
