"""Put back what a browser modeler cannot carry: the collection a multi-instance loops over.

SpiffWorkflow reads ``<bpmn:loopDataInputRef>units</bpmn:loopDataInputRef>`` as the name of a
process variable. To bpmn-js (bpmn-moddle) the element is a reference to another element's id;
"units" is no element, so the reference is dropped on import and missing from the saved XML, and
the per-unit loop would silently become a single instance. Before a saved draft is validated, each
multi-instance that lost its reference gets it back from the previous version of the same element,
or, for a new one whose item is called ``unit``, the case's ``units``.
"""

from __future__ import annotations

from lxml import etree

from engine.workflow.xml_safety import BPMN_NS, parse_bpmn_xml

_NS = {"bpmn": BPMN_NS}
_LOOP = "bpmn:multiInstanceLoopCharacteristics"


def _refs(root: etree._Element) -> dict[str, tuple[str, str]]:
    found: dict[str, tuple[str, str]] = {}
    for loop in root.iterfind(f".//{_LOOP}", _NS):
        owner = loop.getparent()
        for tag in ("loopDataInputRef", "loopDataOutputRef"):
            ref = loop.find(f"bpmn:{tag}", _NS)
            if owner is not None and ref is not None and (ref.text or "").strip():
                found[f"{owner.get('id')}|{tag}"] = (tag, ref.text.strip())  # type: ignore[union-attr]
    return found


def restore_loop_references(new_xml: bytes, old_xml: bytes | None) -> bytes:
    """``new_xml`` with every dropped loop reference restored (unchanged bytes when none was)."""
    root = parse_bpmn_xml(new_xml)
    previous = _refs(parse_bpmn_xml(old_xml)) if old_xml else {}
    changed = False
    for loop in root.iterfind(f".//{_LOOP}", _NS):
        owner = loop.getparent()
        owner_id = owner.get("id") if owner is not None else None
        for tag in ("loopDataInputRef", "loopDataOutputRef"):
            if loop.find(f"bpmn:{tag}", _NS) is not None:
                continue
            value = previous.get(f"{owner_id}|{tag}", (tag, ""))[1]
            item = loop.find("bpmn:inputDataItem", _NS)
            if not value and tag == "loopDataInputRef" and item is not None and item.get("name") == "unit":
                value = "units"
            if value:
                ref = etree.Element(f"{{{BPMN_NS}}}{tag}")
                ref.text = value
                # The schema's order: loopCardinality?, loopDataInputRef?, loopDataOutputRef?, items.
                cardinality = loop.find("bpmn:loopCardinality", _NS)
                position = 1 if cardinality is not None else 0
                if tag == "loopDataOutputRef":
                    position += 1 if loop.find("bpmn:loopDataInputRef", _NS) is not None else 0
                loop.insert(position, ref)
                changed = True
    if not changed:
        return new_xml
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
