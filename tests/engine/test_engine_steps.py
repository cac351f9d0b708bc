"""The engine steps and task walks of engine/workflow/engine_steps.py against SpiffWorkflow's own.

Every test in the suite also runs the library's ``do_engine_steps`` beside ours and compares
(``CHECK_STEPS``, set in tests/conftest.py); these tests hold the walk's order to the library's
iterator on every state of the two processes' walks, show that the check is live, pin the saving
(no walk where no engine task is ready) and the library code the module follows.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Iterator
from typing import Any

import pytest
from SpiffWorkflow.bpmn.util.task import BpmnTaskIterator
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskFilter, TaskIterator, TaskState
from sqlalchemy.orm import Session

from engine.services.case_store import lock_case
from engine.workflow import engine_steps, runtime
from tests.engine import test_processes as walks
from tests.factories import start_vgr, walk_vgr_to_units

_MASKS = [
    TaskState.READY,
    TaskState.WAITING,
    TaskState.READY | TaskState.WAITING | TaskState.ERROR,
    TaskState.NOT_FINISHED_MASK,
    TaskState.FINISHED_MASK,
    TaskState.COMPLETED,
    TaskState.DEFINITE_MASK,
    TaskState.PREDICTED_MASK,
    TaskState.ANY_MASK,
]


@pytest.fixture()
def states(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Every workflow the engine writes during a walk, compared as it is written."""
    seen: list[Any] = []
    written = runtime.dump_state

    def dump_state(workflow: Any) -> str:
        for wf in (workflow, *workflow.subprocesses.values()):
            for mask in _MASKS:
                assert list(engine_steps.tasks_in_tree_order(wf, mask)) == list(wf.get_tasks_iterator(state=mask))
        seen.append(workflow)
        return written(workflow)

    monkeypatch.setattr(runtime, "dump_state", dump_state)
    yield seen


def test_the_walk_is_the_library_iterator_on_every_vgr_state(published: Session, states: list[Any]) -> None:
    walks.test_vgr_every_branch_three_units_three_pdsa_cycles(published)
    assert len(states) >= 40


def test_the_walk_is_the_library_iterator_on_every_skane_state(published: Session, states: list[Any]) -> None:
    walks.test_skane_lag_units_follow_up_loop_and_phases(published)
    assert len(states) >= 15


def _decision_workflow(session: Session) -> tuple[Any, Any]:
    """A VGR case at its decision (step 5, a person's task followed by a gateway), loaded, and
    that task with the values that approve."""
    case_id, team, _ = start_vgr(session, units=3)
    session.commit()
    walk_vgr_to_units(session, team, case_id, through_decision=False)
    workflow = lock_case(session, case_id).workflow._wf
    session.rollback()
    decision = next(t for t in workflow.tasks.values() if t.state == TaskState.READY)
    assert decision.task_spec.name == "step_05_decision"
    decision.set_data(decision="approved", document_type="regional_riktlinje")
    return workflow, decision


def test_no_walk_where_no_engine_task_is_ready(published: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    """A case waiting only for people: the steps look at its tasks and walk nothing. Once the
    decision is made, the gateway after it is ready and its workflow is walked."""
    workflow, decision = _decision_workflow(published)
    walked: list[Any] = []
    walk = engine_steps.tasks_in_tree_order

    def counted(wf: Any, state: int = TaskState.ANY_MASK) -> Iterator[Any]:
        walked.append(wf)
        return walk(wf, state)

    monkeypatch.setattr(engine_steps, "tasks_in_tree_order", counted)
    engine_steps.do_engine_steps(workflow)
    assert walked == []
    decision.run()
    engine_steps.do_engine_steps(workflow)
    assert workflow in walked
    assert workflow.subprocesses  # the steps ran on into the units


def test_the_look_before_a_walk_sees_a_ready_engine_task_inside_a_subprocess(published: Session) -> None:
    """The look is a superset of the walk: from the top it reaches into the units' subprocesses."""
    workflow, decision = _decision_workflow(published)
    decision.run()
    engine_steps.do_engine_steps(workflow)  # on into the units, where people's tasks wait
    subprocesses = workflow.top_workflow.subprocesses
    unit, other = list(subprocesses.values())[:2]
    assert not engine_steps._holds_ready_engine_task(workflow, subprocesses)
    engine_task = next(t for t in unit.tasks.values() if not t.task_spec.manual and t.state == TaskState.FUTURE)
    engine_task._state = TaskState.READY
    assert engine_steps._holds_ready_engine_task(workflow, subprocesses)
    assert engine_steps._holds_ready_engine_task(unit, subprocesses)
    assert not engine_steps._holds_ready_engine_task(other, subprocesses)


def test_the_library_code_the_steps_follow_is_the_code_they_were_written_from() -> None:
    """engine_steps repeats SpiffWorkflow 3.2.0's engine rounds and its iterator's order: a
    SpiffWorkflow whose code for them differs needs engine_steps read against it again."""
    followed = {
        BpmnWorkflow.do_engine_steps: "0dddd74053a531e3",
        BpmnWorkflow._do_engine_steps: "1c52d09d52f72038",
        BpmnTaskIterator._next: "344c7da965a176ec",
        TaskIterator.__init__: "86cd5292d76b19c4",
        TaskFilter.matches: "a495446080b6cf4e",
    }
    for function, digest in followed.items():
        source = inspect.getsource(function).encode()
        assert hashlib.sha256(source).hexdigest()[:16] == digest, f"{function.__qualname__} changed"


def test_the_check_fails_when_the_steps_end_elsewhere(published: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    """CHECK_STEPS is live: steps that run nothing are caught."""
    workflow, decision = _decision_workflow(published)
    decision.run()
    monkeypatch.setattr(engine_steps, "_round", lambda _workflow: False)
    monkeypatch.setattr(engine_steps, "CHECK_STEPS", True)
    with pytest.raises(AssertionError, match="ended elsewhere"):
        engine_steps.do_engine_steps(workflow)
