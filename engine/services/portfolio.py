"""The portfolio ("Översikt"): every introduction by pathway and region, what step it is at, what is
late and when its next learning loop ends — so a coordinator sees at a glance what is stuck.
Indexed tables only; never a workflow."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from engine.clock import utcnow
from engine.persistence import Case, CaseParticipant, CaseTally, Pathway, Region, TaskIndexRow
from engine.services.actors import Actor

STALE_AFTER = timedelta(days=30)
SHOWN = ("running", "suspended", "completed")
"""The statuses the portfolio lists (a cancelled introduction is gone from it)."""
LATE_ORDER = (Case.earliest_due_at, Case.id)
STATUS_ORDER = (Case.updated_at, Case.id)


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
    needing attention (late tasks) come first, the longest overdue first; then the others, running
    before paused and finished, the least recently changed first.

    Built to take the same time with 100,000 cases as with 10,000 (bench/scale_bench.py), however
    many of them are late: every stretch of the list is a range of an index read in its order
    (``cases.earliest_due_at``; status and ``updated_at``), and a coordinator's counts come from
    ``case_tallies`` (kept by the database on every change of a case). Nothing counts or sorts all
    cases."""
    now = utcnow()
    page = max(1, page)
    scope: list[ColumnElement[bool]] = [Case.status.in_(SHOWN)]
    if not actor.is_coordinator:
        scope.append(Case.id.in_(select(CaseParticipant.case_id).where(CaseParticipant.user_id == actor.user_id)))
    if pathway_id is not None:
        scope.append(Case.pathway_id == pathway_id)
    if region_id is not None:
        scope.append(Case.region_id == region_id)
    if actor.is_coordinator:
        matrix, pathways, regions, everything = _tallied(session, pathway_id, region_id)
    else:
        matrix, pathways, regions, everything = _counted(session, scope)
    # The list is a chain of stretches, each an index range read in its index's order: the late
    # cases (longest overdue first), then the others by status (running, paused, finished), each
    # the least recently changed first — what has stood still longest comes first. A page walks the
    # chain; a stretch that ends on the page tells its own length, so only a page that lies wholly
    # past a stretch counts it.
    late = Case.earliest_due_at < now
    on_time = or_(Case.earliest_due_at.is_(None), Case.earliest_due_at >= now)
    stretches: list[list[ColumnElement[bool]]] = [[*scope, late]]
    if not attention_only:
        stretches += [[*scope, on_time, Case.status == status] for status in SHOWN]
    skip = (page - 1) * per_page
    found: list[tuple[Any, ...]] = []
    late_total: int | None = None
    for number, where in enumerate(stretches):
        order = LATE_ORDER if number == 0 else STATUS_ORDER
        stretch = _rows(session, where, now, order, per_page - len(found), skip)
        found += stretch
        length: int | None
        if len(found) == per_page:
            length = None  # the page is full: the rest of the chain is not read
        elif stretch or skip == 0:
            length = skip + len(stretch)  # the stretch ended on this page
        else:  # the page lies wholly past this stretch
            length = session.scalar(select(func.count()).select_from(Case).where(*where)) or 0
        if number == 0:
            late_total = length
        if length is None:
            break
        skip = max(0, skip - length)
    if attention_only:
        total = (
            late_total
            if late_total is not None
            else session.scalar(select(func.count()).select_from(Case).where(*scope, late)) or 0
        )
    else:
        total = everything
    rows = [
        PortfolioRow(
            case_id=case.id, title=case.title, pathway=pathway, region=region, status=case.status, phase=case.phase,
            current_step=step, open_tasks=n_open or 0, overdue=n_late or 0, next_loop_end=end,
            updated_at=case.updated_at, stale=case.status == "running" and case.updated_at < now - STALE_AFTER,
        )
        for case, pathway, region, step, n_open, n_late, end in found
    ]  # fmt: skip
    return Portfolio(rows, total, page, per_page, matrix, pathways, regions)


def _rows(
    session: Session, scope: list[ColumnElement[bool]], now: datetime, order: tuple[Any, ...], limit: int, offset: int
) -> list[tuple[Any, ...]]:
    """One stretch of the list in the given order: the case, its pathway's and region's names and
    its figures (read for the rows of the stretch only)."""
    overdue = (
        select(func.count())
        .where(TaskIndexRow.case_id == Case.id, TaskIndexRow.kind == "user", TaskIndexRow.due_at < now)
        .correlate(Case)
        .scalar_subquery()
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
        select(Case, Pathway.name, Region.name, current_step, open_tasks, overdue, loop_end)
        .outerjoin(Pathway, Pathway.id == Case.pathway_id)
        .outerjoin(Region, Region.id == Case.region_id)
        .where(*scope)
        .order_by(*order)
        .limit(limit)
        .offset(offset)
    )
    return [tuple(row) for row in session.execute(query)]


def _tallied(
    session: Session, pathway_id: int | None, region_id: int | None
) -> tuple[dict[tuple[str, str], dict[str, int]], list[str], list[str], int]:
    """A coordinator's counts, from the tallies the database keeps (a few hundred rows at most)."""
    where: list[ColumnElement[bool]] = [CaseTally.status.in_(SHOWN), CaseTally.n > 0]
    if pathway_id is not None:
        where.append(CaseTally.pathway_id == pathway_id)
    if region_id is not None:
        where.append(CaseTally.region_id == region_id)
    counts = session.execute(
        select(Pathway.name, Region.name, CaseTally.status, func.nullif(CaseTally.phase, ""), CaseTally.n)
        .outerjoin(Pathway, Pathway.id == CaseTally.pathway_id)
        .outerjoin(Region, Region.id == CaseTally.region_id)
        .where(*where)
    )
    return _cells(counts)


def _counted(
    session: Session, scope: list[ColumnElement[bool]]
) -> tuple[dict[tuple[str, str], dict[str, int]], list[str], list[str], int]:
    """The counts of the cases in a scope (someone's own cases: not many), by counting them."""
    groups = (
        select(Case.pathway_id, Case.region_id, Case.status, Case.phase, func.count().label("n"))
        .where(*scope)
        .group_by(Case.pathway_id, Case.region_id, Case.status, Case.phase)
        .subquery()
    )
    counts = session.execute(
        select(Pathway.name, Region.name, groups.c.status, groups.c.phase, groups.c.n)
        .select_from(groups)
        .outerjoin(Pathway, Pathway.id == groups.c.pathway_id)
        .outerjoin(Region, Region.id == groups.c.region_id)
    )
    return _cells(counts)


def _cells(
    counts: Iterable[Any],
) -> tuple[dict[tuple[str, str], dict[str, int]], list[str], list[str], int]:
    """Counts per pathway and region (by phase for running cases, else by status) from rows of
    (pathway, region, status, phase, count); the pathways and regions that have any; the number of
    cases in all."""
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
