"""The portfolio ("Översikt"): every introduction by pathway and region, what step it is at, what is
late and when its next learning loop ends — so a coordinator sees at a glance what is stuck.
Indexed tables only; never a workflow."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, literal, select
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
    needing attention (late tasks) come first.

    Built to stay fast with 100,000 cases (bench/scale_bench.py): the counts per pathway and region
    are one aggregate over the cases' own columns (names joined to the ~100 groups afterwards), the
    total is their sum, and a page is taken from the late cases first (found through the task index's
    due dates) and only past their end from the others — the old single query decided "has a late
    task" for every case to sort them all, and got 10x slower with 10x the cases."""
    now = utcnow()
    page = max(1, page)
    # The late cases, found from the index of due dates and computed first (a materialized CTE):
    # left to itself PostgreSQL sorted every case by name and then probed each for lateness.
    late = (
        select(TaskIndexRow.case_id)
        .where(TaskIndexRow.kind == "user", TaskIndexRow.due_at < now)
        .distinct()
        .cte("late_cases")
        .prefix_with("MATERIALIZED")
    )
    late_cases = select(late.c.case_id)
    scope: list[ColumnElement[bool]] = [Case.status.in_(("running", "suspended", "completed"))]
    if not actor.is_coordinator:
        scope.append(Case.id.in_(select(CaseParticipant.case_id).where(CaseParticipant.user_id == actor.user_id)))
    if pathway_id is not None:
        scope.append(Case.pathway_id == pathway_id)
    if region_id is not None:
        scope.append(Case.region_id == region_id)
    matrix, pathways, regions, everything = _matrix(session, scope)
    late_scope = [*scope, Case.id.in_(late_cases)]
    offset = (page - 1) * per_page
    found, late_total = _page(session, late_scope, now, True, per_page, offset)
    if late_total is None:  # a page past the late cases: count them
        late_total = session.scalar(select(func.count()).select_from(Case).where(and_(*late_scope))) or 0
    total = late_total if attention_only else everything
    if not attention_only and len(found) < per_page and offset + len(found) < total:
        rest = [*scope, Case.id.not_in(late_cases)]
        more, _count = _page(session, rest, now, False, per_page - len(found), max(0, offset - late_total))
        found += more
    rows = [
        PortfolioRow(
            case_id=case.id, title=case.title, pathway=pathway, region=region, status=case.status, phase=case.phase,
            current_step=step, open_tasks=n_open or 0, overdue=n_late or 0, next_loop_end=end,
            updated_at=case.updated_at, stale=case.status == "running" and case.updated_at < now - STALE_AFTER,
        )
        for case, pathway, region, step, n_open, n_late, end in found
    ]  # fmt: skip
    return Portfolio(rows, total, page, per_page, matrix, pathways, regions)


def _page(
    session: Session, scope: list[ColumnElement[bool]], now: datetime, late: bool, limit: int, offset: int
) -> tuple[list[tuple[Any, ...]], int | None]:
    """One stretch of the list (running cases first, then by pathway, region and case) and how many
    cases the scope holds (None when the stretch is empty: past its end). The order is decided on
    the cases' ids and a few indexed columns; the per-case figures and the other columns are read
    for the rows of the page only."""
    running = Case.status == "running"
    ordered = (
        select(
            Case.id.label("id"),
            running.label("running"),
            Pathway.name.label("pathway"),
            Region.name.label("region"),
            func.count().over().label("total"),
        )
        .outerjoin(Pathway, Pathway.id == Case.pathway_id)
        .outerjoin(Region, Region.id == Case.region_id)
        .where(and_(*scope))
        .order_by(running.desc(), Pathway.name, Region.name, Case.id)
        .limit(limit)
        .offset(offset)
        .subquery("page")
    )
    overdue = (
        select(func.count())
        .where(TaskIndexRow.case_id == Case.id, TaskIndexRow.kind == "user", TaskIndexRow.due_at < now)
        .correlate(Case)
        .scalar_subquery()
        if late
        else literal(0)
    )
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
        select(Case, ordered.c.pathway, ordered.c.region, current_step, open_tasks, overdue, loop_end, ordered.c.total)
        .join(ordered, ordered.c.id == Case.id)
        .order_by(ordered.c.running.desc(), ordered.c.pathway, ordered.c.region, Case.id)
    )
    rows = [tuple(row) for row in session.execute(query)]
    return [row[:-1] for row in rows], (int(rows[0][-1]) if rows else (0 if offset == 0 else None))


def _matrix(
    session: Session, scope: list[ColumnElement[bool]]
) -> tuple[dict[tuple[str, str], dict[str, int]], list[str], list[str], int]:
    """Counts per pathway and region (by phase for running cases, else by status), the pathways and
    regions that have any, and the number of cases in all."""
    groups = (
        select(Case.pathway_id, Case.region_id, Case.status, Case.phase, func.count().label("n"))
        .where(and_(*scope))
        .group_by(Case.pathway_id, Case.region_id, Case.status, Case.phase)
        .subquery()
    )
    counts = session.execute(
        select(Pathway.name, Region.name, groups.c.status, groups.c.phase, groups.c.n)
        .select_from(groups)
        .outerjoin(Pathway, Pathway.id == groups.c.pathway_id)
        .outerjoin(Region, Region.id == groups.c.region_id)
    )
    matrix: dict[tuple[str, str], dict[str, int]] = {}
    regions: set[str] = set()
    pathways: set[str] = set()
    total = 0
    for pathway, region, status, phase, count in counts:
        key = (pathway or "–", region or "–")
        pathways.add(key[0])
        regions.add(key[1])
        cell = matrix.setdefault(key, {})
        label = phase if status == "running" and phase else status
        cell[label] = cell.get(label, 0) + count
        total += count
    return matrix, sorted(pathways), sorted(regions), total
