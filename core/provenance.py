"""What a result says about itself: an XMP packet naming it a composite made by software (IPTC's
DigitalSourceType) and FFfusion as the tool that made it, written into JPEG, PNG and WebP results."""

from __future__ import annotations

import io

from PIL import Image

CREATOR_TOOL = "FFfusion"
#: IPTC NewsCodes: "composite including synthetic elements": the person's face warped onto a captured picture
#: by software, with drawn text (http://cv.iptc.org/newscodes/digitalsourcetype/)
DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/compositeSynthetic"
PNG_XMP_KEY = "XML:com.adobe.xmp"  # the iTXt keyword the XMP specification gives PNG

XMP = (
    '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"'
    ' xmlns:xmp="http://ns.adobe.com/xap/1.0/"'
    f' Iptc4xmpExt:DigitalSourceType="{DIGITAL_SOURCE_TYPE}" xmp:CreatorTool="{CREATOR_TOOL}"/>'
    '</rdf:RDF></x:xmpmeta><?xpacket end="r"?>'
).encode()


def read_xmp(data: bytes) -> str:
    """The XMP packet of an image file as Pillow reads it ("" when it has none)."""
    with Image.open(io.BytesIO(data)) as image:
        packet = image.info.get("xmp") or image.info.get(PNG_XMP_KEY) or b""
    return packet.decode("utf-8") if isinstance(packet, bytes) else str(packet)
