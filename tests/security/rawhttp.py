"""Byte-exact HTTP/1.1 requests over a real socket: folded headers, odd methods, chunked bodies, slow clients.

No HTTP client library would send most of what an attacker sends, so requests are written by hand.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field


@dataclass
class Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    seconds: float = 0.0


def request(
    method: bytes,
    path: bytes,
    headers: list[bytes],
    body: bytes = b"",
    *,
    chunked: bool = False,
    content_length: bool = True,
) -> bytes:
    """The raw request. ``headers`` are complete lines without CRLF (a folded header is one item with
    its own CRLF inside)."""
    lines = [method + b" " + path + b" HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close", *headers]
    if chunked:
        lines.append(b"Transfer-Encoding: chunked")
        payload = b"".join(
            b"%x\r\n%s\r\n" % (len(body[i : i + 997]), body[i : i + 997]) for i in range(0, len(body), 997)
        )
        payload += b"0\r\n\r\n"
    else:
        if content_length:
            lines.append(b"Content-Length: %d" % len(body))
        payload = body
    return b"\r\n".join(lines) + b"\r\n\r\n" + payload


def exchange(port: int, raw: bytes, timeout: float = 120.0, *, half_close: bool = False) -> Answer:
    """Send ``raw`` to 127.0.0.1:``port`` and read the whole answer (the server closes the connection).

    ``half_close``: shut the sending side once the request is out. Werkzeug's dev server drains an
    unread body until EOF after refusing early, and needs it; uvicorn drops a half-closed connection.
    """
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(raw)
        # Done sending (Connection: close): a server that drains an unread body then sees its end
        # (Werkzeug's dev server reads on until EOF after refusing early).
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        received = bytearray()
        while chunk := sock.recv(65536):
            received += chunk
    return parse(bytes(received), time.monotonic() - started)


def parse(raw: bytes, seconds: float = 0.0) -> Answer:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else 0
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = _dechunk(body)
    return Answer(status, headers, body, seconds)


def _dechunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out += rest[:size]
        data = rest[size + 2 :]
    return bytes(out)
