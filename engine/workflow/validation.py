"""The rules a process model must pass before it is published, each with a plain Swedish message
pinned to the element it concerns.

The rules read the BPMN XML (lxml) rather than SpiffWorkflow's spec, so they can speak of elements
the library would silently accept or drop (a script task, a Camunda form, an unknown lane).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from jsonschema import SchemaError
from jsonschema.validators import validator_for
from lxml import etree

from engine.errors import ModelIssue
from engine.workdays import DurationError, parse_duration
from engine.workflow.expressions import ExpressionError, expression_names, is_iso_literal, parse_expression
from engine.workflow.service_tasks import REGISTRY, ServiceTaskError, call_operator
from engine.workflow.xml_safety import BPMN_NS

SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
NS = {"bpmn": BPMN_NS, "spiffworkflow": SPIFF_NS}

FLOW_NODES = {
    "startEvent",
    "endEvent",
    "userTask",
    "manualTask",
    "task",
    "serviceTask",
    "exclusiveGateway",
    "parallelGateway",
    "inclusiveGateway",
    "eventBasedGateway",
    "callActivity",
    "subProcess",
    "intermediateCatchEvent",
    "intermediateThrowEvent",
    "boundaryEvent",
}
NON_NODE_ELEMENTS = {
    "sequenceFlow",
    "laneSet",
    "extensionElements",
    "documentation",
    "textAnnotation",
    "association",
    "ioSpecification",
    "dataObject",
    "dataObjectReference",
    "dataStoreReference",
    "property",
    "group",
    "category",
    # children of a sub-process element that describe the element itself, not its contents
    "incoming",
    "outgoing",
    "multiInstanceLoopCharacteristics",
    "standardLoopCharacteristics",
    "dataInputAssociation",
    "dataOutputAssociation",
}
HUMAN_TASKS = ("userTask", "manualTask", "task")
_EVENT_WORD = {"signal": "signal", "message": "meddelande"}
UNSUPPORTED_REASONS = {
    "scriptTask": "Skriptuppgifter är inte tillåtna: de skulle köra godtycklig kod på servern. "
    "Använd en tjänsteuppgift från Inforas register eller ett villkor i en gateway.",
    "businessRuleTask": "Beslutstabeller (DMN) stöds inte än.",
    "sendTask": "Sändande uppgifter stöds inte; använd en signal.",
    "receiveTask": "Mottagande uppgifter stöds inte; använd en mellanliggande signal- eller meddelandehändelse.",
    "complexGateway": "Komplexa gateways stöds inte.",
    "transaction": "Transaktioner stöds inte.",
    "adHocSubProcess": "Ad hoc-delprocesser stöds inte.",
}
EVENT_DEFINITIONS_OK = {
    "timerEventDefinition",
    "signalEventDefinition",
    "messageEventDefinition",
    "terminateEventDefinition",
}


@dataclass
class ValidationContext:
    """What the rules need to know beyond the XML."""

    file: str
    roles: Mapping[str, str]
    forms: Mapping[str, Any]
    form_errors: dict[str, str] = field(default_factory=dict)
    issues: list[ModelIssue] = field(default_factory=list)
    variables: set[str] = field(default_factory=set)

    def add(self, code: str, element: etree._Element | None, message: str) -> None:
        element_id = element.get("id") if element is not None else None
        self.issues.append(ModelIssue(code=code, message=message, element_id=element_id, file=self.file))


def local(element: etree._Element) -> str:
    """The element's tag without its namespace."""
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


def _parent(element: etree._Element) -> etree._Element:
    """The element's parent (the element itself at the root): where an issue about it is pinned."""
    parent = element.getparent()
    return parent if parent is not None else element


def _name(element: etree._Element) -> str:
    return element.get("name") or element.get("id") or local(element)


def check_process(process: etree._Element, root: etree._Element, ctx: ValidationContext) -> None:
    """Run every rule on one process element (and the subprocesses inside it)."""
    for rule in RULES:
        rule(process, root, ctx)


def _containers(process: etree._Element) -> Iterable[etree._Element]:
    yield process
    yield from process.iterfind(".//bpmn:subProcess", NS)


def _flow_nodes(container: etree._Element) -> list[etree._Element]:
    return [c for c in container if local(c) in FLOW_NODES]


def rule_element_types(process: etree._Element, root: etree._Element, ctx: ValidationContext) -> None:
    """Only the element types Infora runs; scripts never."""
    for container in _containers(process):
        for child in container:
            kind = local(child)
            if not kind or kind in FLOW_NODES or kind in NON_NODE_ELEMENTS:
                continue
            reason = UNSUPPORTED_REASONS.get(kind, f"Elementtypen '{kind}' stöds inte av Infora.")
            pinned = child if child.get("id") else container
            ctx.add("script_task" if kind == "scriptTask" else "unsupported_element", pinned, reason)
    for element in process.iter():
        kind = local(element)
        if kind in ("preScript", "postScript") and (element.text or "").strip():
            owner = _parent(_parent(element))
            ctx.add(
                "script",
                owner,
                f"{'Förskript' if kind == 'preScript' else 'Efterskript'} är inte tillåtna: de skulle köra "
                "godtycklig kod på servern.",
            )
        elif kind.endswith("EventDefinition") and kind not in EVENT_DEFINITIONS_OK:
            ctx.add(
                "unsupported_event",
                _parent(element),
                f"Händelsetypen '{kind.removesuffix('EventDefinition')}' stöds inte.",
            )
        elif local(element) == "subProcess" and element.get("triggeredByEvent") == "true":
            ctx.add("unsupported_element", element, "Händelsestyrda delprocesser stöds inte.")


def _check_expression(ctx: ValidationContext, element: etree._Element, text: str, what: str) -> None:
    try:
        parse_expression(text)
        ctx.variables.update(expression_names(text))
    except ExpressionError as err:
        ctx.add("invalid_expression", element, f"Ogiltigt uttryck i {what}: {err.reason}")


def rule_expressions(process: etree._Element, root: etree._Element, ctx: ValidationContext) -> None:
    """Every expression parses in the safe expression language."""
    for flow in process.iterfind(".//bpmn:sequenceFlow", NS):
        cond = flow.find("bpmn:conditionExpression", NS)
        if cond is not None and (cond.text or "").strip():
            _check_expression(ctx, flow, cond.text or "", f"villkoret på flödet '{_name(flow)}'")
    for timer in process.iterfind(".//bpmn:timerEventDefinition", NS):
        owner = _parent(timer)
        parts = [p for p in timer if local(p) in ("timeDuration", "timeDate", "timeCycle")]
        if not parts or not (parts[0].text or "").strip():
            ctx.add("invalid_timer", owner, f"Timern '{_name(owner)}' saknar tid.")
            continue
        text = (parts[0].text or "").strip()
        if not is_iso_literal(text):
            _check_expression(ctx, owner, text, f"timern '{_name(owner)}'")
    for loop in process.iterfind(".//bpmn:multiInstanceLoopCharacteristics", NS):
        owner = _parent(loop)
        for tag in ("loopCardinality", "completionCondition"):
            part = loop.find(f"bpmn:{tag}", NS)
            if part is not None and (part.text or "").strip():
                _check_expression(ctx, owner, part.text or "", f"flerinstansen '{_name(owner)}'")
        ref = loop.find("bpmn:loopDataInputRef", NS)
        if ref is not None and (ref.text or "").strip():
            ctx.variables.add((ref.text or "").strip())
    for payload in process.iterfind(".//spiffworkflow:payloadExpression", NS):
        owner = next((a for a in payload.iterancestors() if a.get("id")), process)
        if (payload.text or "").strip():
            _check_expression(ctx, owner, payload.text or "", f"meddelandet i '{_name(owner)}'")
    for kind, tag, ref_attr in (
        ("signal", "signalEventDefinition", "signalRef"),
        ("message", "messageEventDefinition", "messageRef"),
    ):
        defined = {e.get("id") for e in root.iterfind(f"bpmn:{kind}", NS)}
        for definition in process.iterfind(f".//bpmn:{tag}", NS):
            owner = _parent(definition)
            target = definition.get(ref_attr)
            if not target:
                ctx.add("invalid_event", owner, f"Händelsen '{_name(owner)}' anger ingen {_EVENT_WORD[kind]}.")
            elif target not in defined:
                ctx.add(
                    "invalid_event",
                    owner,
                    f"Händelsen '{_name(owner)}' hänvisar till {_EVENT_WORD[kind]} '{target}', som inte finns i filen.",
                )
    for param in process.iterfind(".//spiffworkflow:parameter", NS):
        owner = next((a for a in param.iterancestors() if local(a) == "serviceTask"), param)
        _check_expression(ctx, owner, param.get("value") or "", f"parametern '{param.get('id')}'")


def lane_map(process: etree._Element) -> dict[str, etree._Element]:
    """Flow node id -> the (innermost) lane element that lists it."""
    lanes: dict[str, etree._Element] = {}
    for lane in process.iterfind(".//bpmn:lane", NS):
        for ref in lane.iterfind("bpmn:flowNodeRef", NS):
            lanes[(ref.text or "").strip()] = lane
    return lanes


def lane_for(element: etree._Element, lanes: Mapping[str, etree._Element]) -> etree._Element | None:
    """The lane of a flow node: its own, or else that of the nearest enclosing sub-process (a
    modeler draws an expanded sub-process inside a lane and its tasks belong to that lane)."""
    node: etree._Element | None = element
    while node is not None and local(node) != "process":
        found = lanes.get(node.get("id") or "")
        if found is not None:
            return found
        node = node.getparent()
    return None


def rule_lanes(process: etree._Element, root: etree._Element, ctx: ValidationContext) -> None:
    """Every lane names a known role; every human task sits in a lane."""
    for lane in process.iterfind(".//bpmn:lane", NS):
        name = (lane.get("name") or "").strip()
        if lane.find("bpmn:childLaneSet", NS) is not None:
            continue
        if not name:
            ctx.add("unknown_role", lane, "Lanen saknar namn; en lane ska heta som en roll i ärendet.")
        elif name.casefold() not in ctx.roles:
            known = ", ".join(sorted({v for v in ctx.roles.values()}))
            ctx.add("unknown_role", lane, f"Lanen '{name}' är ingen känd roll. Kända roller: {known}.")
    lanes = lane_map(process)
    for task in process.iter(*(f"{{{BPMN_NS}}}{kind}" for kind in HUMAN_TASKS)):
        if lane_for(task, lanes) is None:
            ctx.add("task_without_lane", task, f"Uppgiften '{_name(task)}' ligger inte i någon lane (roll).")


def properties(element: etree._Element) -> dict[str, str]:
    """A task's ``spiffworkflow:properties``, values stripped of surrounding white space."""
    props: dict[str, str] = {}
    for prop in element.iterfind("bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property", NS):
        props[(prop.get("name") or "").strip()] = (prop.get("value") or "").strip()
    return props


PDSA_STAGES = ("plan", "do", "study", "act")
"""Values of a user task's ``pdsaStage`` property: which part of the cycle record the task writes."""


def rule_forms(process: etree._Element, root: etree._Element, ctx: ValidationContext) -> None:
    """Every user task has a form that exists and is a valid JSON Schema; due durations parse."""
    for task in process.iter(*(f"{{{BPMN_NS}}}{kind}" for kind in HUMAN_TASKS)):
        props = properties(task)
        form = props.get("formJsonSchemaFilename", "").strip()
        if local(task) == "userTask" and not form:
            ctx.add("missing_form", task, f"Användaruppgiften '{_name(task)}' saknar formulär (JSON Schema).")
        for key in ("formJsonSchemaFilename", "formUiSchemaFilename"):
            filename = props.get(key, "").strip()
            if not filename:
                continue
            if filename not in ctx.forms:
                ctx.add("form_not_found", task, f"Formuläret '{filename}' finns inte bland modellens formulär.")
            elif filename in ctx.form_errors:
                ctx.add("invalid_form", task, f"Formuläret '{filename}' är ogiltigt: {ctx.form_errors[filename]}")
        due = props.get("dueDuration", "").strip()
        if due and not _is_duration(due):
            ctx.add("invalid_due", task, f"Förfallotiden '{due}' är ingen ISO 8601-tidslängd (t.ex. P14D).")
        stage = props.get("pdsaStage", "").strip()
        if stage and stage not in PDSA_STAGES:
            ctx.add("invalid_pdsa_stage", task,
                    f"PDSA-steget '{stage}' finns inte (välj plan, do, study eller act).")  # fmt: skip


def _is_duration(text: str) -> bool:
    try:
        parse_duration(text)
    except DurationError:
        return False
    return True


def rule_reminder_policy(process: etree._Element, root: etree._Element, ctx: ValidationContext) -> None:
    """The process's reminder policy, when it sets one, is made of durations."""
    props = properties(process)
    offsets = props.get("reminderOffsets", "")
    for part in (p.strip() for p in offsets.split(",") if p.strip()):
        if not _is_duration(part):
            ctx.add("invalid_reminder_policy", process, f"Påminnelsetiden '{part}' är ingen tidslängd (t.ex. P7D).")
    escalate = props.get("escalateAfter", "")
    if escalate and escalate.lower() != "none" and not _is_duration(escalate):
        ctx.add("invalid_reminder_policy", process, f"Eskaleringstiden '{escalate}' är ingen tidslängd (t.ex. P1D).")


def rule_service_tasks(process: etree._Element, root: etree._Element, ctx: ValidationContext) -> None:
    """Service tasks name an operator of the registry."""
    for task in process.iterfind(".//bpmn:serviceTask", NS):
        operator = task.find("bpmn:extensionElements/spiffworkflow:serviceTaskOperator", NS)
        if operator is None or not operator.get("id"):
            ctx.add("unknown_service", task, f"Tjänsteuppgiften '{_name(task)}' anger ingen tjänst.")
            continue
        if operator.get("id") not in REGISTRY:
            known = ", ".join(sorted(REGISTRY))
            ctx.add("unknown_service", task, f"Tjänsten '{operator.get('id')}' finns inte. Tillgängliga: {known}.")
            continue
        params: dict[str, Any] = {}
        constant = True
        for param in operator.iterfind("spiffworkflow:parameters/spiffworkflow:parameter", NS):
            text = param.get("value") or ""
            try:
                compiled = parse_expression(text)
            except ExpressionError:
                constant = False  # reported by rule_expressions
                continue
            if compiled.names:
                constant = False
                params[param.get("id") or ""] = None
            else:
                params[param.get("id") or ""] = compiled.evaluate({})
        try:
            if constant:
                call_operator(operator.get("id") or "", params)  # pure: checks the values, effect discarded
            else:
                unknown = set(params) - set(REGISTRY[operator.get("id") or ""].parameters)
                if unknown:
                    raise ServiceTaskError(f"Tjänsten tar inte parametrarna {sorted(unknown)}.")
        except (ServiceTaskError, ExpressionError) as err:
            ctx.add("invalid_service_call", task, f"Tjänsteuppgiften '{_name(task)}': {err}")


def rule_gateways(process: etree._Element, root: etree._Element, ctx: ValidationContext) -> None:
    """A deciding gateway has a default flow and conditions on its other flows."""
    for container in _containers(process):
        flows = [f for f in container if local(f) == "sequenceFlow"]
        for gateway in container:
            if local(gateway) not in ("exclusiveGateway", "inclusiveGateway"):
                continue
            outgoing = [f for f in flows if f.get("sourceRef") == gateway.get("id")]
            if len(outgoing) < 2:
                continue
            default = gateway.get("default")
            if not default:
                ctx.add("gateway_default", gateway, f"Gatewayen '{_name(gateway)}' saknar standardflöde.")
            elif default not in {f.get("id") for f in outgoing}:
                ctx.add(
                    "gateway_default",
                    gateway,
                    f"Gatewayens standardflöde '{default}' är inget av flödena som går ut från '{_name(gateway)}'.",
                )
            for flow in outgoing:
                if flow.get("id") != default and flow.find("bpmn:conditionExpression", NS) is None:
                    ctx.add("missing_condition", flow, f"Flödet '{_name(flow)}' från en gateway saknar villkor.")


def rule_structure(process: etree._Element, root: etree._Element, ctx: ValidationContext) -> None:
    """Element ids are unique, and every sequence flow connects two elements of its container."""
    seen: dict[str, etree._Element] = {}
    for element in root.iter(f"{{{BPMN_NS}}}*"):  # extension elements (spiffworkflow:*) have ids of their own kind
        element_id = element.get("id")
        if not element_id:
            continue
        if element_id in seen and process in element.iterancestors():
            ctx.add("duplicate_id", element, f"Id '{element_id}' används av två element.")
        seen.setdefault(element_id, element)
    for container in _containers(process):
        # any element that can hold a flow end, supported or not (unsupported ones are reported apart)
        nodes = {n.get("id") for n in container if local(n) not in NON_NODE_ELEMENTS and n.get("id")}
        for flow in container:
            if local(flow) != "sequenceFlow":
                continue
            for end in ("sourceRef", "targetRef"):
                if flow.get(end) not in nodes:
                    ctx.add(
                        "invalid_flow",
                        flow,
                        f"Flödet '{_name(flow)}' {'startar' if end == 'sourceRef' else 'slutar'} i "
                        f"'{flow.get(end)}', som inte finns här.",
                    )


def rule_reachability(process: etree._Element, root: etree._Element, ctx: ValidationContext) -> None:
    """A start and an end event exist, and every element is reachable from a start."""
    for container in _containers(process):
        nodes = {n.get("id"): n for n in _flow_nodes(container)}
        starts = [i for i, n in nodes.items() if local(n) == "startEvent"]
        if not starts:
            ctx.add("no_start_event", container, f"'{_name(container)}' saknar starthändelse.")
            continue
        if not any(local(n) == "endEvent" for n in nodes.values()):
            ctx.add("no_end_event", container, f"'{_name(container)}' saknar sluthändelse.")
        edges: dict[str, list[str]] = {}
        for flow in container:
            if local(flow) == "sequenceFlow":
                edges.setdefault(flow.get("sourceRef") or "", []).append(flow.get("targetRef") or "")
        for node_id, node in nodes.items():
            if local(node) == "boundaryEvent":
                edges.setdefault(node.get("attachedToRef") or "", []).append(node_id or "")
        seen: set[str] = set()
        stack = [s for s in starts if s]
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            stack.extend(edges.get(current, []))
        for node_id, node in nodes.items():
            if node_id not in seen and local(node) != "startEvent":
                ctx.add("unreachable", node, f"'{_name(node)}' kan inte nås från någon starthändelse.")


RULES: list[Callable[[etree._Element, etree._Element, ValidationContext], None]] = [
    rule_structure,
    rule_element_types,
    rule_expressions,
    rule_lanes,
    rule_forms,
    rule_service_tasks,
    rule_reminder_policy,
    rule_gateways,
    rule_reachability,
]


def load_form(filename: str, raw: str | bytes | dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """Parse and check one JSON Schema form; return (schema, None) or (None, error message)."""
    try:
        schema = raw if isinstance(raw, dict) else json.loads(raw, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as err:
        return None, f"inte giltig JSON ({str(err)[:200]})"
    if not isinstance(schema, dict):
        return None, "ett formulär ska vara ett JSON-objekt"
    try:
        validator_for(schema).check_schema(schema)
    except SchemaError as err:
        return None, f"inte ett giltigt JSON Schema ({err.message})"
    except Exception as err:  # noqa: BLE001 - jsonschema fails in odd ways on junk ($schema: 5, deep nesting)
        return None, f"inte ett giltigt JSON Schema ({type(err).__name__})"
    return schema, None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} är inte tillåtet i JSON")
