"""What changed between two versions of a BPMN document, element by element.

The comparison is of what a coordinator edits and a case runs on, not of the XML text: each
element of the processes (tasks, events, gateways, flows, lanes, sub-processes) is reduced to its
type, name, role (lane), flows in and out, conditions, timers and Infora properties (form, due
time, reminder policy, PDSA step), and two versions are compared on those. Layout (the diagram's
coordinates) is not a change. Every element keeps its BPMN id, so the editor can colour it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from engine.workflow.validation import NS, lane_for, lane_map, local, properties
from engine.workflow.xml_safety import parse_bpmn_xml

ASPECTS = {
    "type": "typ",
    "name": "namn",
    "lane": "roll (bana)",
    "flows": "flöden",
    "condition": "villkor",
    "timer": "timer",
    "properties": "inställningar (formulär, förfallotid, påminnelser)",
    "instructions": "instruktion",
    "called": "anropad process",
    "default": "standardflöde",
    "loop": "upprepning per enhet",
}
"""The Swedish word for each aspect an element can change in."""


@dataclass(frozen=True)
class ElementChange:
    """One element that differs between the versions."""

    element_id: str
    kind: str
    name: str
    aspects: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelDiff:
    """Elements added, removed and changed from the old version to the new."""

    added: list[ElementChange] = field(default_factory=list)
    removed: list[ElementChange] = field(default_factory=list)
    changed: list[ElementChange] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """Whether the versions run the same."""
        return not (self.added or self.removed or self.changed)


def _text(element: etree._Element | None) -> str:
    return " ".join((element.text or "").split()) if element is not None else ""


def _attrs(element: etree._Element) -> str:
    return ",".join(f"{k!s}={v!s}" for k, v in sorted((str(k), str(v)) for k, v in element.attrib.items()))


def _loop_signature(loop: etree._Element | None) -> str:
    """A multi-instance's settings without layout: each part's tag, attributes and text (a saved
    editor document writes the same loop with other whitespace)."""
    if loop is None:
        return ""
    parts = [_attrs(loop)]
    for child in loop.iter():
        if child is loop or not isinstance(child.tag, str):
            continue
        parts.append(f"{local(child)}[{_attrs(child)}]{' '.join((child.text or '').split())}")
    return "|".join(parts)


def _signature(element: etree._Element, lanes: dict[str, etree._Element]) -> dict[str, str]:
    kind = local(element)
    lane = lane_for(element, lanes) if lanes else None
    refs = sorted(
        f"{'in' if local(child) == 'incoming' else 'out'}:{_text(child)}"
        for child in element
        if isinstance(child.tag, str) and local(child) in ("incoming", "outgoing")
    )
    if kind == "sequenceFlow":
        refs = [f"{element.get('sourceRef', '')}->{element.get('targetRef', '')}"]
    timer = element.find(".//bpmn:timerEventDefinition", NS)
    loop = element.find("bpmn:multiInstanceLoopCharacteristics", NS)
    instructions = element.find("bpmn:extensionElements/spiffworkflow:instructionsForEndUser", NS)
    signature = {
        "type": kind,
        "name": " ".join((element.get("name") or "").split()),
        "lane": (lane.get("name") or "").strip() if lane is not None else "",
        "flows": ",".join(refs),
        "condition": _text(element.find("bpmn:conditionExpression", NS)),
        "timer": "|".join(_text(t) for t in timer) if timer is not None else "",
        "properties": ",".join(f"{k}={v}" for k, v in sorted(properties(element).items())),
        "instructions": _text(instructions),
        "called": element.get("calledElement") or "",
        "default": element.get("default") or "",
        "loop": _loop_signature(loop),
    }
    if kind == "lane":
        nodes = sorted(_text(ref) for ref in element.iterfind("bpmn:flowNodeRef", NS))
        signature["flows"] = ",".join(nodes)
    return signature


def _elements(xml: bytes) -> dict[str, tuple[str, str, dict[str, str]]]:
    """Each element with an id inside the executable processes: id -> (kind, name, signature)."""
    root = parse_bpmn_xml(xml)
    found: dict[str, tuple[str, str, dict[str, str]]] = {}
    for process in root.iterfind("bpmn:process", NS):
        lanes = lane_map(process)
        for element in process.iter():
            if not isinstance(element.tag, str) or element is process:
                continue
            element_id = element.get("id")
            if not element_id or not element.tag.startswith("{" + NS["bpmn"]):
                continue
            kind = local(element)
            if kind in ("laneSet", "extensionElements", "timerEventDefinition", "conditionExpression",
                        "multiInstanceLoopCharacteristics", "signalEventDefinition", "messageEventDefinition",
                        "terminateEventDefinition", "errorEventDefinition", "escalationEventDefinition",
                        "timeDuration", "timeDate", "timeCycle", "loopCardinality", "completionCondition"):  # fmt: skip
                continue  # parts of their element, compared there
            signature = _signature(element, lanes)
            found[element_id] = (kind, signature["name"], signature)
    return found


def diff_models(old_xml: bytes, new_xml: bytes) -> ModelDiff:
    """The elements added, removed and changed from ``old_xml`` to ``new_xml`` (both BPMN)."""
    old, new = _elements(old_xml), _elements(new_xml)
    added = [ElementChange(i, new[i][0], new[i][1]) for i in new if i not in old]
    removed = [ElementChange(i, old[i][0], old[i][1]) for i in old if i not in new]
    changed = []
    for element_id in old.keys() & new.keys():
        before, after = old[element_id][2], new[element_id][2]
        aspects = tuple(key for key in ASPECTS if before.get(key) != after.get(key))
        if aspects:
            changed.append(ElementChange(element_id, new[element_id][0], new[element_id][1], aspects))
    order = list(new) + [i for i in old if i not in new]
    changed.sort(key=lambda c: order.index(c.element_id))
    return ModelDiff(added, removed, changed)
