"""Fixtures for the rights tests: a throwaway C2PA signing chain, and images carrying an artist's XMP."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import painting

ARTIST_XMP = (
    '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">'
    "<dc:creator><rdf:Seq><rdf:li>Ada Lovelace</rdf:li></rdf:Seq></dc:creator>"
    '<dc:rights><rdf:Alt><rdf:li xml:lang="x-default">© Ada Lovelace, all rights reserved</rdf:li></rdf:Alt>'
    "</dc:rights></rdf:Description></rdf:RDF></x:xmpmeta>\n"
    '<?xpacket end="w"?>'
).encode()


@pytest.fixture(scope="session")
def signing_chain(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    pytest.importorskip("cryptography")
    from stylecloak.rights.testing import make_signing_chain

    return make_signing_chain(tmp_path_factory.mktemp("c2pa-chain"))


def image_bytes(fmt: str, *, xmp: bytes | None = None, alpha: bool = False, **options: object) -> bytes:
    """A small painting encoded as ``fmt``, with ``xmp`` embedded by Pillow itself when given."""
    array = painting(96, 72, seed=3)
    if alpha:
        ramp = np.linspace(0, 255, array.shape[1], dtype=np.uint8)[None, :].repeat(array.shape[0], 0)
        array = np.dstack([array, ramp])
    image = Image.fromarray(array)
    if fmt == "PNG" and xmp is not None:
        from PIL import PngImagePlugin

        info = PngImagePlugin.PngInfo()
        info.add_itxt("XML:com.adobe.xmp", xmp.decode(), zip=False)
        options["pnginfo"] = info
    elif fmt == "TIFF" and xmp is not None:
        options["tiffinfo"] = {700: xmp}
    elif xmp is not None:
        options["xmp"] = xmp
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def pixels(data: bytes) -> tuple[str, np.ndarray]:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image.mode, np.asarray(image).copy()


def write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path
