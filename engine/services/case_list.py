"""Cases as a list for the API: filtered, paginated, with the total count; the actor sees the
cases they take part in (admins: all), as ``get_case`` lets them open."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session, selectinload

from engine.errors import ValidationError
from engine.persistence import Case, CaseParticipant
from engine.services.actors import Actor
from engine.services.cases import CaseInfo, case_info

CASE_STATUSES = ("running", "suspended", "completed", "cancelled")


def list_cases(
    session: Session,
    actor: Actor,
    *,
    status: str | None = None,
    process_id: str | None = None,
    pathway_id: int | None = None,
    region_id: int | None = None,
    page: int = 1,
    page_size: int = 50,
) -> tuple[list[CaseInfo], int]:
    """One page of the actor's cases, newest first, and how many there are in all."""
    if status is not None and status not in CASE_STATUSES:
        raise ValidationError("Okänd status.", {"status": [f"Välj en av {', '.join(CASE_STATUSES)}."]})
    scope: list[ColumnElement[bool]] = []
    if not actor.is_admin:
        scope.append(Case.id.in_(select(CaseParticipant.case_id).where(CaseParticipant.user_id == actor.user_id)))
    if status is not None:
        scope.append(Case.status == status)
    if process_id is not None:
        scope.append(Case.process_id == process_id)
    if pathway_id is not None:
        scope.append(Case.pathway_id == pathway_id)
    if region_id is not None:
        scope.append(Case.region_id == region_id)
    where = and_(True, *scope)
    total = session.scalar(select(func.count()).select_from(Case).where(where)) or 0
    cases = session.scalars(
        select(Case)
        .where(where)
        .options(selectinload(Case.units))
        .order_by(Case.created_at.desc(), Case.id.desc())
        .limit(page_size)
        .offset((page - 1) * page_size)
    ).all()
    return [case_info(c) for c in cases], total
