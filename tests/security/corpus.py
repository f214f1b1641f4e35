"""A corpus of odd and malformed multipart uploads, each carrying an image nobody has cloaked.

Every case is one HTTP request. Frameworks disagree on many of them (Werkzeug accepts LF and CR line
breaks and folded headers; Django splits on the boundary wherever it occurs): the differential tests
feed each case to the framework alone and behind the middleware, and require that whatever the
framework delivers as a file is cloaked, or the request refused.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

B = b"XyZb0und"
DELIM = b"--" + B
CT = b"Content-Type: multipart/form-data; boundary=" + B


@dataclass(frozen=True)
class Case:
    name: str
    body: bytes
    headers: tuple[bytes, ...] = (CT,)
    method: bytes = b"POST"
    chunked: bool = False
    #: Only expressible on the wire (request-header folding, a lower-case method): not for in-process clients.
    wire_only: bool = False


def part(name: bytes, data: bytes, *, filename: bytes | None = None, extra: bytes = b"", eol: bytes = b"\r\n") -> bytes:
    disposition = b'Content-Disposition: form-data; name="' + name + b'"'
    if filename is not None:
        disposition += b'; filename="' + filename + b'"'
    return DELIM + eol + disposition + eol + extra + eol + data + eol


def form(*parts: bytes, eol: bytes = b"\r\n") -> bytes:
    return b"".join(parts) + DELIM + b"--" + eol


def cases(png: bytes) -> list[Case]:
    title = part(b"title", b"Irises")
    art = part(b"art", png, filename=b"a.png", extra=b"Content-Type: image/png\r\n")
    notes = part(b"notes", b"plain text notes\r\n", filename=b"n.txt")
    normal = form(title, art, notes)
    lf = normal.replace(b"\r\n", b"\n")
    return [
        Case("canonical", normal),
        Case(
            "lf-only-line-breaks",
            form(part(b"title", b"x", eol=b"\n"), part(b"art", png, filename=b"a.png", eol=b"\n"), eol=b"\n"),
        ),
        Case("lf-only-everything", lf),
        Case("cr-only-line-breaks", normal.replace(b"\r\n", b"\r")),
        Case(
            "lf-inside-a-part",
            form(
                title, DELIM + b'\r\nContent-Disposition: form-data; name="art"; filename="a.png"\n\n' + png + b"\r\n"
            ),
        ),
        Case(
            "bare-lf-between-part-headers",
            form(
                DELIM
                + b'\r\nContent-Disposition: form-data; name="art"; filename="a.png"\nContent-Type: image/png\r\n\r\n'
                + png
                + b"\r\n"
            ),
        ),
        Case(
            "folded-content-disposition",
            form(
                DELIM + b'\r\nContent-Disposition: form-data; name="art";\r\n filename="a.png"\r\n\r\n' + png + b"\r\n"
            ),
        ),
        Case(
            "two-content-dispositions",
            form(
                DELIM + b'\r\nContent-Disposition: form-data; name="art"\r\n'
                b'Content-Disposition: form-data; name="art"; filename="a.png"\r\n\r\n' + png + b"\r\n"
            ),
        ),
        Case(
            "boundary-hidden-after-lf",
            form(
                DELIM
                + b'\r\nContent-Disposition: form-data; name="t"\r\n\r\nx\n'
                + DELIM
                + b'\nContent-Disposition: form-data; name="art"; filename="a.png"\n\n'
                + png
                + b"\r\n"
            ),
        ),
        Case("boundary-in-the-preamble", b"junk\r\n" + DELIM + b"X\r\n" + normal),
        Case("part-in-the-epilogue", normal + b"\r\n" + art + DELIM + b"--\r\n"),
        Case("transport-padding", normal.replace(DELIM + b"\r\n", DELIM + b" \t\r\n")),
        Case(
            "base64-transfer-encoding",
            form(
                DELIM + b'\r\nContent-Disposition: form-data; name="art"; filename="a.png"\r\n'
                b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.b64encode(png) + b"\r\n"
            ),
        ),
        Case(
            "filename-star-only",
            form(
                DELIM
                + b"\r\nContent-Disposition: form-data; name=\"art\"; filename*=UTF-8''a.png\r\n\r\n"
                + png
                + b"\r\n"
            ),
        ),
        Case(
            "no-spaces-in-headers",
            form(DELIM + b"\r\ncontent-disposition:form-data;name=art;filename=a.png\r\n\r\n" + png + b"\r\n"),
        ),
        Case(
            "escaped-quotes-in-name",
            form(
                DELIM + b'\r\nContent-Disposition: form-data; name="a\\"rt"; filename="a.png"\r\n\r\n' + png + b"\r\n"
            ),
        ),
        Case("no-name", form(DELIM + b'\r\nContent-Disposition: form-data; filename="a.png"\r\n\r\n' + png + b"\r\n")),
        Case("image-as-a-plain-field", form(title, part(b"art", png))),
        Case("no-closing-boundary", normal[: -len(DELIM) - 4]),
        Case("empty-body", b""),
        Case("two-boundary-parameters", normal, headers=(CT + b"; boundary=other",)),
        Case("upper-case-media-type", normal, headers=(b"Content-Type: MULTIPART/FORM-DATA; boundary=" + B,)),
        Case(
            "quoted-boundary-and-charset",
            normal,
            headers=(b'Content-Type: multipart/form-data; charset=utf-8; boundary="' + B + b'"',),
        ),
        Case("leading-space-media-type", normal, headers=(b"Content-Type:   multipart/form-data;boundary=" + B,)),
        Case("listed-media-types", normal, headers=(b"Content-Type: multipart/form-data, text/plain; boundary=" + B,)),
        Case(
            "folded-request-content-type",
            normal,
            headers=(b"Content-Type: multipart/form-data;\r\n boundary=" + B,),
            wire_only=True,
        ),
        Case("method-lower-case", normal, method=b"post", wire_only=True),
        Case("method-mixed-case", normal, method=b"Post", wire_only=True),
        Case("method-get", normal, method=b"GET"),
        Case("method-delete", normal, method=b"DELETE"),
        Case("chunked", normal, chunked=True, wire_only=True),
        Case("many-parts", form(*[part(b"f%d" % i, b"x") for i in range(1001)], art)),
        Case("many-small-images", form(*[part(b"a%d" % i, png, filename=b"a.png") for i in range(3)])),
    ]
