"""Small BPMN documents for tests, written from a compact description (no diagram layout: the
engine does not need one)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from itertools import pairwise
from xml.sax.saxutils import escape, quoteattr

HEADER = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" '
    'id="Definitions_{pid}" targetNamespace="http://bpmn.io/schema/bpmn">\n'
)

SIMPLE_FORM = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "title": "Enkelt formulär",
    "properties": {
        "comment": {"type": "string", "title": "Kommentar", "maxLength": 200},
        "again": {"type": "boolean", "title": "Igen?"},
    },
    "additionalProperties": False,
}


@dataclass
class Process:
    """A process under construction: nodes as raw XML, flows, lanes."""

    pid: str
    name: str = "Testprocess"
    nodes: list[str] = field(default_factory=list)
    flows: list[str] = field(default_factory=list)
    lanes: dict[str, list[str]] = field(default_factory=dict)
    extra: list[str] = field(default_factory=list)
    properties: dict[str, str] = field(default_factory=dict)
    _n: int = 0

    def node(self, xml: str, lane: str | None, node_id: str) -> str:
        self.nodes.append(xml)
        if lane is not None:
            self.lanes.setdefault(lane, []).append(node_id)
        return node_id

    def start(self, node_id: str = "start", lane: str | None = "RPT") -> str:
        return self.node(f'<bpmn:startEvent id="{node_id}" />', lane, node_id)

    def end(self, node_id: str = "end", lane: str | None = "RPT") -> str:
        return self.node(f'<bpmn:endEvent id="{node_id}" />', lane, node_id)

    def user_task(
        self,
        node_id: str,
        name: str,
        lane: str | None = "RPT",
        form: str | None = "simple.schema.json",
        due: str | None = None,
    ) -> str:
        props = ""
        if form is not None or due is not None:
            items = ""
            if form is not None:
                items += f'<spiffworkflow:property name="formJsonSchemaFilename" value="{form}" />'
            if due is not None:
                items += f'<spiffworkflow:property name="dueDuration" value="{due}" />'
            props = f"<bpmn:extensionElements><spiffworkflow:properties>{items}</spiffworkflow:properties></bpmn:extensionElements>"
        return self.node(f'<bpmn:userTask id="{node_id}" name={quoteattr(name)}>{props}</bpmn:userTask>', lane, node_id)

    def gateway(
        self, node_id: str, kind: str = "exclusiveGateway", default: str | None = None, lane: str | None = "RPT"
    ) -> str:
        attr = f' default="{default}"' if default else ""
        return self.node(f'<bpmn:{kind} id="{node_id}"{attr} />', lane, node_id)

    def timer(self, node_id: str, expression: str, lane: str | None = "RPT") -> str:
        return self.node(
            f'<bpmn:intermediateCatchEvent id="{node_id}" name="Vänta"><bpmn:timerEventDefinition>'
            f'<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">{escape(expression)}</bpmn:timeDuration>'
            "</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>",
            lane,
            node_id,
        )

    def raw(self, xml: str, lane: str | None, node_id: str) -> str:
        return self.node(xml, lane, node_id)

    def flow(self, source: str, target: str, condition: str | None = None, flow_id: str | None = None) -> str:
        self._n += 1
        fid = flow_id or f"flow_{self._n}"
        body = (
            f'<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{escape(condition)}</bpmn:conditionExpression>'
            if condition
            else ""
        )
        self.flows.append(
            f'<bpmn:sequenceFlow id="{fid}" sourceRef="{source}" targetRef="{target}">{body}</bpmn:sequenceFlow>'
        )
        return fid

    def chain(self, *ids: str) -> None:
        for a, b in pairwise(ids):
            self.flow(a, b)

    def xml(self) -> bytes:
        lanes = ""
        if self.lanes:
            lanes = (
                '<bpmn:laneSet id="LaneSet_1">'
                + "".join(
                    f'<bpmn:lane id="lane_{i}" name={quoteattr(name)}>'
                    + "".join(f"<bpmn:flowNodeRef>{n}</bpmn:flowNodeRef>" for n in nodes)
                    + "</bpmn:lane>"
                    for i, (name, nodes) in enumerate(self.lanes.items())
                )
                + "</bpmn:laneSet>"
            )
        props = ""
        if self.properties:
            props = (
                "<bpmn:extensionElements><spiffworkflow:properties>"
                + "".join(
                    f"<spiffworkflow:property name={quoteattr(k)} value={quoteattr(v)} />"
                    for k, v in self.properties.items()
                )
                + "</spiffworkflow:properties></bpmn:extensionElements>"
            )
        body = (
            f'<bpmn:process id="{self.pid}" name={quoteattr(self.name)} isExecutable="true">'
            + props
            + lanes
            + "".join(self.nodes)
            + "".join(self.flows)
            + "</bpmn:process>"
        )
        return (HEADER.format(pid=self.pid) + "".join(self.extra) + body + "</bpmn:definitions>").encode()


def two_task_loop(pid: str = "two_tasks") -> Process:
    """start -> A -> B -> (again? -> A) / end: the benchmark's two-user-task model, loopable."""
    p = Process(pid, name="Två uppgifter")
    p.start()
    p.user_task("task_a", "Uppgift A")
    p.user_task("task_b", "Uppgift B")
    p.gateway("gw_again", default="flow_done")
    p.end()
    p.chain("start", "task_a", "task_b", "gw_again")
    p.flow("gw_again", "task_a", condition="again")
    p.flow("gw_again", "end", flow_id="flow_done")
    return p


def timer_then_task(
    pid: str, name: str = "Testprocess", timer: str = "wait", task: str = "after", task_name: str = "Efter"
) -> Process:
    """start -> timer (``cycle_duration`` from the start data) -> one user task -> end: the loop
    timer the scheduler tests and benchmarks fire."""
    p = Process(pid, name=name)
    p.start()
    p.timer(timer, "cycle_duration")
    p.user_task(task, task_name)
    p.end()
    p.chain("start", timer, task, "end")
    return p


def forms(**extra: dict[str, object]) -> dict[str, str]:
    """The forms mapping for a test bundle (the simple form plus any others)."""
    out = {"simple.schema.json": json.dumps(SIMPLE_FORM)}
    out.update({name: json.dumps(schema) for name, schema in extra.items()})
    return out
