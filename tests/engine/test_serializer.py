"""The case state is written and read by our own loops (engine/workflow/serializer.py); these tests
hold it to SpiffWorkflow's own converters, document for document, over whole walks of both shipped
processes, and hold the JSON codec to what the standard library did."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import date
from typing import Any
from uuid import UUID

import pytest
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState
from sqlalchemy.orm import Session

from engine import json_text
from engine.services.case_store import lock_case
from engine.workflow import runtime, serializer
from tests.engine import test_processes as walks
from tests.factories import start_vgr


class _LibraryStateConverter(BpmnWorkflowConverter):  # type: ignore[misc]
    """The top-level converter as SpiffWorkflow writes it, spec left out (as ours does), with the
    library's own task and subprocess converters underneath."""

    def to_dict(self, workflow: Any) -> dict[str, Any]:
        dct: dict[str, Any] = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct: dict[str, Any], spec: Any = None, subprocess_specs: Any = None) -> Any:
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


_LIBRARY = BpmnWorkflowSerializer.configure({**SPIFF_CONFIG, BpmnWorkflow: _LibraryStateConverter})


def _text(registry: Any, workflow: Any) -> str:
    return json.dumps(registry.convert(workflow))


def _restore(registry: Any, document: str, workflow: Any) -> Any:
    return registry.restore(json.loads(document), spec=workflow.spec, subprocess_specs=workflow.subprocess_specs)


class _Checked:
    """Every state the engine writes during a walk, checked against the library's converters."""

    def __init__(self) -> None:
        self.states = 0
        self.tasks = 0
        self.subprocesses = 0

    def check(self, workflow: Any) -> None:
        ours = _text(serializer._REGISTRY, workflow)
        assert ours == _text(_LIBRARY, workflow)
        # Read back by ours and by the library: the same workflow, written alike by either. (The
        # library's own round trip may list subprocesses in another order: compared as values.)
        by_ours, by_library = _restore(serializer._REGISTRY, ours, workflow), _restore(_LIBRARY, ours, workflow)
        again = _text(_LIBRARY, by_library)
        assert _text(_LIBRARY, by_ours) == again
        assert _text(serializer._REGISTRY, by_ours) == again
        assert json.loads(again) == json.loads(ours)
        self.states += 1
        self.tasks += sum(len(wf.tasks) for wf in (workflow, *workflow.subprocesses.values()))
        self.subprocesses += len(workflow.subprocesses)


@pytest.fixture()
def checked(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Checked]:
    found = _Checked()
    written = serializer.dump_state

    def dump_state(workflow: Any) -> str:
        found.check(workflow)
        return written(workflow)

    monkeypatch.setattr(runtime, "dump_state", dump_state)
    yield found


def test_every_state_of_a_vgr_walk_is_the_library_document(published: Session, checked: _Checked) -> None:
    """Three units, three PDSA cycles each, subprocesses, signals and timers over months."""
    walks.test_vgr_every_branch_three_units_three_pdsa_cycles(published)
    assert checked.states >= 40 and checked.tasks >= 1000 and checked.subprocesses >= 80


def test_every_state_of_a_skane_walk_is_the_library_document(published: Session, checked: _Checked) -> None:
    """The LAG phases, the follow-up loop and two timers waiting at once."""
    walks.test_skane_lag_units_follow_up_loop_and_phases(published)
    assert checked.states >= 15 and checked.tasks >= 350 and checked.subprocesses >= 10


def test_a_loaded_task_shares_its_id_with_its_parent_s_children(published: Session) -> None:
    """One UUID object per id: the engine's look-ups of a parent then match by identity."""
    case_id, _, _ = start_vgr(published, units=2)
    published.commit()
    workflow = lock_case(published, case_id).workflow._wf
    for wf in (workflow, *workflow.subprocesses.values()):
        keys = {tid: tid for tid in wf.tasks}
        for tid, task in wf.tasks.items():
            assert task.id is tid
            if task._parent in keys:
                assert task._parent is keys[task._parent]
            for child in task._children:
                assert child is keys.get(child, child)
    published.rollback()


def test_task_data_shaped_like_a_library_object_reads_back_as_it_was(published: Session) -> None:
    """Task data is plain JSON: a value that looks like one of the registry's objects (a datetime
    as SpiffWorkflow writes one) stays that value, and the case can still be written."""
    case_id, _, _ = start_vgr(published, units=2)
    published.commit()
    workflow = lock_case(published, case_id).workflow._wf
    published.rollback()
    shaped = {"typename": "datetime", "value": "2026-01-01T00:00:00"}
    ready = next(
        t for wf in (workflow, *workflow.subprocesses.values()) for t in wf.tasks.values() if t.state == TaskState.READY
    )
    ready.set_data(note=shaped, notes=[shaped])
    loaded = serializer.load_state(serializer.dump_state(workflow), workflow.spec, workflow.subprocess_specs)
    again = next(t for wf in (loaded, *loaded.subprocesses.values()) for t in wf.tasks.values() if t.id == ready.id)
    assert again.data["note"] == shaped and again.data["notes"] == [shaped]
    serializer.dump_state(loaded)  # a datetime here would not be JSON


def test_a_restored_task_has_the_attributes_the_library_s_constructor_gives(published: Session) -> None:
    """Restored tasks are made without ``Task.__init__`` (serializer._restore_tasks sets each
    attribute once): they must have every attribute a task made by the library has, no more."""
    case_id, _, _ = start_vgr(published, units=2)
    published.commit()
    workflow = lock_case(published, case_id).workflow._wf
    published.rollback()
    made = Task(workflow, workflow.spec.start, state=TaskState.FUTURE)
    del workflow.tasks[made.id]
    restored = [t for wf in (workflow, *workflow.subprocesses.values()) for t in wf.tasks.values()]
    assert restored and all(vars(task).keys() == vars(made).keys() for task in restored)
    assert all(type(task) is Task and task.thread_id == made.thread_id for task in restored)


def test_json_text_writes_compact_text_and_keeps_non_ascii() -> None:
    assert json_text.dumps({"namn": "Förbättring", "n": [1, 2.5, None, True]}) == (
        '{"namn":"Förbättring","n":[1,2.5,null,true]}'
    )
    assert json_text.dumps({1: "a"}) == '{"1":"a"}'  # keys become text, as json does


def test_json_text_hands_what_orjson_refuses_to_the_standard_library() -> None:
    big = 2**70
    assert json_text.loads(json_text.dumps({"v": big})) == {"v": big}
    with pytest.raises(TypeError):
        json_text.dumps({"when": date(2026, 1, 1)})  # not JSON: refused as before, not written
    assert math.isnan(json_text.loads('{"v":NaN}')["v"])  # a document the standard library wrote
    assert json_text.dumps({"v": float("nan")}) == '{"v":null}'
    with pytest.raises(ValueError):
        json_text.loads("{not json")
