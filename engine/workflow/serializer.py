"""Serialization of specs (once per model version) and of case state (without the spec).

SpiffWorkflow's serializer writes the whole spec into every workflow document and rebuilds the spec
objects on every load. Infora stores the spec once per model version and keeps the spec objects in
memory, so a case document holds only its task tree and loading a case reuses the cached specs.
"""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer.default.workflow import (
    BpmnWorkflowConverter,
    WorkflowConverter,
)
from SpiffWorkflow.bpmn.serializer.workflow import VERSION as SPIFF_FORMAT
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

STATE_FORMAT = "infora-state-1"


class StateOnlyWorkflowConverter(BpmnWorkflowConverter):  # type: ignore[misc]
    """Converts a top-level workflow without its spec; restores it onto given spec objects."""

    def to_dict(self, workflow: Any) -> dict[str, Any]:
        dct: dict[str, Any] = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct: dict[str, Any], spec: Any = None, subprocess_specs: Any = None) -> Any:
        if spec is None:
            raise ValueError("a case's state is restored onto the spec of its model version")
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


def _make_registry() -> Any:
    config = dict(SPIFF_CONFIG)
    config[BpmnWorkflow] = StateOnlyWorkflowConverter
    return BpmnWorkflowSerializer.configure(config)


_REGISTRY = _make_registry()
SPIFF_SERIALIZER_VERSION: str = SPIFF_FORMAT


def spec_registry() -> Any:
    """The converter registry (SpiffWorkflow's spec diff compares specs in their converted form)."""
    return _REGISTRY


def dump_spec(spec: Any, subprocess_specs: dict[str, Any]) -> str:
    """The JSON of a process spec and the specs of the processes it calls."""
    return json.dumps(
        {
            "format": SPIFF_SERIALIZER_VERSION,
            "spec": _REGISTRY.convert(spec),
            "subprocess_specs": {name: _REGISTRY.convert(s) for name, s in subprocess_specs.items()},
        },
        separators=(",", ":"),
    )


def load_spec(text: str) -> tuple[Any, dict[str, Any]]:
    """Rebuild the spec objects written by ``dump_spec``."""
    dct = json.loads(text)
    if dct.get("format") != SPIFF_SERIALIZER_VERSION:
        raise ValueError(
            f"spec written by serializer {dct.get('format')}, this engine reads {SPIFF_SERIALIZER_VERSION}"
        )
    spec = _REGISTRY.restore(dct["spec"])
    subprocess_specs = {name: _REGISTRY.restore(s) for name, s in dct["subprocess_specs"].items()}
    return spec, subprocess_specs


def dump_state(workflow: Any) -> str:
    """The JSON of a workflow's state, spec excluded."""
    dct = _REGISTRY.convert(workflow)
    dct["format"] = STATE_FORMAT
    dct["spiff"] = SPIFF_SERIALIZER_VERSION
    return json.dumps(dct, separators=(",", ":"))


def load_state(text: str, spec: Any, subprocess_specs: dict[str, Any]) -> Any:
    """Restore a workflow written by ``dump_state`` onto the given (cached) spec objects."""
    dct = json.loads(text)
    if dct.pop("format", None) != STATE_FORMAT or dct.pop("spiff", None) != SPIFF_SERIALIZER_VERSION:
        raise ValueError("the stored case state was written by another engine version")
    return _REGISTRY.restore(dct, spec=spec, subprocess_specs=subprocess_specs)
