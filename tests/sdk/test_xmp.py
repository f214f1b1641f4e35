from __future__ import annotations

from stylecloak import xmp

DC = xmp.KNOWN_PREFIXES["dc"]
PLUS = xmp.KNOWN_PREFIXES["plus"]

ARTIST_PACKET = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"
   xmlns:myapp="https://example.com/myapp/" myapp:rating="5">
 <dc:creator><rdf:Seq><rdf:li>Ada</rdf:li></rdf:Seq></dc:creator>
 <dc:rights><rdf:Alt><rdf:li xml:lang="x-default">© Ada</rdf:li></rdf:Alt></dc:rights>
</rdf:Description></rdf:RDF></x:xmpmeta>
<?xpacket end="w"?>"""


def test_merge_keeps_everything_else() -> None:
    merged = xmp.merge_properties(ARTIST_PACKET, PLUS, {"DataMining": "x", "OtherConstraints": xmp.LangAlt("no")})
    assert xmp.read_property(merged, DC, "creator") == "Ada"
    assert xmp.read_property(merged, DC, "rights") == "© Ada"
    assert xmp.read_property(merged, "https://example.com/myapp/", "rating") == "5"
    assert xmp.read_property(merged, PLUS, "DataMining") == "x"
    assert xmp.read_property(merged, PLUS, "OtherConstraints") == "no"
    assert b"myapp:rating" in merged, "the packet's own prefixes are kept"


def test_merge_replaces_our_values_once() -> None:
    once = xmp.merge_properties(ARTIST_PACKET, PLUS, {"DataMining": "a"})
    twice = xmp.merge_properties(once, PLUS, {"DataMining": "b"})
    assert xmp.read_property(twice, PLUS, "DataMining") == "b"
    assert twice.count(b"DataMining>b<") == 1
    assert b"DataMining>a<" not in twice


def test_unusable_packets_read_as_empty() -> None:
    bomb = '<!DOCTYPE x [<!ENTITY a "aaaa">]><x:xmpmeta xmlns:x="adobe:ns:meta/">&a;</x:xmpmeta>'
    for packet in (None, b"", b"garbage", bomb, "<x:xmpmeta>unclosed"):
        assert xmp.read_properties(packet, DC) == {}
        assert xmp.read_property(xmp.merge_properties(packet, DC, {"title": "t"}), DC, "title") == "t"
