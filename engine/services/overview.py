"""Read models for overview pages: the national pathway catalogue and counts of introductions."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.persistence import CaseTally, Pathway, TaskIndexRow


@dataclass(frozen=True)
class PathwayRow:
    """One pathway of the national list with its status nationally and in Region Skåne."""

    name: str
    national_status: str
    skane_status: str | None


@dataclass(frozen=True)
class Overview:
    """Public figures for the start page (no names of people or cases)."""

    pathways: list[PathwayRow]
    cases_by_status: dict[str, int]
    cases_by_phase: dict[str, int]
    open_tasks: int


def overview(session: Session) -> Overview:
    """The catalogue and aggregate counts; reads indexed tables only, never a workflow."""
    pathways = [
        PathwayRow(p.name, p.national_status, p.skane_status)
        for p in session.scalars(select(Pathway).order_by(Pathway.name))
    ]
    # From the tallies the database keeps (engine.persistence.cases.CaseTally), not by counting
    # every case.
    by_status: dict[str, int] = {}
    by_phase: dict[str, int] = {}
    for status, phase, count in session.execute(
        select(CaseTally.status, CaseTally.phase, func.sum(CaseTally.n))
        .group_by(CaseTally.status, CaseTally.phase)
        .having(func.sum(CaseTally.n) > 0)
    ):
        by_status[status] = by_status.get(status, 0) + int(count)
        if status == "running" and phase:
            by_phase[phase] = by_phase.get(phase, 0) + int(count)
    open_tasks = session.scalar(
        select(func.count()).select_from(TaskIndexRow).where(TaskIndexRow.kind == "user", TaskIndexRow.state == "ready")
    )
    return Overview(pathways, by_status, by_phase, open_tasks or 0)
