"""Serialization of specs (once per model version) and of case state (without the spec).

SpiffWorkflow's serializer writes the whole spec into every workflow document and rebuilds the spec
objects on every load. Infora stores the spec once per model version and keeps the spec objects in
memory, so a case document holds only its task tree and loading a case reuses the cached specs.

The task trees (of the process and of each subprocess) are written and read by our own loops, not
by the registry's generic walk over every value: every completion and timer firing loads and
dumps its case, and the generic walk was a fifth of a completion's CPU. The document is the one
SpiffWorkflow's ``TaskConverter`` writes, key for key (tests/engine/test_serializer.py holds both
ways to it), so stored cases need no migration and the library's own converter still reads them.
Reading parses each task id once and shares that UUID object between the task, its parent's list
of children and the workflow's mapping: the engine then finds a task's parent by identity instead
of comparing UUIDs. A task's data is plain JSON both ways: written as it is (as the library does)
and read as it is (the library sends it through its registry, which mistakes a value shaped like
one of its objects for that object).
"""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer.default.workflow import (
    BpmnSubWorkflowConverter,
    BpmnWorkflowConverter,
    WorkflowConverter,
)
from SpiffWorkflow.bpmn.serializer.workflow import VERSION as SPIFF_FORMAT
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.bpmn.util.subworkflow import BpmnSubWorkflow
from SpiffWorkflow.specs.StartTask import StartTask
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from engine import json_text

STATE_FORMAT = "infora-state-1"


_MUTABLE = (dict, list, set)
_new_task = object.__new__


def _tasks_to_dict(registry: Any, workflow: Any) -> dict[str, Any]:
    """A workflow's tasks as ``TaskConverter.to_dict`` writes them (each task's data as the
    changes from its parent's), with each id turned into text once."""
    tasks: dict[UUID, Any] = workflow.tasks
    names = {tid: str(tid) for tid in tasks}
    out: dict[str, Any] = {}
    for tid, task in tasks.items():
        parent = tasks.get(task._parent)
        if parent is None:
            data, delta = task.data, {}
        else:
            before, after = parent.data, task.data
            data = {}
            delta = {
                "updates": {k: v for k, v in after.items() if k not in before or v != before[k]},
                "deletions": [k for k in before if k not in after],
            }
        internal = task.internal_data
        out[names[tid]] = {
            "id": names[tid],
            "parent": names[task._parent] if parent is not None else None,
            "children": [names.get(child) or str(child) for child in task._children],
            "last_state_change": task.last_state_change,
            "state": task._state,
            "task_spec": task.task_spec.name,
            "triggered": task.triggered,
            "internal_data": registry.convert(internal) if internal else {},
            "data": data,
            "delta": delta,
            "typename": "Task",
        }
    return out


def _restore_tasks(registry: Any, dct: dict[str, Any], workflow: Any) -> None:
    """Restore the tasks written by ``_tasks_to_dict`` (or by ``TaskConverter``) into ``workflow``,
    as ``TaskConverter.from_dict`` does, with one UUID object per task id. Each task enters
    ``workflow.tasks`` as it is made, in the document's order (parents first)."""
    ids = {name: UUID(name) for name in dct}
    specs = workflow.spec.task_specs
    tasks = workflow.tasks
    events = workflow.top_workflow.event_manager
    restore = registry.restore
    for name, item in dct.items():
        spec = specs.get(item["task_spec"])
        # What ``Task(workflow, spec, state=..., id=...)`` sets, set once: its constructor sets
        # children, data and times that are overwritten at once below (tests/engine/
        # test_serializer.py holds the attributes to the constructor's).
        task = _new_task(Task)
        task.id = uid = ids[name]
        tasks[uid] = task
        task.workflow = workflow
        task.task_spec = spec if spec else StartTask(workflow.spec)
        task.thread_id = Task.thread_id_pool
        task._state = item["state"]
        parent_id = item["parent"]
        task._parent = None if parent_id is None else (ids.get(parent_id) or UUID(parent_id))
        task._children = [ids.get(child) or UUID(child) for child in item["children"]]
        task.last_state_change = item["last_state_change"]
        task.triggered = item["triggered"]
        internal = item["internal_data"]
        task.internal_data = restore(internal) if internal else {}
        if isinstance(spec, CatchingEvent) and task.has_state(TaskState.WAITING):
            events.add_task(task)
        # A task's data is plain JSON, written as it is (``_tasks_to_dict``), so it is read as it
        # is: not through the registry, which would turn a value shaped like one of its objects
        # ({"typename": "datetime", ...}) into that object, and walked every value for nothing.
        delta = item.get("delta")
        parent = tasks.get(task._parent)
        if delta and parent is not None:
            # DeepMerge.merge({}, parent.data): the parent's values, containers copied one level.
            data = {k: (v.copy() if isinstance(v, _MUTABLE) else v) for k, v in parent.data.items()}
            updates = delta.get("updates")
            if updates:
                data.update(updates)
            for key in delta.get("deletions", {}):
                data.pop(key, None)
        else:
            data = item["data"]
        task.data = data


def _workflow_to_dict(converter: WorkflowConverter, workflow: Any) -> dict[str, Any]:
    """``WorkflowConverter.to_dict`` with the task tree written by ``_tasks_to_dict``."""
    registry = converter.registry
    return {
        "data": registry.convert(registry.clean(workflow.data)),
        "correlations": workflow.correlations,
        "last_task": str(workflow.last_task.id) if workflow.last_task is not None else None,
        "success": workflow.success,
        "completed": workflow.completed,
        "tasks": _tasks_to_dict(registry, workflow),
        "root": str(workflow.task_tree.id),
    }


class StateOnlyWorkflowConverter(BpmnWorkflowConverter):  # type: ignore[misc]
    """Converts a top-level workflow without its spec; restores it onto given spec objects."""

    def to_dict(self, workflow: Any) -> dict[str, Any]:
        dct = _workflow_to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct: dict[str, Any], spec: Any = None, subprocess_specs: Any = None) -> Any:
        if spec is None:
            raise ValueError("a case's state is restored onto the spec of its model version")
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        _restore_tasks(self.registry, dct["tasks"], workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


class SubWorkflowStateConverter(BpmnSubWorkflowConverter):  # type: ignore[misc]
    """``BpmnSubWorkflowConverter`` with the task tree written and read by our loops."""

    def to_dict(self, workflow: Any) -> dict[str, Any]:
        dct = _workflow_to_dict(self, workflow)
        dct["parent_task_id"] = str(workflow.parent_task_id)
        dct["spec"] = workflow.spec.name
        return dct

    def from_dict(self, dct: dict[str, Any], task: Any, top_workflow: Any) -> Any:
        spec = top_workflow.subprocess_specs.get(task.task_spec.spec)
        subprocess = self.target_class(spec, task.id, top_workflow, deserializing=True)
        _restore_tasks(self.registry, dct["tasks"], subprocess)
        subprocess.task_tree = subprocess.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(subprocess, dct)
        return subprocess


def _make_registry() -> Any:
    config = dict(SPIFF_CONFIG)
    config[BpmnWorkflow] = StateOnlyWorkflowConverter
    config[BpmnSubWorkflow] = SubWorkflowStateConverter
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
    return json_text.dumps(dct)


def load_state(text: str, spec: Any, subprocess_specs: dict[str, Any]) -> Any:
    """Restore a workflow written by ``dump_state`` onto the given (cached) spec objects."""
    dct = json_text.loads(text)
    if dct.pop("format", None) != STATE_FORMAT or dct.pop("spiff", None) != SPIFF_SERIALIZER_VERSION:
        raise ValueError("the stored case state was written by another engine version")
    return _REGISTRY.restore(dct, spec=spec, subprocess_specs=subprocess_specs)
