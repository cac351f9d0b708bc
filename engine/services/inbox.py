"""The inbox ("Mina uppgifter"): the ready tasks a person may act on, across cases, with filters.
Reads the task index and reference tables only — never a workflow."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVarTuple

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, aliased

from engine.clock import utcnow
from engine.persistence import Case, Pathway, Region, Role, TaskIndexRow, Unit, User
from engine.services.access import from_actionable_tasks
from engine.services.actors import Actor

DUE_FILTERS = ("all", "overdue", "week", "none")
_Ts = TypeVarTuple("_Ts")


@dataclass(frozen=True)
class InboxFilters:
    """What the person narrowed the inbox to."""

    pathway_id: int | None = None
    region_id: int | None = None
    step: str | None = None
    due: str = "all"
    mine_only: bool = False


@dataclass(frozen=True)
class InboxItem:
    """One ready task as the inbox lists it."""

    task_id: str
    case_id: int
    case_title: str
    pathway: str | None
    region: str | None
    unit: str | None
    step: str
    role: str | None
    due_at: datetime | None
    overdue: bool
    assignee_id: int | None
    assignee_name: str | None


def _filtered(query: Select[*_Ts], actor: Actor, filters: InboxFilters, now: datetime) -> Select[*_Ts]:
    """``query`` (over the task index joined with the case) narrowed to the inbox and its filters."""
    query = query.where(TaskIndexRow.state == "ready", TaskIndexRow.kind == "user", Case.status == "running")
    if filters.mine_only:
        query = query.where(TaskIndexRow.assignee_id == actor.user_id)
    if filters.pathway_id is not None:
        query = query.where(Case.pathway_id == filters.pathway_id)
    if filters.region_id is not None:
        query = query.where(Case.region_id == filters.region_id)
    if filters.step:
        query = query.where(TaskIndexRow.name == filters.step)
    if filters.due == "overdue":
        query = query.where(TaskIndexRow.due_at < now)
    elif filters.due == "week":
        query = query.where(TaskIndexRow.due_at < now + timedelta(days=7))
    elif filters.due == "none":
        query = query.where(TaskIndexRow.due_at.is_(None))
    return query


def inbox_total(session: Session, actor: Actor, filters: InboxFilters | None = None) -> int:
    """How many tasks the filtered inbox holds in all (for a paginated list)."""
    query = from_actionable_tasks(select(func.count()), actor).join(Case, Case.id == TaskIndexRow.case_id)
    return session.scalar(_filtered(query, actor, filters or InboxFilters(), utcnow())) or 0


def inbox(
    session: Session, actor: Actor, filters: InboxFilters | None = None, limit: int = 300, offset: int = 0
) -> list[InboxItem]:
    """The actor's ready tasks, soonest due first (undated last)."""
    filters = filters or InboxFilters()
    now = utcnow()
    assignee = aliased(User)
    query = (
        from_actionable_tasks(
            select(TaskIndexRow, Case.title, Pathway.name, Region.name, Unit.name, Role.name_sv, assignee.display_name),
            actor,
        )
        .join(Case, Case.id == TaskIndexRow.case_id)
        .outerjoin(Pathway, Pathway.id == Case.pathway_id)
        .outerjoin(Region, Region.id == Case.region_id)
        .outerjoin(Unit, Unit.id == TaskIndexRow.unit_id)
        .outerjoin(Role, Role.code == TaskIndexRow.lane)
        .outerjoin(assignee, assignee.id == TaskIndexRow.assignee_id)
    )
    query = _filtered(query, actor, filters, now)
    query = query.order_by(
        TaskIndexRow.due_at.is_(None), TaskIndexRow.due_at, TaskIndexRow.ready_at, TaskIndexRow.id
    ).limit(limit)
    if offset:
        query = query.offset(offset)
    return [
        InboxItem(
            task_id=row.task_id,
            case_id=row.case_id,
            case_title=title,
            pathway=pathway,
            region=region,
            unit=unit,
            step=row.name,
            role=role,
            due_at=row.due_at,
            overdue=row.due_at is not None and row.due_at < now,
            assignee_id=row.assignee_id,
            assignee_name=assignee_name,
        )
        for row, title, pathway, region, unit, role, assignee_name in session.execute(query)
    ]


def inbox_count(session: Session, actor: Actor) -> int:
    """How many ready tasks the actor may act on (the header badge)."""
    query = (
        from_actionable_tasks(select(func.count()), actor)
        .join(Case, Case.id == TaskIndexRow.case_id)
        .where(TaskIndexRow.state == "ready", TaskIndexRow.kind == "user", Case.status == "running")
    )
    return session.scalar(query) or 0


def inbox_steps(session: Session, actor: Actor) -> list[str]:
    """The step names among the actor's tasks (for the step filter)."""
    query = (
        from_actionable_tasks(select(TaskIndexRow.name), actor)
        .join(Case, Case.id == TaskIndexRow.case_id)
        .where(TaskIndexRow.state == "ready", TaskIndexRow.kind == "user", Case.status == "running")
        .distinct()
        .order_by(TaskIndexRow.name)
    )
    return list(session.scalars(query))
