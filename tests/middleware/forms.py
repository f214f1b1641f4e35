"""Multipart bodies for the middleware and adapter tests, built and split by hand (not by the code under test)."""

from __future__ import annotations

from dataclasses import dataclass

BOUNDARY = "----stylecloakTestBoundary7MA4YWxk"


@dataclass(frozen=True)
class FilePart:
    name: str
    filename: str
    data: bytes
    content_type: str = "application/octet-stream"


@dataclass(frozen=True)
class ReceivedPart:
    name: str
    filename: str | None
    headers: dict[str, str]
    data: bytes


def multipart(
    fields: list[tuple[str, str]] = (),  # type: ignore[assignment]
    files: list[FilePart] = (),  # type: ignore[assignment]
    boundary: str = BOUNDARY,
    preamble: bytes = b"",
    epilogue: bytes = b"",
) -> tuple[bytes, str]:
    """(body, content type) of a multipart/form-data request, fields first."""
    out = [preamble]
    for name, value in fields:
        out.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode())
        out.append(value.encode() + b"\r\n")
    for part in files:
        out.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{part.name}"; filename="{part.filename}"\r\n'
            f"Content-Type: {part.content_type}\r\n\r\n".encode()
        )
        out.append(part.data + b"\r\n")
    out.append(f"--{boundary}--\r\n".encode() + epilogue)
    return b"".join(out), f"multipart/form-data; boundary={boundary}"


def split(body: bytes, boundary: str | None = None) -> list[ReceivedPart]:
    """The parts of ``body`` (assumes the boundary is not in the data, as RFC 7578 requires).

    Without ``boundary``, the one the body starts with: the middleware re-serialises a body with a
    fresh boundary of its own, which an echoing test app sends back first thing.
    """
    if boundary is None:
        boundary = body.split(b"\r\n", 1)[0][2:].decode("latin-1")
    parts = []
    for chunk in body.split(b"--" + boundary.encode())[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, data = chunk[2:].partition(b"\r\n\r\n")
        headers = {}
        for line in head.decode().split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        params = dict(item.strip().split("=", 1) for item in disposition.split(";")[1:] if "=" in item)
        filename = params["filename"].strip('"') if "filename" in params else None
        parts.append(ReceivedPart(params.get("name", "").strip('"'), filename, headers, data[:-2]))
    return parts
