"""Read models for overview pages: the national pathway catalogue and counts of introductions."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.persistence import Case, Pathway, TaskIndexRow


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
    by_status = {
        status: count for status, count in session.execute(select(Case.status, func.count()).group_by(Case.status))
    }
    by_phase = {
        str(phase): count
        for phase, count in session.execute(
            select(Case.phase, func.count())
            .where(Case.status == "running", Case.phase.is_not(None))
            .group_by(Case.phase)
        )
    }
    open_tasks = session.scalar(
        select(func.count()).select_from(TaskIndexRow).where(TaskIndexRow.kind == "user", TaskIndexRow.state == "ready")
    )
    return Overview(pathways, by_status, by_phase, open_tasks or 0)
