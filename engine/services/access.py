"""Who may see and act on what (DESIGN decision 5: roles from lanes).

A user may act on a task when they are an admin, the task is assigned to them, they are a
coordinator of the case, or — when nobody else has claimed it — they hold the task's lane role in
the case, for the whole case or for the task's unit.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, bindparam, or_, select
from sqlalchemy.orm import Session

from engine.persistence import CaseParticipant, TaskIndexRow
from engine.services.actors import Actor

COORDINATOR_ROLE = "koordinator"


@dataclass(frozen=True)
class CaseRoles:
    """The roles one user holds in one case: (role code, unit id or None for the whole case)."""

    holdings: frozenset[tuple[str, int | None]]

    @property
    def is_coordinator(self) -> bool:
        """Whether the user coordinates this case."""
        return any(role == COORDINATOR_ROLE for role, _ in self.holdings)

    def holds(self, role: str | None, unit_id: int | None) -> bool:
        """Whether the user holds ``role`` for the whole case or for ``unit_id``."""
        if role is None:
            return False
        return (role, None) in self.holdings or (unit_id is not None and (role, unit_id) in self.holdings)


_ROLES = select(CaseParticipant.role_code, CaseParticipant.unit_id).where(
    CaseParticipant.case_id == bindparam("case_id"), CaseParticipant.user_id == bindparam("user_id")
)


def case_roles(session: Session, case_id: int, user_id: int | None) -> CaseRoles:
    """The roles ``user_id`` holds in the case."""
    if user_id is None:
        return CaseRoles(frozenset())
    rows = session.execute(_ROLES, {"case_id": case_id, "user_id": user_id})
    return CaseRoles(frozenset((r.role_code, r.unit_id) for r in rows))


def may_act(actor: Actor, roles: CaseRoles, lane: str | None, unit_id: int | None, assignee_id: int | None) -> bool:
    """Whether the actor may complete (or claim) a task with this lane, unit and assignee."""
    if actor.is_admin or roles.is_coordinator:
        return True
    if assignee_id is not None:
        return assignee_id == actor.user_id
    return roles.holds(lane, unit_id)


def may_see(actor: Actor, roles: CaseRoles, lane: str | None, unit_id: int | None, assignee_id: int | None) -> bool:
    """Whether the actor may see a task: anyone who may act on it, and lane holders of claimed ones."""
    return may_act(actor, roles, lane, unit_id, assignee_id) or roles.holds(lane, unit_id)


def actionable_tasks_clause(actor: Actor) -> ColumnElement[bool]:
    """A WHERE clause on TaskIndexRow: the tasks the actor may act on (admins: all). Tasks assigned
    to the actor, or of the cases they take part in with a role that covers the task (a
    coordinator's cases: all tasks); driven from the actor's (few) participations."""
    if actor.is_admin:
        return TaskIndexRow.id.is_not(None)
    cp = CaseParticipant
    covers = (
        select(cp.id)
        .where(
            cp.case_id == TaskIndexRow.case_id,
            cp.user_id == actor.user_id,
            or_(
                cp.role_code == COORDINATOR_ROLE,
                and_(
                    cp.role_code == TaskIndexRow.lane,
                    or_(cp.unit_id.is_(None), cp.unit_id == TaskIndexRow.unit_id),
                    or_(TaskIndexRow.assignee_id.is_(None), TaskIndexRow.assignee_id == actor.user_id),
                ),
            ),
        )
        .exists()
    )
    my_cases = select(cp.case_id).where(cp.user_id == actor.user_id)
    return or_(TaskIndexRow.assignee_id == actor.user_id, and_(TaskIndexRow.case_id.in_(my_cases), covers))
