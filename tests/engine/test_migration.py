"""Moving a running case's workflow to another model version (engine.workflow.migration): what may
move, what may not and why, and that nothing the case has done is redone."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
import time_machine

from engine.workflow.compiler import compile_bundle
from engine.workflow.migration import MigrationBlockedError, check_migration, migrate_case
from engine.workflow.model import CompiledModel
from engine.workflow.runtime import CaseWorkflow
from tests.bpmn_builder import Process, forms
from tests.engine.test_validation import ROLES

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def _model(steps: list[str], pid: str = "p") -> CompiledModel:
    """start -> the steps (user tasks, or 't' for a three-month timer) -> end."""
    p = Process(pid)
    p.start()
    for step in steps:
        if step == "t":
            p.timer("t", "P3M")
        else:
            p.user_task(step, step.upper())
    p.end()
    p.chain("start", *steps, "end")
    return compile_bundle(pid, {"m.bpmn": p.xml()}, forms(), ROLES).model


def _at(model: CompiledModel, done: int) -> CaseWorkflow:
    case = CaseWorkflow.start(model, {})
    for _ in range(done):
        case.complete(case.human_tasks()[0].task_id, {})
    return case


def _ready(case: CaseWorkflow) -> list[str]:
    return [t.bpmn_id for t in case.human_tasks()]


def test_a_step_added_ahead_is_taken_and_the_ready_task_keeps_its_id() -> None:
    old, new = _model(["a", "b", "c"]), _model(["a", "b", "x", "c"])
    case = _at(old, 1)
    (ready,) = case.human_tasks()
    assert ready.bpmn_id == "b"
    state = case.dump()
    assert check_migration(old, state, new) == []
    moved = migrate_case(old, state, new)
    assert [(t.bpmn_id, t.task_id) for t in moved.human_tasks()] == [("b", ready.task_id)]
    moved = CaseWorkflow.load(new, moved.dump())
    moved.complete(ready.task_id, {})
    assert _ready(moved) == ["x"]  # the new step, then on to c
    moved.complete(moved.human_tasks()[0].task_id, {})
    assert _ready(moved) == ["c"]


def test_a_step_removed_ahead_is_skipped() -> None:
    old, new = _model(["a", "b", "c"]), _model(["a", "c"])
    case = _at(old, 0)
    moved = migrate_case(old, case.dump(), new)
    moved.complete(moved.human_tasks()[0].task_id, {})
    assert _ready(moved) == ["c"]


def test_the_current_step_removed_blocks_the_move_and_says_which() -> None:
    old, new = _model(["a", "b", "c"]), _model(["a", "c"])
    state = _at(old, 1).dump()
    (issue,) = check_migration(old, state, new)
    assert (issue.bpmn_id, issue.message) == (
        "b",
        "Steget 'B' väntar på att utföras men finns inte i den nya versionen.",
    )
    with pytest.raises(MigrationBlockedError) as err:
        migrate_case(old, state, new)
    assert err.value.issues == [issue]


def test_another_process_is_refused() -> None:
    old, other = _model(["a"]), _model(["a"], pid="q")
    (issue,) = check_migration(old, _at(old, 0).dump(), other)
    assert "samma process" in issue.message


def test_a_waiting_timer_keeps_its_due_time() -> None:
    old, new = _model(["a", "t", "c"]), _model(["a", "t", "x", "c"])
    with time_machine.travel(T0, tick=False):
        case = _at(old, 1)
        due = case.next_timer_at()
        assert due is not None
    with time_machine.travel(datetime(2026, 4, 1, tzinfo=timezone.utc), tick=False):
        moved = migrate_case(old, case.dump(), new)
        assert moved.next_timer_at() == due  # not restarted by the move


def test_moving_back_undoes_a_move() -> None:
    old, new = _model(["a", "b", "c"]), _model(["a", "b", "x", "c"])
    case = _at(old, 1)
    there = migrate_case(old, case.dump(), new)
    back = migrate_case(new, there.dump(), old)
    back.complete(back.human_tasks()[0].task_id, {})
    assert _ready(back) == ["c"]
