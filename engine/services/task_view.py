"""Everything the task page shows: the step's instructions and form, who else can act on it, the
person's draft, comments; and saving a draft or a comment."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, or_, select
from sqlalchemy.orm import Session

from engine.clock import utcnow
from engine.errors import NotFoundError, PermissionDeniedError, ValidationError
from engine.persistence import (
    Case,
    CaseParticipant,
    Comment,
    Measure,
    ModelVersion,
    PdsaCycle,
    TaskDraft,
    TaskIndexRow,
    User,
)
from engine.services import pdsa
from engine.services import task_names as names
from engine.services.access import case_roles, may_act, may_see, participant_roles
from engine.services.actors import Actor
from engine.services.audit import audit_row, write_audit
from engine.services.chart_data import ChartView, chart_view
from engine.services.versions import load_version

MAX_COMMENT = 5000


@dataclass(frozen=True)
class Person:
    """A person as pages show them."""

    id: int
    name: str


@dataclass(frozen=True)
class CommentView:
    """A comment with its author."""

    at: datetime
    author: str | None
    text: str
    task_id: str | None


@dataclass(frozen=True)
class TaskDetail:
    """A ready task with all a task page needs."""

    task_id: str
    name: str
    case_id: int
    case_title: str
    case_version: int
    pathway: str | None
    region: str | None
    unit: str | None
    role: str | None
    instructions: str
    form: dict[str, Any] | None
    ui_form: dict[str, Any] | None
    due_at: datetime | None
    overdue: bool
    assignee: Person | None
    waiting_on: list[Person]
    can_act: bool
    can_manage: bool
    draft: dict[str, Any] | None
    comments: list[CommentView] = field(default_factory=list)
    pdsa_stage: str | None = None
    prefill: dict[str, Any] = field(default_factory=dict)
    cycle: PdsaCycle | None = None
    charts: list[ChartView] = field(default_factory=list)


def _row(session: Session, task_id: str) -> TaskIndexRow:
    row = session.scalar(select(TaskIndexRow).where(TaskIndexRow.task_id == task_id, TaskIndexRow.kind == "user"))
    if row is None:
        raise NotFoundError("Uppgiften finns inte, eller är redan klar.")
    return row


# The task page's task, its case, the names it shows and its model version's content hash, in one
# statement (the page is opened before nearly every completion).
_DETAIL = (
    select(
        TaskIndexRow,
        Case.title.label("case_title"),
        Case.version.label("case_version"),
        Case.status.label("case_status"),
        Case.model_version_id,
        ModelVersion.content_hash,
        names.PATHWAY.label("pathway"),
        names.REGION.label("region"),
        names.UNIT.label("unit"),
        names.ROLE.label("role"),
        names.ASSIGNEE.label("assignee"),
    )
    .join(Case, Case.id == TaskIndexRow.case_id)
    .join(ModelVersion, ModelVersion.id == Case.model_version_id)
    .where(TaskIndexRow.task_id == bindparam("task_id"), TaskIndexRow.kind == "user")
)


def task_detail(session: Session, actor: Actor, task_id: str) -> TaskDetail:
    """The task page's content; PermissionDeniedError when the actor may not see the task."""
    found = session.execute(_DETAIL, {"task_id": task_id}).one_or_none()
    if found is None:
        raise NotFoundError("Uppgiften finns inte, eller är redan klar.")
    row: TaskIndexRow = found.TaskIndexRow
    roles = case_roles(session, row.case_id, actor.user_id)
    if not may_see(actor, roles, row.lane, row.unit_id, row.assignee_id):
        raise PermissionDeniedError("Du har inte rollen som uppgiften kräver.")
    version = load_version(session, found.model_version_id, found.content_hash)
    info = next(
        (t for t in version.model.user_tasks.values() if t.bpmn_id == row.bpmn_id and t.process_id == row.process_id),
        None,
    )
    assignee = Person(row.assignee_id, found.assignee) if row.assignee_id and found.assignee is not None else None
    cp = CaseParticipant
    holders = session.execute(
        select(User.id, User.display_name)
        .join(cp, cp.user_id == User.id)
        .where(
            cp.case_id == row.case_id, cp.role_code == row.lane, or_(cp.unit_id.is_(None), cp.unit_id == row.unit_id)
        )
        .where(User.active.is_(True))
        .distinct()
        .order_by(User.display_name, User.id)
    ).all()
    waiting = [assignee] if assignee else [Person(u.id, u.display_name) for u in holders]
    draft = session.scalar(
        select(TaskDraft.data).where(TaskDraft.task_id == task_id, TaskDraft.user_id == actor.user_id)
    )
    comments = [
        CommentView(c.at, name, c.text, c.task_id)
        for c, name in session.execute(
            select(Comment, User.display_name)
            .outerjoin(User, User.id == Comment.user_id)
            .where(Comment.task_id == task_id)
            .order_by(Comment.at, Comment.id)
        )
    ]
    stage = info.pdsa_stage if info else None
    cycle = pdsa.current_cycle(session, row.case_id, row.unit_id) if stage else None
    charts: list[ChartView] = []
    if stage == "study":
        # The Study compares each prediction with the measures the Plan named, in one place.
        ramp_measures = pdsa.ramp_measure_ids(session, cycle.ramp_id) if cycle else []
        measure_ids = ramp_measures or list(
            session.scalars(select(Measure.id).where(Measure.case_id == row.case_id).order_by(Measure.name))
        )
        charts = [chart_view(session, actor, mid, row.unit_id) for mid in measure_ids]
    now = utcnow()
    return TaskDetail(
        task_id=task_id,
        name=row.name,
        case_id=row.case_id,
        case_title=found.case_title,
        case_version=found.case_version,
        pathway=found.pathway,
        region=found.region,
        unit=found.unit,
        role=found.role,
        instructions=info.instructions if info else "",
        form=version.forms.get(info.form) if info and info.form else None,
        ui_form=version.forms.get(info.ui_form) if info and info.ui_form else None,
        due_at=row.due_at,
        overdue=row.due_at is not None and row.due_at < now,
        assignee=assignee,
        waiting_on=waiting,
        can_act=found.case_status == "running" and may_act(actor, roles, row.lane, row.unit_id, row.assignee_id),
        can_manage=actor.is_admin or roles.is_coordinator,
        draft=draft,
        comments=comments,
        pdsa_stage=stage,
        prefill=pdsa.prefill(session, row.case_id, row.unit_id, stage) if stage else {},
        cycle=cycle,
        charts=charts,
    )


def save_draft(session: Session, actor: Actor, task_id: str, data: dict[str, Any]) -> None:
    """Keep the actor's unfinished form for the task (replacing an earlier draft)."""
    if actor.user_id is None:
        raise PermissionDeniedError("Systemet sparar inga utkast.")
    row = _row(session, task_id)
    roles = case_roles(session, row.case_id, actor.user_id)
    if not may_act(actor, roles, row.lane, row.unit_id, row.assignee_id):
        raise PermissionDeniedError("Du har inte rollen som uppgiften kräver.")
    existing = session.scalar(select(TaskDraft).where(TaskDraft.task_id == task_id, TaskDraft.user_id == actor.user_id))
    if existing is None:
        session.add(
            TaskDraft(case_id=row.case_id, task_id=task_id, user_id=actor.user_id, data=data, saved_at=utcnow())
        )
    else:
        existing.data, existing.saved_at = data, utcnow()
    session.flush()


def delete_orphan_drafts(session: Session) -> int:
    """Drop the drafts of tasks that are no longer open (completed, or their case ended)."""
    open_tasks = select(TaskIndexRow.task_id)
    result = session.execute(delete(TaskDraft).where(TaskDraft.task_id.not_in(open_tasks)))
    return int(result.rowcount)  # type: ignore[attr-defined]


def add_comment(session: Session, actor: Actor, case_id: int, text: str, task_id: str | None = None) -> CommentView:
    """Comment on a case or one of its tasks (any participant)."""
    text = text.strip()
    if not text:
        raise ValidationError("Skriv en kommentar.", {"text": ["Skriv en kommentar."]})
    if len(text) > MAX_COMMENT:
        raise ValidationError("Kommentaren är för lång.", {"text": [f"Högst {MAX_COMMENT} tecken."]})
    if session.get(Case, case_id) is None:
        raise NotFoundError("Ärendet finns inte.")
    participant_roles(session, actor, case_id)
    if (
        task_id is not None
        and session.scalar(select(TaskIndexRow.case_id).where(TaskIndexRow.task_id == task_id)) != case_id
    ):
        raise NotFoundError("Uppgiften finns inte i ärendet.")
    comment = Comment(case_id=case_id, task_id=task_id, user_id=actor.user_id, text=text, at=utcnow())
    session.add(comment)
    write_audit(
        session, [audit_row(actor, "comment_added", case_id=case_id, task_id=task_id, details={"text": text[:200]})]
    )
    session.flush()
    return CommentView(comment.at, actor.display_name, text, task_id)


__all__ = ["CommentView", "Person", "TaskDetail", "add_comment", "save_draft", "task_detail"]
