"""The inbox ("Mina uppgifter"): the ready tasks a person may act on, across cases, with filters.
Reads the task index and reference tables only — never a workflow."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVarTuple

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from engine.clock import utcnow
from engine.persistence import Case, TaskIndexRow
from engine.services import task_names as names
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
    query = from_actionable_tasks(select(func.count()), actor, session).join(Case, Case.id == TaskIndexRow.case_id)
    return session.scalar(_filtered(query, actor, filters or InboxFilters(), utcnow())) or 0


def inbox_page(
    session: Session, actor: Actor, filters: InboxFilters | None = None, limit: int = 300, offset: int = 0
) -> tuple[list[InboxItem], int]:
    """A page of the actor's ready tasks, soonest due first (undated last), and how many there are
    in all. Plain columns, and the total as a window count in the same query: the busiest read of
    the API and the pages (ORM objects and a second query cost more than the database's work)."""
    filters = filters or InboxFilters()
    now = utcnow()
    t = TaskIndexRow
    query = from_actionable_tasks(
        select(
            t.task_id,
            t.case_id,
            t.name,
            t.due_at,
            t.assignee_id,
            Case.title,
            names.PATHWAY,
            names.REGION,
            names.UNIT,
            names.ROLE,
            names.ASSIGNEE,
            func.count().over(),
        ),
        actor,
        session,
    ).join(Case, Case.id == t.case_id)
    query = _filtered(query, actor, filters, now)
    query = query.order_by(t.due_at.is_(None), t.due_at, t.ready_at, t.id).limit(limit)
    if offset:
        query = query.offset(offset)
    rows = session.execute(query).all()
    items = [
        InboxItem(
            task_id=task_id,
            case_id=case_id,
            case_title=title,
            pathway=pathway,
            region=region,
            unit=unit,
            step=name,
            role=role,
            due_at=due_at,
            overdue=due_at is not None and due_at < now,
            assignee_id=assignee_id,
            assignee_name=assignee_name,
        )
        for task_id, case_id, name, due_at, assignee_id, title, pathway, region, unit, role, assignee_name, _n in rows
    ]
    # A page past the end has no row to carry the count: ask for it.
    total = rows[0][-1] if rows else (inbox_total(session, actor, filters) if offset else 0)
    return items, int(total)


def inbox(
    session: Session, actor: Actor, filters: InboxFilters | None = None, limit: int = 300, offset: int = 0
) -> list[InboxItem]:
    """The actor's ready tasks, soonest due first (undated last)."""
    return inbox_page(session, actor, filters, limit, offset)[0]


def inbox_count(session: Session, actor: Actor) -> int:
    """How many ready tasks the actor may act on (the header badge)."""
    query = (
        from_actionable_tasks(select(func.count()), actor, session)
        .join(Case, Case.id == TaskIndexRow.case_id)
        .where(TaskIndexRow.state == "ready", TaskIndexRow.kind == "user", Case.status == "running")
    )
    return session.scalar(query) or 0


def inbox_steps(session: Session, actor: Actor) -> list[str]:
    """The step names among the actor's tasks (for the step filter)."""
    query = (
        from_actionable_tasks(select(TaskIndexRow.name), actor, session)
        .join(Case, Case.id == TaskIndexRow.case_id)
        .where(TaskIndexRow.state == "ready", TaskIndexRow.kind == "user", Case.status == "running")
        .distinct()
        .order_by(TaskIndexRow.name)
    )
    return list(session.scalars(query))
