"""The portfolio ("Översikt"): every introduction by pathway and region, what step it is at, what is
late and when its next learning loop ends — so a coordinator sees at a glance what is stuck.
Indexed tables only; never a workflow."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session

from engine.clock import utcnow
from engine.persistence import Case, CaseParticipant, Pathway, Region, TaskIndexRow
from engine.services.actors import Actor

STALE_AFTER = timedelta(days=30)


@dataclass(frozen=True)
class PortfolioRow:
    """One introduction."""

    case_id: int
    title: str
    pathway: str | None
    region: str | None
    status: str
    phase: str | None
    current_step: str | None
    open_tasks: int
    overdue: int
    next_loop_end: datetime | None
    updated_at: datetime
    stale: bool


@dataclass
class Portfolio:
    """A page of introductions, and counts per pathway and region."""

    rows: list[PortfolioRow]
    total: int
    page: int
    per_page: int
    matrix: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)
    pathways: list[str] = field(default_factory=list)
    regions: list[str] = field(default_factory=list)


def portfolio(
    session: Session,
    actor: Actor,
    *,
    pathway_id: int | None = None,
    region_id: int | None = None,
    attention_only: bool = False,
    page: int = 1,
    per_page: int = 50,
) -> Portfolio:
    """Coordinators and admins see every introduction; others the cases they take part in. Cases
    needing attention (late tasks) come first."""
    now = utcnow()
    page = max(1, page)
    overdue = (
        select(func.count())
        .where(TaskIndexRow.case_id == Case.id, TaskIndexRow.kind == "user", TaskIndexRow.due_at < now)
        .correlate(Case)
        .scalar_subquery()
    )
    has_overdue = (
        select(TaskIndexRow.id)
        .where(TaskIndexRow.case_id == Case.id, TaskIndexRow.kind == "user", TaskIndexRow.due_at < now)
        .correlate(Case)
        .exists()
    )
    scope: list[ColumnElement[bool]] = [Case.status.in_(("running", "suspended", "completed"))]
    if not actor.is_coordinator:
        scope.append(Case.id.in_(select(CaseParticipant.case_id).where(CaseParticipant.user_id == actor.user_id)))
    if pathway_id is not None:
        scope.append(Case.pathway_id == pathway_id)
    if region_id is not None:
        scope.append(Case.region_id == region_id)
    matrix_scope = list(scope)  # the counts per pathway and region ignore the attention filter
    if attention_only:
        scope.append(has_overdue)
    total = session.scalar(select(func.count()).select_from(Case).where(and_(*scope))) or 0
    current_step = (
        select(TaskIndexRow.name)
        .where(TaskIndexRow.case_id == Case.id, TaskIndexRow.kind == "user")
        .order_by(TaskIndexRow.ready_at)
        .limit(1)
        .correlate(Case)
        .scalar_subquery()
    )
    open_tasks = (
        select(func.count())
        .where(TaskIndexRow.case_id == Case.id, TaskIndexRow.kind == "user")
        .correlate(Case)
        .scalar_subquery()
    )
    loop_end = (
        select(func.min(TaskIndexRow.due_at))
        .where(TaskIndexRow.case_id == Case.id, TaskIndexRow.kind == "timer")
        .correlate(Case)
        .scalar_subquery()
    )
    query = (
        select(Case, Pathway.name, Region.name, current_step, open_tasks, overdue, loop_end)
        .outerjoin(Pathway, Pathway.id == Case.pathway_id)
        .outerjoin(Region, Region.id == Case.region_id)
        .where(and_(*scope))
        .order_by(has_overdue.desc(), (Case.status == "running").desc(), Pathway.name, Region.name, Case.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    rows = [
        PortfolioRow(
            case_id=case.id, title=case.title, pathway=pathway, region=region, status=case.status, phase=case.phase,
            current_step=step, open_tasks=n_open or 0, overdue=n_late or 0, next_loop_end=end,
            updated_at=case.updated_at, stale=case.status == "running" and case.updated_at < now - STALE_AFTER,
        )
        for case, pathway, region, step, n_open, n_late, end in session.execute(query)
    ]  # fmt: skip
    matrix: dict[tuple[str, str], dict[str, int]] = {}
    counts = session.execute(
        select(Pathway.name, Region.name, Case.status, Case.phase, func.count())
        .select_from(Case)
        .outerjoin(Pathway, Pathway.id == Case.pathway_id)
        .outerjoin(Region, Region.id == Case.region_id)
        .where(and_(*matrix_scope))
        .group_by(Pathway.name, Region.name, Case.status, Case.phase)
    )
    regions: set[str] = set()
    pathways: set[str] = set()
    for pathway, region, status, phase, count in counts:
        key = (pathway or "–", region or "–")
        pathways.add(key[0])
        regions.add(key[1])
        cell = matrix.setdefault(key, {})
        label = phase if status == "running" and phase else status
        cell[label] = cell.get(label, 0) + count
    return Portfolio(rows, total, page, per_page, matrix, sorted(pathways), sorted(regions))
