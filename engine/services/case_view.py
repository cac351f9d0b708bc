"""Everything the case page shows: the diagram with where the case stands, the timeline, the
participants, each unit's progress, the measures' current signals; the unit page (a unit's PDSA
ramps and open steps); and managing participants."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from lxml import etree
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from engine.clock import utcnow
from engine.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from engine.persistence import (
    AuditEvent,
    Case,
    CaseParticipant,
    CaseUnit,
    Comment,
    DataPoint,
    Measure,
    ModelVersion,
    Pathway,
    PdsaCycle,
    PdsaRamp,
    Region,
    Role,
    TaskIndexRow,
    Unit,
    User,
)
from engine.services.access import participant_roles
from engine.services.actors import Actor
from engine.services.audit import audit_row, write_audit
from engine.services.chart_data import ChartPoint, ChartView, SignalView, analyse
from engine.services.pdsa import CycleSummary


@dataclass(frozen=True)
class ParticipantView:
    """A person in a role of the case."""

    id: int
    user_id: int
    name: str
    role_code: str
    role: str
    unit: str | None


@dataclass(frozen=True)
class StepView:
    """An open step (ready task or waiting event) of the case."""

    task_id: str
    bpmn_id: str
    name: str
    kind: str
    unit_id: int | None
    due_at: datetime | None
    overdue: bool
    assignee: str | None
    event_name: str | None = None


@dataclass(frozen=True)
class UnitProgress:
    """Where one unit stands."""

    unit_id: int
    name: str
    steps: list[StepView]
    loop_ends_at: datetime | None
    cycles_completed: int


@dataclass(frozen=True)
class TimelineEntry:
    """One line of the case's history: an audit event or a comment."""

    at: datetime
    actor: str | None
    action: str
    details: dict[str, Any]


@dataclass
class CaseDetail:
    """A case page's content."""

    id: int
    title: str
    process_id: str
    process_name: str
    model_version: int
    pathway: str | None
    region: str | None
    status: str
    phase: str | None
    version: int
    created_at: datetime
    can_manage: bool
    steps: list[StepView] = field(default_factory=list)
    units: list[UnitProgress] = field(default_factory=list)
    participants: list[ParticipantView] = field(default_factory=list)
    timeline: list[TimelineEntry] = field(default_factory=list)


@dataclass(frozen=True)
class DiagramState:
    """The case's main diagram and which elements are current or done (for highlighting)."""

    xml: str
    current: list[str]
    completed: list[str]


def _case(session: Session, actor: Actor, case_id: int) -> tuple[Case, bool]:
    case = session.get(Case, case_id)
    if case is None:
        raise NotFoundError("Ärendet finns inte.")
    roles = participant_roles(session, actor, case_id)
    return case, actor.is_admin or roles.is_coordinator


def case_detail(session: Session, actor: Actor, case_id: int) -> CaseDetail:
    """The case page: open steps, units, participants and the timeline (newest first)."""
    case, can_manage = _case(session, actor, case_id)
    pathway = session.get(Pathway, case.pathway_id) if case.pathway_id else None
    region = session.get(Region, case.region_id) if case.region_id else None
    version = session.get(ModelVersion, case.model_version_id)
    assert version is not None
    now = utcnow()
    steps = [
        StepView(
            r.task_id, r.bpmn_id, r.name, r.kind, r.unit_id, r.due_at,
            bool(r.due_at and r.due_at < now and r.kind == "user"), name, r.event_name,
        )
        for r, name in session.execute(
            select(TaskIndexRow, User.display_name)
            .outerjoin(User, User.id == TaskIndexRow.assignee_id)
            .where(TaskIndexRow.case_id == case_id)
            .order_by(TaskIndexRow.ready_at, TaskIndexRow.id)
        )
    ]  # fmt: skip
    cycles: dict[int, int] = {}
    for unit_id in session.scalars(
        select(AuditEvent.details).where(AuditEvent.case_id == case_id, AuditEvent.action == "task_completed")
    ):
        if isinstance(unit_id, dict) and unit_id.get("bpmn_id") == "pdsa_act" and unit_id.get("unit_id"):
            cycles[unit_id["unit_id"]] = cycles.get(unit_id["unit_id"], 0) + 1
    units = []
    for unit in session.scalars(
        select(Unit).join(CaseUnit, CaseUnit.unit_id == Unit.id).where(CaseUnit.case_id == case_id).order_by(Unit.name)
    ):
        own = [s for s in steps if s.unit_id == unit.id]
        loop_end = min((s.due_at for s in own if s.kind == "timer" and s.due_at), default=None)
        units.append(UnitProgress(unit.id, unit.name, own, loop_end, cycles.get(unit.id, 0)))
    participants = [
        ParticipantView(p.id, u.id, u.display_name, r.code, r.name_sv, un.name if un else None)
        for p, u, r, un in session.execute(
            select(CaseParticipant, User, Role, Unit)
            .join(User, User.id == CaseParticipant.user_id)
            .join(Role, Role.code == CaseParticipant.role_code)
            .outerjoin(Unit, Unit.id == CaseParticipant.unit_id)
            .where(CaseParticipant.case_id == case_id)
            .order_by(Role.name_sv, User.display_name)
        )
    ]
    timeline = [
        TimelineEntry(e.at, name, e.action, {**(e.details or {}), **({"after": e.after} if e.after else {}),
                                             **({"before": e.before} if e.before else {})})
        for e, name in session.execute(
            select(AuditEvent, User.display_name)
            .outerjoin(User, User.id == AuditEvent.actor_id)
            .where(AuditEvent.case_id == case_id, AuditEvent.action.not_in(("task_ready", "event_waiting", "comment_added")))
            .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
            .limit(300)
        )
    ]  # fmt: skip
    timeline += [
        TimelineEntry(c.at, name, "comment", {"text": c.text, "task_id": c.task_id})
        for c, name in session.execute(
            select(Comment, User.display_name)
            .outerjoin(User, User.id == Comment.user_id)
            .where(Comment.case_id == case_id)
        )
    ]
    timeline.sort(key=lambda t: t.at, reverse=True)
    return CaseDetail(
        id=case.id, title=case.title, process_id=case.process_id, process_name=version.catalogue.get("name", case.process_id),
        model_version=version.number, pathway=pathway.name if pathway else None, region=region.name if region else None,
        status=case.status, phase=case.phase, version=case.version, created_at=case.created_at, can_manage=can_manage,
        steps=[s for s in steps if s.unit_id is None], units=units, participants=participants, timeline=timeline,
    )  # fmt: skip


def case_diagram(session: Session, actor: Actor, case_id: int) -> DiagramState:
    """The main diagram's XML with the ids of its current and completed elements. A step inside a
    called process (per unit) shows on the call activity that runs it."""
    case, _ = _case(session, actor, case_id)
    version = session.get(ModelVersion, case.model_version_id)
    assert version is not None
    call_ids = _main_calls(version.bpmn_xml, version.called_documents or {})

    def on_main(process_id: str, bpmn_id: str) -> str:
        return bpmn_id if process_id == case.process_id else call_ids.get(process_id, bpmn_id)

    current = {
        on_main(p, b)
        for p, b in session.execute(
            select(TaskIndexRow.process_id, TaskIndexRow.bpmn_id).where(TaskIndexRow.case_id == case_id)
        )
    }
    completed: set[str] = set()
    for details in session.scalars(
        select(AuditEvent.details).where(AuditEvent.case_id == case_id, AuditEvent.action == "task_completed")
    ):
        if isinstance(details, dict) and details.get("bpmn_id"):
            completed.add(details["bpmn_id"])
    return DiagramState(version.bpmn_xml, sorted(current), sorted(completed - current))


def _calls(xml: str) -> dict[str, str]:
    """calledElement -> call activity id, in one (already validated) document."""
    root = etree.fromstring(xml.encode("utf-8"), parser=etree.XMLParser(resolve_entities=False, no_network=True))
    ns = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL"}
    return {c.get("calledElement") or "": c.get("id") or "" for c in root.iterfind(".//bpmn:callActivity", ns)}


def _main_calls(main_xml: str, called: dict[str, str]) -> dict[str, str]:
    """Every called process (also called from a called process) -> the main diagram's call activity
    that leads to it."""
    result = dict(_calls(main_xml))
    pending = list(result)
    while pending:
        process = pending.pop()
        for nested in _calls(called[process]) if process in called else {}:
            if nested not in result:
                result[nested] = result[process]
                pending.append(nested)
    return result


def add_participant(
    session: Session, actor: Actor, case_id: int, user_id: int, role: str, unit_id: int | None = None
) -> None:
    """Put a person in a role of the case (coordinators and admins)."""
    _, can_manage = _case(session, actor, case_id)
    if not can_manage:
        raise PermissionDeniedError("Bara ärendets koordinator kan ändra deltagarna.")
    errors: dict[str, list[str]] = {}
    user = session.get(User, user_id)
    if user is None or not user.active:
        errors["user_id"] = ["Personen finns inte."]
    if session.get(Role, role) is None:
        errors["role"] = ["Rollen finns inte."]
    if unit_id is not None and session.get(CaseUnit, (case_id, unit_id)) is None:
        errors["unit_id"] = ["Enheten ingår inte i ärendet."]
    if errors:
        raise ValidationError("Deltagaren kunde inte läggas till.", errors)
    exists = session.scalar(
        select(CaseParticipant.id).where(CaseParticipant.case_id == case_id, CaseParticipant.user_id == user_id,
                                         CaseParticipant.role_code == role, CaseParticipant.unit_id.is_(unit_id)
                                         if unit_id is None else CaseParticipant.unit_id == unit_id)
    )  # fmt: skip
    if exists is not None:
        raise ConflictError("Personen har redan den rollen i ärendet.")
    session.add(CaseParticipant(case_id=case_id, user_id=user_id, role_code=role, unit_id=unit_id))
    write_audit(session, [audit_row(actor, "participant_added", case_id=case_id,
                                    after={"user_id": user_id, "role": role, "unit_id": unit_id})])  # fmt: skip
    session.flush()


def remove_participant(session: Session, actor: Actor, case_id: int, participant_id: int) -> None:
    """Take a person out of a role of the case (coordinators and admins)."""
    _, can_manage = _case(session, actor, case_id)
    if not can_manage:
        raise PermissionDeniedError("Bara ärendets koordinator kan ändra deltagarna.")
    participant = session.get(CaseParticipant, participant_id)
    if participant is None or participant.case_id != case_id:
        raise NotFoundError("Deltagaren finns inte.")
    before = {"user_id": participant.user_id, "role": participant.role_code, "unit_id": participant.unit_id}
    session.execute(delete(CaseParticipant).where(CaseParticipant.id == participant_id))
    write_audit(session, [audit_row(actor, "participant_removed", case_id=case_id, before=before)])


# -- PDSA on the case and unit pages ----------------------------------------------------------------


@dataclass(frozen=True)
class MeasureSignal:
    """A measure's latest value and current signal for one unit (None: the case as a whole)."""

    measure_id: int
    measure: str
    unit_label: str
    unit_id: int | None
    unit: str | None
    period: date | None
    value: float | None
    current: str | None
    """improvement, concern or neutral (as :attr:`ChartView.current`); None without a signal."""


def _current_signal(measure: Measure, rows: list[tuple[date, float | None, bool]]) -> str | None:
    """The current signal of a series by the very rule the chart uses (:attr:`ChartView.current`):
    the series is analysed as the chart analyses it and put in a chart view of its own."""
    _, _, signals = analyse(measure, rows)
    view = ChartView(
        measure.id, measure.case_id, measure.name, measure.definition, measure.unit_label, measure.direction,
        measure.target, measure.chart_type, measure.rules, "unit", None, None,
        [ChartPoint(i, period, value, excluded, False, "", None, None, 0)
         for i, (period, value, excluded) in enumerate(rows)],
        [],
        [SignalView(s.kind, s.variation, s.direction, tuple(rows[i][0] for i in s.indices)) for s in signals],
    )  # fmt: skip
    return view.current


def measure_signals(session: Session, actor: Actor, case_id: int, unit_id: int | None = None) -> list[MeasureSignal]:
    """Each measure's current signal for every unit of the case (or one unit), and for the case as
    a whole where it has data of its own; by measure, then unit. Participants and admins only.

    Three queries however many measures and units there are (the case page lists them all), where
    a chart view per measure and unit would read the database for each.
    """
    _case(session, actor, case_id)
    measures = list(session.scalars(select(Measure).where(Measure.case_id == case_id).order_by(Measure.name)))
    unit_query = (
        select(Unit.id, Unit.name)
        .join(CaseUnit, CaseUnit.unit_id == Unit.id)
        .where(CaseUnit.case_id == case_id)
        .order_by(Unit.name, Unit.id)
    )
    if unit_id is not None:
        unit_query = unit_query.where(Unit.id == unit_id)
    units: list[tuple[int | None, str | None]] = [(i, n) for i, n in session.execute(unit_query)]
    if not measures:
        return []
    point_query = (
        select(DataPoint.measure_id, DataPoint.unit_id, DataPoint.period, DataPoint.value, DataPoint.excluded)
        .where(DataPoint.measure_id.in_([m.id for m in measures]))
        .order_by(DataPoint.period)
    )
    if unit_id is not None:
        point_query = point_query.where(DataPoint.unit_id == unit_id)
    series: dict[tuple[int, int | None], list[tuple[date, float | None, bool]]] = {}
    for measure_id, point_unit, period, value, excluded in session.execute(point_query):
        series.setdefault((measure_id, point_unit), []).append((period, value, excluded))
    result = []
    for measure in measures:
        scopes = ([(None, None)] if unit_id is None and (measure.id, None) in series else []) + units
        for scope_id, scope_name in scopes:
            rows = series.get((measure.id, scope_id), [])
            last = next(((p, v) for p, v, excluded in reversed(rows) if v is not None and not excluded), None)
            result.append(
                MeasureSignal(
                    measure.id, measure.name, measure.unit_label, scope_id, scope_name,
                    last[0] if last else None, last[1] if last else None,
                    _current_signal(measure, rows) if rows else None,
                )
            )  # fmt: skip
    return result


@dataclass(frozen=True)
class RampSummary:
    """A ramp of a unit with its cycles, oldest first."""

    id: int
    aim: str
    change_idea: str
    status: str
    started_on: date
    ended_on: date | None
    cycles: list[CycleSummary]


@dataclass
class UnitDetail:
    """A unit page's content: the unit's ramps with their cycles and its open steps."""

    case_id: int
    case_title: str
    case_status: str
    unit_id: int
    name: str
    ramps: list[RampSummary] = field(default_factory=list)
    steps: list[StepView] = field(default_factory=list)
    loop_ends_at: datetime | None = None


def unit_detail(session: Session, actor: Actor, case_id: int, unit_id: int) -> UnitDetail:
    """One unit of a case: its PDSA ramps (newest first) with their cycles, and its open steps.
    Participants of the case and admins only; NotFoundError for a unit outside the case."""
    case, _ = _case(session, actor, case_id)
    name = session.scalar(
        select(Unit.name)
        .join(CaseUnit, CaseUnit.unit_id == Unit.id)
        .where(CaseUnit.case_id == case_id, Unit.id == unit_id)
    )
    if name is None:
        raise NotFoundError("Enheten ingår inte i ärendet.")
    ramps = list(
        session.scalars(
            select(PdsaRamp)
            .where(PdsaRamp.case_id == case_id, PdsaRamp.unit_id == unit_id)
            .order_by(PdsaRamp.started_on.desc(), PdsaRamp.id.desc())
        )
    )
    cycles: dict[int, list[CycleSummary]] = {}
    for c in session.scalars(
        select(PdsaCycle)
        .where(PdsaCycle.case_id == case_id, PdsaCycle.unit_id == unit_id)
        .order_by(PdsaCycle.ramp_id, PdsaCycle.number)
    ):
        cycles.setdefault(c.ramp_id, []).append(
            CycleSummary(c.id, c.ramp_id, c.number, c.stage, c.unit_id, name, c.objective, c.started_on, c.ends_on,
                         c.act_decision)
        )  # fmt: skip
    now = utcnow()
    steps = [
        StepView(
            r.task_id, r.bpmn_id, r.name, r.kind, r.unit_id, r.due_at,
            bool(r.due_at and r.due_at < now and r.kind == "user"), assignee, r.event_name,
        )
        for r, assignee in session.execute(
            select(TaskIndexRow, User.display_name)
            .outerjoin(User, User.id == TaskIndexRow.assignee_id)
            .where(TaskIndexRow.case_id == case_id, TaskIndexRow.unit_id == unit_id)
            .order_by(TaskIndexRow.ready_at, TaskIndexRow.id)
        )
    ]  # fmt: skip
    return UnitDetail(
        case.id, case.title, case.status, unit_id, name,
        [RampSummary(r.id, r.aim, r.change_idea, r.status, r.started_on, r.ended_on, cycles.get(r.id, []))
         for r in ramps],
        steps,
        min((s.due_at for s in steps if s.kind == "timer" and s.due_at), default=None),
    )  # fmt: skip
