"""Parse uploaded XML without the classic XML attacks.

A BPMN file comes from a person's upload. It is refused before any real parser sees it when it is
too large or declares a DTD (external entities, entity-expansion bombs and similar all need one);
then lxml parses it with entity resolution, network access and huge trees off.
"""

from __future__ import annotations

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as defused_fromstring
from lxml import etree

MAX_DOCUMENT_BYTES = 2 * 1024 * 1024
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"


class UnsafeXmlError(ValueError):
    """The document was refused; ``str()`` is a Swedish message fit for a user."""


def parse_bpmn_xml(data: bytes) -> etree._Element:
    """Return the root element of a BPMN document, or raise UnsafeXmlError."""
    if len(data) > MAX_DOCUMENT_BYTES:
        raise UnsafeXmlError(
            f"Filen är för stor ({-(-len(data) // 1024)} kB); högst {MAX_DOCUMENT_BYTES // 1024} kB är tillåtet."
        )
    try:
        defused_fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as err:
        raise UnsafeXmlError(
            "Filen innehåller en DTD eller entitetsdeklaration, vilket inte är tillåtet av säkerhetsskäl."
        ) from err
    except Exception as err:
        raise UnsafeXmlError(f"Filen är inte giltig XML: {err}") from err
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False, remove_comments=True
    )
    try:
        root = etree.fromstring(data, parser=parser)
    except etree.XMLSyntaxError as err:
        raise UnsafeXmlError(f"Filen är inte giltig XML: {err}") from err
    if root.tag != f"{{{BPMN_NS}}}definitions":
        raise UnsafeXmlError("Filen är inget BPMN 2.0-dokument (rotelementet är inte bpmn:definitions).")
    return root
