"""Read and merge XMP packets without losing what is already there.

XMP is RDF/XML inside an ``<?xpacket?>`` wrapper. We add our properties in an ``rdf:Description`` of
their own and replace only the properties we own, so an artist's creator, copyright and every other
field survive. Untrusted packets are parsed with defusedxml (no entities, no external references).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from xml.etree.ElementTree import Element

from defusedxml import ElementTree as SafeET

NS_X = "adobe:ns:meta/"
NS_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
NS_XML = "http://www.w3.org/XML/1998/namespace"

# Prefixes we write with their usual names; others found in a packet are kept as declared there.
KNOWN_PREFIXES = {
    "x": NS_X,
    "rdf": NS_RDF,
    "dc": "http://purl.org/dc/elements/1.1/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "xmpRights": "http://ns.adobe.com/xap/1.0/rights/",
    "photoshop": "http://ns.adobe.com/photoshop/1.0/",
    "Iptc4xmpCore": "http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/",
    "Iptc4xmpExt": "http://iptc.org/std/Iptc4xmpExt/2008-02-29/",
    "plus": "http://ns.useplus.org/ldf/xmp/1.0/",
    "tiff": "http://ns.adobe.com/tiff/1.0/",
    "exif": "http://ns.adobe.com/exif/1.0/",
    "stylecloak": "https://stylecloak.dev/ns/1.0/",
}

_PACKET_HEADER = '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
_PACKET_TRAILER = '\n<?xpacket end="w"?>'
_XMLNS = re.compile(r'xmlns:([A-Za-z_][\w.-]*)\s*=\s*["\']([^"\']+)["\']')
_RESERVED_PREFIX = re.compile(r"ns\d+$")


@dataclass(frozen=True, slots=True)
class LangAlt:
    """A language-alternative XMP value (``rdf:Alt`` with an ``x-default`` entry)."""

    text: str
    lang: str = "x-default"


XmpValue = str | LangAlt


def _register_prefixes(packet: str) -> None:
    for prefix, uri in KNOWN_PREFIXES.items():
        ET.register_namespace(prefix, uri)
    for prefix, uri in _XMLNS.findall(packet):
        if prefix not in KNOWN_PREFIXES and prefix != "xml" and not _RESERVED_PREFIX.match(prefix):
            ET.register_namespace(prefix, uri)


def _as_text(packet: bytes | str | None) -> str:
    if packet is None:
        return ""
    if isinstance(packet, bytes):
        packet = packet.decode("utf-8", errors="replace")
    return packet.strip().lstrip("\ufeff").strip("\x00")


def _parse(packet: str) -> Element | None:
    """The x:xmpmeta (or bare rdf:RDF) root of ``packet``, or None if it is not usable XML."""
    if not packet:
        return None
    start = packet.find("<x:xmpmeta")
    if start < 0:
        start = packet.find("<rdf:RDF")
    if start < 0:
        return None
    end_tag = "</x:xmpmeta>" if packet.startswith("<x:xmpmeta", start) else "</rdf:RDF>"
    end = packet.find(end_tag, start)
    if end < 0:
        return None
    try:
        root: Element = SafeET.fromstring(packet[start : end + len(end_tag)])
    except (ET.ParseError, ValueError):
        # defusedxml raises ValueError subclasses for entities and DTDs: treat as no XMP.
        return None
    return root


def _rdf(root: Element) -> Element | None:
    if root.tag == f"{{{NS_RDF}}}RDF":
        return root
    return root.find(f"{{{NS_RDF}}}RDF")


def _value_of(node: Element) -> str | None:
    if node.text and node.text.strip():
        return node.text.strip()
    for li in node.iter(f"{{{NS_RDF}}}li"):
        if li.text and li.text.strip():
            return li.text.strip()
    return node.get(f"{{{NS_RDF}}}resource")


def read_property(packet: bytes | str | None, namespace: str, name: str) -> str | None:
    """The value of ``namespace``:``name`` in ``packet`` (attribute or element form), or None."""
    root = _parse(_as_text(packet))
    if root is None:
        return None
    rdf = _rdf(root)
    if rdf is None:
        return None
    key = f"{{{namespace}}}{name}"
    for description in rdf.findall(f"{{{NS_RDF}}}Description"):
        if key in description.attrib:
            return description.attrib[key]
        element = description.find(key)
        if element is not None:
            return _value_of(element)
    return None


def read_properties(packet: bytes | str | None, namespace: str) -> dict[str, str]:
    """Every simple property of ``namespace`` in ``packet``, by local name."""
    root = _parse(_as_text(packet))
    rdf = _rdf(root) if root is not None else None
    if rdf is None:
        return {}
    prefix = f"{{{namespace}}}"
    found: dict[str, str] = {}
    for description in rdf.findall(f"{{{NS_RDF}}}Description"):
        for key, value in description.attrib.items():
            if key.startswith(prefix):
                found[key[len(prefix) :]] = value
        for element in description:
            if element.tag.startswith(prefix):
                text = _value_of(element)
                if text is not None:
                    found[element.tag[len(prefix) :]] = text
    return found


def _new_root() -> Element:
    root = Element(f"{{{NS_X}}}xmpmeta", {f"{{{NS_X}}}xmptk": "stylecloak"})
    ET.SubElement(root, f"{{{NS_RDF}}}RDF")
    return root


def merge_properties(packet: bytes | str | None, namespace: str, properties: dict[str, XmpValue]) -> bytes:
    """``packet`` with ``properties`` of ``namespace`` set, everything else kept. Returns UTF-8 bytes."""
    text = _as_text(packet)
    _register_prefixes(text)
    root = _parse(text) or _new_root()
    rdf = _rdf(root)
    if rdf is None:
        rdf = ET.SubElement(root, f"{{{NS_RDF}}}RDF")
    keys = {f"{{{namespace}}}{name}" for name in properties}
    # Drop our old values wherever they are, then write them once in our own Description.
    for description in rdf.findall(f"{{{NS_RDF}}}Description"):
        for key in keys & set(description.attrib):
            del description.attrib[key]
        for element in list(description):
            if element.tag in keys:
                description.remove(element)
    ours = ET.SubElement(rdf, f"{{{NS_RDF}}}Description", {f"{{{NS_RDF}}}about": ""})
    for name, value in properties.items():
        element = ET.SubElement(ours, f"{{{namespace}}}{name}")
        if isinstance(value, LangAlt):
            alt = ET.SubElement(element, f"{{{NS_RDF}}}Alt")
            li = ET.SubElement(alt, f"{{{NS_RDF}}}li", {f"{{{NS_XML}}}lang": value.lang})
            li.text = value.text
        else:
            element.text = value
    # Descriptions emptied above carry nothing but rdf:about; drop them to keep the packet tidy.
    for description in rdf.findall(f"{{{NS_RDF}}}Description"):
        if description is not ours and len(description) == 0 and set(description.attrib) <= {f"{{{NS_RDF}}}about"}:
            rdf.remove(description)
    if root.tag != f"{{{NS_X}}}xmpmeta":
        wrapper = Element(f"{{{NS_X}}}xmpmeta", {f"{{{NS_X}}}xmptk": "stylecloak"})
        wrapper.append(root)
        root = wrapper
    body = ET.tostring(root, encoding="unicode")
    return (_PACKET_HEADER + body + _PACKET_TRAILER).encode("utf-8")
