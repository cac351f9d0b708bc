"""Who may see and act on what (DESIGN decision 5: roles from lanes).

A user may act on a task when they are an admin, the task is assigned to them, they are a
coordinator of the case, or — when nobody else has claimed it — they hold the task's lane role in
the case, for the whole case or for the task's unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVarTuple

from sqlalchemy import BindParameter, Select, Subquery, and_, bindparam, or_, select, true, union
from sqlalchemy.orm import Session, aliased

from engine.errors import PermissionDeniedError
from engine.persistence import CaseParticipant, TaskIndexRow
from engine.services.actors import Actor

COORDINATOR_ROLE = "koordinator"
_Ts = TypeVarTuple("_Ts")


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


ROLES_IN_CASE = select(CaseParticipant.role_code, CaseParticipant.unit_id).where(
    CaseParticipant.case_id == bindparam("case_id"), CaseParticipant.user_id == bindparam("user_id")
)
"""The (role, unit) rows ``user_id`` holds in ``case_id`` (bound parameters of those names)."""


def case_roles(session: Session, case_id: int, user_id: int | None) -> CaseRoles:
    """The roles ``user_id`` holds in the case."""
    if user_id is None:
        return CaseRoles(frozenset())
    rows = session.execute(ROLES_IN_CASE, {"case_id": case_id, "user_id": user_id})
    return CaseRoles(frozenset((r.role_code, r.unit_id) for r in rows))


def participant_roles(session: Session, actor: Actor, case_id: int) -> CaseRoles:
    """The actor's roles in the case; PermissionDeniedError unless they take part in it (admins
    always may)."""
    roles = case_roles(session, case_id, actor.user_id)
    if not (actor.is_admin or roles.holdings):
        raise PermissionDeniedError("Du deltar inte i ärendet.")
    return roles


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


def _actionable_subquery(*, lateral: bool) -> Subquery:
    """The ids of the tasks the user bound as ``actionable_user`` may act on — those assigned to
    them, and those of the cases they take part in with a role that covers the task (a
    coordinator's cases: all tasks). Two index-driven queries (by assignee; by the user's few
    participations, then by case), so no query scans the whole task index. Built once: building
    the aliased union costs more than running it (it was 40 % of an inbox request).

    ``lateral`` (PostgreSQL): each participation's tasks are looked up by their case in a LATERAL
    subquery (``OFFSET 0`` keeps the planner from flattening it). As a plain join, PostgreSQL read
    the whole task index in a merge join as soon as a person took part in a few hundred cases
    (the load run's 2,000 cases and 50 people: 4 ms of the database per inbox, its largest cost)."""
    cp = CaseParticipant
    task = aliased(TaskIndexRow)
    user: BindParameter[int] = bindparam("actionable_user")
    assigned = select(task.id.label("id")).where(task.assignee_id == user)
    covers = or_(
        cp.role_code == COORDINATOR_ROLE,
        and_(
            cp.role_code == task.lane,
            or_(cp.unit_id.is_(None), cp.unit_id == task.unit_id),
            or_(task.assignee_id.is_(None), task.assignee_id == user),
        ),
    )
    if lateral:
        per_case = select(task.id.label("id")).where(task.case_id == cp.case_id, covers).offset(0).lateral("case_tasks")
        covered = select(per_case.c.id).select_from(cp).join(per_case, true()).where(cp.user_id == user)
    else:
        covered = (
            select(task.id.label("id")).join(cp, and_(cp.case_id == task.case_id, cp.user_id == user)).where(covers)
        )
    return union(assigned, covered).subquery("actionable")


_ACTIONABLE = {False: _actionable_subquery(lateral=False), True: _actionable_subquery(lateral=True)}


def from_actionable_tasks(query: Select[*_Ts], actor: Actor, session: Session) -> Select[*_Ts]:
    """``query`` reading TaskIndexRow restricted to the actor's actionable tasks (admins: all), the
    (small) set of ids first so the database starts from it. ``session`` tells the database: the
    LATERAL form is PostgreSQL's; SQLite has no LATERAL."""
    if actor.is_admin:
        return query.select_from(TaskIndexRow)
    actionable = _ACTIONABLE[session.get_bind().dialect.name == "postgresql"]
    return (
        query.select_from(actionable)
        .join(TaskIndexRow, TaskIndexRow.id == actionable.c.id)
        .params(actionable_user=actor.user_id)
    )
