"""Rewriting one multipart body: shared, I/O-free logic behind the WSGI and ASGI middleware.

The body is read through :class:`~stylecloak.middleware.multipart.MultipartParser` (python-multipart,
held to a strict grammar) as it arrives. Everything that is not an image part is re-serialised into a
spooled file (in memory up to ``SPOOL_MEMORY`` bytes, then on disk) with a fresh boundary; image parts
are held until the whole body has arrived. Only then is anything cloaked, so a fail-closed refusal
happens before the application has seen a byte. The replayed body has the same parts, fields byte for
byte, each image part's data replaced (and an ``X-Stylecloak`` part header added); the application
gets its new ``Content-Type`` (:attr:`BodyRewrite.content_type`) and exact ``Content-Length``.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

from stylecloak.errors import InvalidImageError, UploadTooLargeError
from stylecloak.middleware.core import HEADER, Outcome, Upload, UploadProtector
from stylecloak.middleware.multipart import Captured, Event, MultipartParser, Part

SPOOL_MEMORY = 1024 * 1024
CHUNK = 64 * 1024


@dataclass(slots=True)
class ImageSlot:
    """One image part, waiting for its outcome."""

    part: Part
    raw_headers: bytes
    upload: Upload
    outcome: Outcome | None = None

    def headers(self) -> bytes:
        if self.outcome is None or self.outcome.status == "ignored":
            return self.raw_headers
        # The header block ends with an empty line; the new header goes just before it.
        return self.raw_headers[:-2] + f"{HEADER}: {self.outcome.header_value()}\r\n\r\n".encode("latin-1")

    def data(self) -> bytes:
        return self.upload.data if self.outcome is None else self.outcome.upload.data

    def size(self) -> int:
        return len(self.headers()) + len(self.data())


class BodyRewrite:
    """Feed it the original body, protect its :attr:`images`, then replay the rewritten body."""

    def __init__(self, boundary: bytes, protector: UploadProtector) -> None:
        self.protector = protector
        policy = protector.policy
        self.parser = MultipartParser(
            boundary, admit=self._admit, max_part_bytes=policy.max_bytes, max_parts=policy.max_parts
        )
        # Closed by close(), which every shell calls once the application is done with the body.
        self.spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY)  # noqa: SIM115
        self.segments: list[tuple[int, int] | ImageSlot] = []
        self.images: list[ImageSlot] = []
        self.received = 0
        self._spooled = 0

    @property
    def content_type(self) -> str:
        """The rewritten body's ``Content-Type`` (it names the fresh boundary)."""
        return self.parser.content_type

    def _admit(self, part: Part, head: bytes) -> bool:
        return self.protector.admit(part.name, part.filename, head)

    def feed(self, chunk: bytes) -> None:
        self.received += len(chunk)
        limit = self.protector.policy.max_body_bytes
        if self.received > limit:
            raise UploadTooLargeError(f"the request body is over the limit of {limit} bytes")
        for event in self.parser.feed(chunk):
            self._take(event)

    def finish(self) -> None:
        for event in self.parser.close():
            self._take(event)
        self.protector.check_count(len(self.images))

    def protect_all(self, *, artist_id: str | None, opted_out: bool) -> list[Outcome]:
        """Protect every image part (blocking: run it in a thread from async code)."""
        for slot in self.images:
            try:
                slot.outcome = self.protector.protect(slot.upload, artist_id=artist_id, opted_out=opted_out)
            except InvalidImageError:
                if slot.part.filename is not None:
                    raise
                # A text field that merely starts like an image: it is text, passed on as it came.
                slot.outcome = Outcome("ignored", slot.upload, slot.upload)
        return self.outcomes

    def _take(self, event: Event) -> None:
        if isinstance(event, Captured):
            self.protector.check_count(len(self.images) + 1)
            part = event.part
            upload = Upload(event.data, part.filename or "", part.content_type, part.name)
            slot = ImageSlot(part, event.raw_headers, upload)
            self.images.append(slot)
            self.segments.append(slot)
            return
        data = event.data
        if not data:
            return
        self.spool.write(data)
        start, self._spooled = self._spooled, self._spooled + len(data)
        last = self.segments[-1] if self.segments else None
        if isinstance(last, tuple):
            self.segments[-1] = (last[0], self._spooled)
        else:
            self.segments.append((start, self._spooled))

    @property
    def outcomes(self) -> list[Outcome]:
        return [slot.outcome for slot in self.images if slot.outcome is not None]

    @property
    def changed(self) -> bool:
        return any(slot.outcome is not None and slot.outcome.status != "ignored" for slot in self.images)

    def content_length(self) -> int:
        return self._spooled + sum(slot.size() for slot in self.images)

    def chunks(self, size: int = CHUNK) -> Iterator[bytes]:
        """The rewritten body, in order. The spool is closed as soon as the last chunk is read from it,
        since applications read exactly Content-Length bytes and never ask past the end."""
        pieces = self._segments(size)
        current = next(pieces, None)
        while current is not None:
            upcoming = next(pieces, None)
            if upcoming is None:
                self.close()
            yield current
            current = upcoming

    def _segments(self, size: int) -> Iterator[bytes]:
        for segment in self.segments:
            if isinstance(segment, ImageSlot):
                yield segment.headers()
                yield segment.data()
                continue
            start, end = segment
            self.spool.seek(start)
            while start < end:
                data = self.spool.read(min(size, end - start))
                if not data:
                    return
                start += len(data)
                yield data

    def stream(self) -> io.BufferedReader:
        """The rewritten body as a binary file (for ``wsgi.input``)."""
        return io.BufferedReader(_ChunkReader(self.chunks()), buffer_size=CHUNK)

    def close(self) -> None:
        self.spool.close()


class _ChunkReader(io.RawIOBase):
    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count
