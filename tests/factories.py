"""Factories for tests: people in roles, cases of the shipped processes, and completing a task by
its BPMN id with valid example values for every field the test does not care about."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session, sessionmaker

from engine.catalogue.sample_forms import sample_form_data
from engine.persistence import AuditEvent, Case, Region, TaskIndexRow, Unit
from engine.persistence.catalogue import Organisation
from engine.services import SYSTEM_ACTOR, Actor, ParticipantSpec, complete_task, send_signal, start_case
from engine.services.users import create_user
from engine.services.versions import load_version


def make_actor(session: Session, username: str, system_role: str = "member") -> Actor:
    user = create_user(session, SYSTEM_ACTOR, username=username, display_name=username.title(), system_role=system_role)
    return Actor(user.id, user.username, user.display_name, user.system_role)


@dataclass
class Team:
    """The people of one case, by role code (and by unit id for unit roles)."""

    coordinator: Actor
    by_role: dict[str, Actor] = field(default_factory=dict)
    by_unit: dict[int, Actor] = field(default_factory=dict)
    outsider: Actor | None = None

    def participants(self) -> list[ParticipantSpec]:
        out = [ParticipantSpec(a.user_id or 0, role) for role, a in self.by_role.items()]
        out += [ParticipantSpec(a.user_id or 0, "lokal_verksamhet", unit) for unit, a in self.by_unit.items()]
        return out

    def for_task(self, row: TaskIndexRow) -> Actor:
        if row.lane == "lokal_verksamhet" and row.unit_id in self.by_unit:
            return self.by_unit[row.unit_id]
        return self.by_role.get(row.lane or "", self.coordinator)


def region_units(session: Session, region_code: str, count: int) -> tuple[int, list[int]]:
    region_id = session.scalar(select(Region.id).where(Region.code == region_code))
    assert region_id is not None
    units = list(
        session.scalars(
            select(Unit.id).join(Organisation).where(Organisation.region_id == region_id).order_by(Unit.id).limit(count)
        )
    )
    return region_id, units


def make_team(session: Session, prefix: str, roles: list[str], units: list[int]) -> Team:
    team = Team(coordinator=make_actor(session, f"{prefix}.koord", "coordinator"))
    for role in roles:
        team.by_role[role] = make_actor(session, f"{prefix}.{role}")
    for unit in units:
        team.by_unit[unit] = make_actor(session, f"{prefix}.unit{unit}")
    team.outsider = make_actor(session, f"{prefix}.outsider")
    return team


VGR_ROLES = ["kunskapsstyrning", "samordningsrad", "rpt", "inforandeansvarig"]
SKANE_ROLES = ["lag"]


def start_vgr(session: Session, units: int = 2, prefix: str = "vgr", **kwargs: Any) -> tuple[int, Team, list[int]]:
    region_id, unit_ids = region_units(session, "vgr", units)
    team = make_team(session, prefix, VGR_ROLES, unit_ids)
    info = start_case(
        session,
        team.coordinator,
        process_id="vgr_introduction",
        title="Hjärtsvikt – VGR",
        region_id=region_id,
        unit_ids=unit_ids,
        participants=team.participants(),
        **kwargs,
    )
    return info.id, team, unit_ids


def start_skane(session: Session, units: int = 2, prefix: str = "sk", **kwargs: Any) -> tuple[int, Team, list[int]]:
    region_id, unit_ids = region_units(session, "skane", units)
    team = make_team(session, prefix, SKANE_ROLES, unit_ids)
    team.by_role["koordinator"] = team.coordinator
    info = start_case(
        session,
        team.coordinator,
        process_id="skane_lag",
        title="Sepsis – Skåne",
        region_id=region_id,
        unit_ids=unit_ids,
        participants=[p for p in team.participants() if p.role != "koordinator"],
        **kwargs,
    )
    return info.id, team, unit_ids


def ready(session: Session, case_id: int) -> list[tuple[str, int | None]]:
    """The case's ready human tasks as (bpmn id, unit id), sorted."""
    rows = session.execute(
        select(TaskIndexRow.bpmn_id, TaskIndexRow.unit_id).where(
            TaskIndexRow.case_id == case_id, TaskIndexRow.state == "ready"
        )
    )
    return sorted(((r.bpmn_id, r.unit_id) for r in rows), key=lambda t: (t[0], t[1] or 0))


def task_row(session: Session, case_id: int, bpmn_id: str, unit: int | None = None) -> TaskIndexRow:
    query = select(TaskIndexRow).where(
        TaskIndexRow.case_id == case_id, TaskIndexRow.bpmn_id == bpmn_id, TaskIndexRow.state == "ready"
    )
    if unit is not None:
        query = query.where(TaskIndexRow.unit_id == unit)
    row = session.scalars(query).first()
    assert row is not None, f"{bpmn_id} (unit {unit}) is not ready; ready: {ready(session, case_id)}"
    return row


def form_data(
    session: Session, case_id: int, row: TaskIndexRow, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    case = session.get(Case, case_id)
    assert case is not None
    version = load_version(session, case.model_version_id)
    return sample_form_data(version.forms[row.form] if row.form else {}, overrides)


def do(
    session: Session,
    team: Team,
    case_id: int,
    bpmn_id: str,
    overrides: dict[str, Any] | None = None,
    unit: int | None = None,
) -> None:
    """Complete a ready task as the team member holding its role, and commit like the web edge."""
    row = task_row(session, case_id, bpmn_id, unit)
    complete_task(session, team.for_task(row), row.task_id, form_data(session, case_id, row, overrides))
    session.commit()


def walk_vgr_to_units(session: Session, team: Team, case_id: int, *, through_decision: bool = True) -> None:
    """Steps 1-5 of the VGR process on their shortest path: consultation, national approval,
    preparation, RPT start without data, gap analysis, decision approved (unless
    ``through_decision`` is false: then the decision is left ready)."""
    do(session, team, case_id, "step_01_consultation")
    send_signal(session, team.coordinator, case_id, "godkand_nationellt")
    session.commit()
    do(session, team, case_id, "step_02_preparation")
    do(session, team, case_id, "step_03_rpt_start", {"data_needed": False})
    do(session, team, case_id, "step_04_gap_analysis")
    if through_decision:
        do(session, team, case_id, "step_05_decision", {"decision": "approved", "document_type": "regional_riktlinje"})


def timers_fired(factory: sessionmaker[Session]) -> int:
    """How many timers have fired (``timer_fired`` audit events), read in a session of its own."""
    with factory() as s:
        return s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "timer_fired")) or 0


def wait_for_a_timer(factory: sessionmaker[Session], timeout: float = 10.0) -> float:
    """Seconds until a timer has fired (a running scheduler fires it), at most ``timeout``."""
    started = time.monotonic()
    while timers_fired(factory) == 0 and time.monotonic() - started < timeout:
        time.sleep(0.05)
    return time.monotonic() - started


@contextmanager
def statements_sent(bind: Engine) -> Iterator[list[tuple[str, Any]]]:
    """The statements (SQL text and parameters) sent to the database inside the block."""
    sent: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        sent.append((statement, parameters))

    event.listen(bind, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(bind, "before_cursor_execute", record)
