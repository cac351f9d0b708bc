"""Use cases on human tasks: the inbox, claim, unclaim, reassign, complete."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import bindparam, literal, null, select, union_all, update
from sqlalchemy.orm import Session

from engine.clock import utcnow
from engine.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from engine.persistence import Case, CaseParticipant, FormSubmission, TaskIndexRow, User
from engine.persistence.cases import FORM_SUBMISSIONS
from engine.persistence.database import Hot, read_rows
from engine.services.access import (
    ROLES_IN_CASE,
    CaseRoles,
    case_roles,
    from_actionable_tasks,
    may_act,
    may_see,
)
from engine.services.actors import Actor
from engine.services.audit import audit_row, write_audit
from engine.services.case_store import Rows, Write, lock_case_of_task, require_running, save_case
from engine.services.forms import validate_form_data
from engine.services.pdsa import record_step
from engine.workflow import HumanTask, WaitingEvent


class Completion(NamedTuple):
    """What completing a task did: the case it belongs to and the case's new version."""

    case_id: int
    case_version: int


@dataclass(frozen=True)
class TaskView:
    """A ready human task as an inbox shows it."""

    task_id: str
    case_id: int
    case_title: str
    bpmn_id: str
    name: str
    lane: str | None
    unit_id: int | None
    assignee_id: int | None
    form: str | None
    ready_at: datetime
    due_at: datetime | None


def _view(row: TaskIndexRow, title: str) -> TaskView:
    return TaskView(
        task_id=row.task_id,
        case_id=row.case_id,
        case_title=title,
        bpmn_id=row.bpmn_id,
        name=row.name,
        lane=row.lane,
        unit_id=row.unit_id,
        assignee_id=row.assignee_id,
        form=row.form,
        ready_at=row.ready_at,
        due_at=row.due_at,
    )


def list_tasks(session: Session, actor: Actor, *, case_id: int | None = None, limit: int = 500) -> list[TaskView]:
    """The ready human tasks the actor may see (their own, their roles', their coordinated cases'),
    soonest due first. Reads the task index only."""
    query = (
        from_actionable_tasks(select(TaskIndexRow, Case.title), actor, session)
        .join(Case, Case.id == TaskIndexRow.case_id)
        .where(TaskIndexRow.state == "ready", TaskIndexRow.kind == "user", Case.status == "running")
        .order_by(TaskIndexRow.due_at.is_(None), TaskIndexRow.due_at, TaskIndexRow.ready_at, TaskIndexRow.id)
        .limit(limit)
    )
    if case_id is not None:
        query = query.where(TaskIndexRow.case_id == case_id)
    return [_view(row, title) for row, title in session.execute(query)]


def _task_row(session: Session, task_id: str) -> TaskIndexRow:
    row = session.scalar(select(TaskIndexRow).where(TaskIndexRow.task_id == task_id))
    if row is not None and row.kind != "user":
        raise ConflictError("Steget är inte en uppgift att utföra än: ärendet väntar på en händelse.")
    if row is None:
        done = session.scalar(select(FormSubmission.id).where(FormSubmission.task_id == task_id).limit(1))
        if done is not None:
            raise ConflictError("Uppgiften är redan klar.")
        raise NotFoundError("Uppgiften finns inte.")
    return row


def get_task(session: Session, actor: Actor, task_id: str) -> TaskView:
    """One ready task the actor may see."""
    row = _task_row(session, task_id)
    roles = case_roles(session, row.case_id, actor.user_id)
    if not may_see(actor, roles, row.lane, row.unit_id, row.assignee_id):
        raise PermissionDeniedError("Du har inte rollen som uppgiften kräver.")
    title = session.scalar(select(Case.title).where(Case.id == row.case_id)) or ""
    return _view(row, title)


def claim_task(session: Session, actor: Actor, task_id: str) -> TaskView:
    """Take a task for yourself, so others with the role see that you are on it."""
    row = _task_row(session, task_id)
    roles = case_roles(session, row.case_id, actor.user_id)
    if row.assignee_id == actor.user_id:
        return get_task(session, actor, task_id)
    # Who may see the task first: someone outside it learns nothing about its state (403, not 409).
    if not may_see(actor, roles, row.lane, row.unit_id, row.assignee_id):
        raise PermissionDeniedError("Du har inte rollen som uppgiften kräver.")
    if row.assignee_id is not None:
        raise ConflictError("Uppgiften är redan tagen av någon annan.")
    if not may_act(actor, roles, row.lane, row.unit_id, None):
        raise PermissionDeniedError("Du har inte rollen som uppgiften kräver.")
    result = session.execute(
        update(TaskIndexRow)
        .where(TaskIndexRow.id == row.id, TaskIndexRow.assignee_id.is_(None))
        .values(assignee_id=actor.user_id)
        .execution_options(synchronize_session="fetch")
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise ConflictError("Uppgiften togs av någon annan samtidigt.")
    write_audit(
        session,
        [audit_row(actor, "task_claimed", case_id=row.case_id, task_id=task_id, after={"assignee_id": actor.user_id})],
    )
    return get_task(session, actor, task_id)


def unclaim_task(session: Session, actor: Actor, task_id: str) -> TaskView:
    """Give a claimed task back to everyone with the role (the assignee or a coordinator)."""
    row = _task_row(session, task_id)
    roles = case_roles(session, row.case_id, actor.user_id)
    if not may_see(actor, roles, row.lane, row.unit_id, row.assignee_id):
        raise PermissionDeniedError("Du har inte rollen som uppgiften kräver.")
    if row.assignee_id is None:
        raise ConflictError("Uppgiften är inte tagen av någon.")
    if row.assignee_id != actor.user_id and not (actor.is_admin or roles.is_coordinator):
        raise PermissionDeniedError("Bara den som tagit uppgiften eller koordinatorn kan lämna tillbaka den.")
    return _set_assignee(session, actor, row, None, "task_unclaimed")


def reassign_task(session: Session, actor: Actor, task_id: str, user_id: int) -> TaskView:
    """Assign a task to a person (coordinators and admins only); it then shows in their inbox."""
    row = _task_row(session, task_id)
    roles = case_roles(session, row.case_id, actor.user_id)
    if not (actor.is_admin or roles.is_coordinator):
        raise PermissionDeniedError("Bara ärendets koordinator kan tilldela uppgifter.")
    user = session.get(User, user_id)
    if user is None or not user.active:
        raise ValidationError("Personen finns inte.", {"user_id": ["Personen finns inte eller är inaktiverad."]})
    return _set_assignee(session, actor, row, user_id, "task_reassigned")


def _set_assignee(session: Session, actor: Actor, row: TaskIndexRow, user_id: int | None, action: str) -> TaskView:
    before = row.assignee_id
    row.assignee_id = user_id
    write_audit(
        session,
        [
            audit_row(
                actor,
                action,
                case_id=row.case_id,
                task_id=row.task_id,
                before={"assignee_id": before},
                after={"assignee_id": user_id},
            )
        ],
    )
    session.flush()
    return _view(row, session.scalar(select(Case.title).where(Case.id == row.case_id)) or "")


# A locked case's index rows and the actor's roles in it, in one round trip (``source`` tells which;
# ``key`` is the task id or the role code).
_CASE_INDEX_AND_ROLES = Hot(
    union_all(
        select(
            literal("task").label("source"),
            TaskIndexRow.task_id.label("key"),
            TaskIndexRow.unit_id,
            TaskIndexRow.kind,
            TaskIndexRow.lane,
            TaskIndexRow.assignee_id,
            TaskIndexRow.due_at,
        ).where(TaskIndexRow.case_id == bindparam("case_id")),
        ROLES_IN_CASE.with_only_columns(
            literal("role"), CaseParticipant.role_code, CaseParticipant.unit_id, null(), null(), null(), null()
        ),
    )
)


def _loop_timer(waiting: list[WaitingEvent], task: HumanTask) -> datetime | None:
    """When the timer the task's process (in the same unit) now waits for fires, if any."""
    dues = [
        e.due_at
        for e in waiting
        if e.kind == "timer" and e.due_at and e.process_id == task.process_id and e.unit_id == task.unit_id
    ]
    return min(dues) if dues else None


def complete_task(
    session: Session,
    actor: Actor,
    task_id: str,
    data: dict[str, Any],
    *,
    expected_version: int | None = None,
) -> Completion:
    """Complete a ready task with its form data and run the case on to its next waits.

    The submitted values are validated against the task's form and kept whole in a form submission;
    the workflow receives only the values its expressions read. Returns the case and its new version.

    Raises NotFoundError, PermissionDeniedError (lane role missing, claimed by someone else),
    ConflictError (not ready, already done, stale version, case not running), ValidationError
    (field-level messages). On any error nothing is changed.
    """
    # Find and lock the task's case in one statement, then read its index rows under the lock.
    try:
        locked = lock_case_of_task(session, task_id, expected_version=expected_version)
    except NotFoundError:
        _task_row(session, task_id)  # raises the precise error: done already, waiting, or unknown
        raise
    case_id = locked.case.id
    rows: dict[str, Any] = {}
    holdings: set[tuple[str, int | None]] = set()
    for r in read_rows(session, _CASE_INDEX_AND_ROLES, {"case_id": case_id, "user_id": actor.user_id}):
        if r.source == "task":
            rows[r.key] = r
        else:
            holdings.add((r.key, r.unit_id))
    row = rows.get(task_id)
    if row is None or row.kind != "user":
        _task_row(session, task_id)
        raise ConflictError("Uppgiften är inte redo att utföras.")
    require_running(locked.case)
    roles = CaseRoles(frozenset(holdings))
    if not may_act(actor, roles, row.lane, row.unit_id, row.assignee_id):
        if row.assignee_id is not None and roles.holds(row.lane, row.unit_id):
            raise PermissionDeniedError("Uppgiften är tagen av någon annan.")
        raise PermissionDeniedError("Du har inte rollen som uppgiften kräver.")
    task = locked.workflow.ready_task(task_id)
    info = task.info
    if info is not None and info.form:
        validate_form_data(locked.version.validator(info.form), data)
    elif data:
        raise ValidationError("Uppgiften har inget formulär.", {"": ["Uppgiften tar inga värden."]})
    variables = locked.version.model.variables
    locked.workflow.complete(task_id, {k: v for k, v in data.items() if k in variables})
    writes: list[Write] = []
    if info is not None and info.pdsa_stage:
        record_step(session, case_id=case_id, unit_id=task.unit_id, stage=info.pdsa_stage, data=data,
                    loop_ends_at=_loop_timer(locked.workflow.waiting_events(), task), together=writes)  # fmt: skip
    submission = {
        "case_id": case_id,
        "task_id": task_id,
        "bpmn_id": task.bpmn_id,
        "task_name": task.name,
        "unit_id": task.unit_id,
        "submitted_by_id": actor.user_id,
        "submitted_at": utcnow(),
        "data": data,
    }
    audit = [
        audit_row(
            actor,
            "task_completed",
            case_id=case_id,
            task_id=task_id,
            after=data,
            details={"bpmn_id": task.bpmn_id, "name": task.name, "unit_id": task.unit_id},
        )
    ]
    dues = {tid: r.due_at if r.kind == "user" else None for tid, r in rows.items()}
    writes.append(Rows(FORM_SUBMISSIONS, [submission]))
    save_case(session, actor, locked, audit, indexed=dues, together=writes)
    # The task's drafts are left for the scheduler to sweep (``delete_orphan_drafts``): one
    # statement less on every completion, and a draft of a finished task is never shown.
    return Completion(case_id, locked.case.version)
