"""When the engine cannot continue a case (a condition reads data the case lacks), the completion is
refused with a plain message and nothing is stored; and a READY check guards every completion."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.errors import ConflictError, NotFoundError, WorkflowError
from engine.persistence import AuditEvent, Case, FormSubmission
from engine.services import SYSTEM_ACTOR, complete_task, list_tasks, publish_model_version, start_case
from engine.workflow import CaseWorkflow, compile_bundle
from tests.bpmn_builder import Process, forms, two_task_loop
from tests.factories import make_actor


def _missing_variable_process() -> Process:
    p = Process("needs_data")
    p.start()
    p.user_task("ask", "Fråga")
    p.gateway("gw", default="flow_default")
    p.user_task("yes", "Ja")
    p.end()
    p.chain("start", "ask", "gw")
    p.flow("gw", "yes", condition="answer == 'ja'")  # 'answer' is in no form
    p.flow("gw", "end", flow_id="flow_default")
    p.flow("yes", "end")
    return p


def test_a_condition_on_missing_data_refuses_the_completion_and_changes_nothing(reference: Session) -> None:
    s = reference
    process = _missing_variable_process()
    publish_model_version(s, SYSTEM_ACTOR, "needs_data", {"needs_data.bpmn": process.xml()}, forms())
    coordinator = make_actor(s, "koord", "coordinator")
    case = start_case(s, coordinator, process_id="needs_data", title="Saknar data")
    s.commit()
    (task,) = list_tasks(s, coordinator)
    before = s.get(Case, case.id)
    assert before is not None
    version, state = before.version, s.scalar(select(Case.state).where(Case.id == case.id))
    with pytest.raises(WorkflowError, match="'answer' finns inte"):
        complete_task(s, coordinator, task.task_id, {"comment": "hej"})
    s.rollback()
    s.expire_all()
    after = s.get(Case, case.id)
    assert after is not None and after.version == version
    assert s.scalar(select(Case.state).where(Case.id == case.id)) == state
    assert s.scalar(select(func.count()).select_from(FormSubmission)) == 0
    assert s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "task_completed")) == 0
    assert [t.task_id for t in list_tasks(s, coordinator)] == [task.task_id]


def test_the_runtime_refuses_tasks_that_are_not_ready() -> None:
    model = compile_bundle("two_tasks", {"two.bpmn": two_task_loop().xml()}, forms(), {"rpt": "rpt"}).model
    wf = CaseWorkflow.start(model, {})
    first = wf.human_tasks()[0].task_id
    wf.complete(first, {})
    with pytest.raises(ConflictError, match="redan klar"):
        wf.complete(first, {})
    future = next(t for t in wf._wf.get_tasks() if t.task_spec.name == "task_a" and str(t.id) != first)
    with pytest.raises(ConflictError, match="inte redo"):
        wf.complete(str(future.id), {})
    with pytest.raises(NotFoundError):
        wf.complete("8c0b6f5e-0000-4000-8000-000000000000", {})
    assert [t.bpmn_id for t in wf.human_tasks()] == ["task_b"]
