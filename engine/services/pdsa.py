"""PDSA cycle records: the Plan, Do, Study and Act tasks write the cycle record; the next Plan and
the Study start prefilled from it; ramps and cycles as the case and unit pages show them.

A task writes the record when its model gives it a ``pdsaStage`` property (plan, do, study, act);
:func:`record_step` is called by ``complete_task`` in the same transaction as the completion, so a
record and its task are done together or not at all. The workflow still receives the values its
expressions read (``act_decision`` for the loop's gateway); the record is the one place the rest is
kept (besides the form submission, the audit trail).

A unit runs one ramp at a time per case: the first Plan without an active ramp starts one; Act
*adapt* keeps it going (the next Plan is prefilled from the last cycle), *adopt* or *abandon* ends
it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, and_, bindparam, exists, insert, select, update
from sqlalchemy.orm import Session

from engine.clock import utcnow
from engine.errors import NotFoundError
from engine.persistence import Case, DataPoint, Measure, PdsaCycle, PdsaRamp, Unit
from engine.persistence.database import Hot, read_rows
from engine.persistence.pdsa import PDSA_CYCLES, PDSA_RAMPS, ramp_measures
from engine.services.access import participant_roles
from engine.services.actors import Actor
from engine.services.case_store import Changed, Write, write_changed
from engine.workdays import STOCKHOLM, add_duration

DEFAULT_CYCLE = "P3M"

_PLAN_FIELDS = ("objective", "purpose", "change_idea", "questions", "plan_tasks", "data_collection")
_DO_FIELDS = ("carried_out_as_planned", "observations", "problems", "unexpected_findings")


def today() -> date:
    """Today in Sweden: the date a person sees on the wall."""
    return utcnow().astimezone(STOCKHOLM).date()


def _local_date(moment: datetime) -> date:
    return moment.astimezone(STOCKHOLM).date()


@dataclass(frozen=True)
class _Standing:
    """Where a unit's loop stands: its active ramp, that ramp's latest cycle, and whether the case
    has any measures (without them there is nothing to link, and the statements are skipped)."""

    ramp: PdsaRamp | None
    cycle: PdsaCycle | None
    has_measures: bool


_HAS_MEASURES = exists().where(Measure.case_id == bindparam("case_id"))


def _ramp_and_latest_cycle(unit: ColumnElement[bool], *columns: Any) -> Select[Any]:
    """``columns`` of a unit's active ramp and that ramp's latest cycle (outer-joined), one row."""
    latest = (
        select(PDSA_CYCLES.c.id)
        .where(PDSA_CYCLES.c.ramp_id == PDSA_RAMPS.c.id)
        .order_by(PDSA_CYCLES.c.number.desc())
        .limit(1)
        .correlate(PDSA_RAMPS)
        .scalar_subquery()
    )
    return (
        select(*columns)
        .select_from(PDSA_RAMPS)
        .outerjoin(PDSA_CYCLES, PDSA_CYCLES.c.id == latest)
        .where(PDSA_RAMPS.c.case_id == bindparam("case_id"), unit, PDSA_RAMPS.c.status == "active")
        .order_by(PDSA_RAMPS.c.id.desc())
        .limit(1)
    )


def _standing_query(unit: ColumnElement[bool]) -> Select[Any]:
    return _ramp_and_latest_cycle(unit, PdsaRamp, PdsaCycle, _HAS_MEASURES)


# Built once: every PDSA step runs one of them, and building the statement cost as much as
# running it.
_STANDING_IN_UNIT = _standing_query(PdsaRamp.unit_id == bindparam("unit_id"))
_STANDING_IN_CASE = _standing_query(PdsaRamp.unit_id.is_(None))
_HAS_MEASURES_ALONE = select(_HAS_MEASURES)


def _standing(session: Session, case_id: int, unit_id: int | None) -> _Standing:
    """Read the unit's active ramp, its latest cycle and the case's having measures in one round
    trip (a completion of a PDSA step runs this on every Plan, Do, Study and Act)."""
    if unit_id is None:
        found = session.execute(_STANDING_IN_CASE, {"case_id": case_id}).first()
    else:
        found = session.execute(_STANDING_IN_UNIT, {"case_id": case_id, "unit_id": unit_id}).first()
    if found is None:
        return _Standing(None, None, bool(session.scalar(_HAS_MEASURES_ALONE, {"case_id": case_id})))
    return _Standing(found[0], found[1], bool(found[2]))


def _search_text(cycle: dict[str, Any]) -> str:
    """The Study and Act conclusions (and what they answer), folded for a case-insensitive search."""
    parts = [cycle["objective"], cycle["change_idea"], cycle["learnt"], cycle["next_cycle_plan"]]
    parts += [str(r.get(k, "")) for r in cycle["results"] for k in ("question", "prediction", "result")]
    return "\n".join(p for p in parts if p).casefold()


def _link_measures(session: Session, ramp_id: int, case_id: int, data_collection: list[dict[str, Any]]) -> None:
    """Tie the ramp to the case's measures its data-collection plan names (by name, any case)."""
    wanted = {str(row.get("measure", "")).strip().casefold() for row in data_collection}
    if not wanted:
        return
    # The case's measures and whether each is tied already, in one read. Names are matched here
    # with casefold ("ß" matches "ss"), which the database's lower() does not do.
    linked = ramp_measures.c.ramp_id == ramp_id
    rows = session.execute(
        select(Measure.id, Measure.name, ramp_measures.c.ramp_id)
        .outerjoin(ramp_measures, and_(ramp_measures.c.measure_id == Measure.id, linked))
        .where(Measure.case_id == case_id)
    ).all()
    new = [
        {"ramp_id": ramp_id, "measure_id": mid}
        for mid, name, tied in rows
        if tied is None and name.casefold() in wanted
    ]
    if new:
        session.execute(insert(ramp_measures), new)


def link_data_points(session: Session, cycle: PdsaCycle | _CyclePeriod) -> None:
    """Point the unit's data points of the cycle's period at the cycle (the cycle in force)."""
    measures = select(Measure.id).where(Measure.case_id == cycle.case_id).scalar_subquery()
    unit = DataPoint.unit_id.is_(None) if cycle.unit_id is None else DataPoint.unit_id == cycle.unit_id
    session.execute(
        update(DataPoint)
        .where(DataPoint.measure_id.in_(measures), unit)
        .where(and_(DataPoint.period >= cycle.started_on, DataPoint.period <= cycle.ends_on))
        .values(cycle_id=cycle.id)
        .execution_options(synchronize_session=False)
    )


def cycle_in_force(session: Session, case_id: int, unit_id: int | None, period: date) -> int | None:
    """The id of the unit's cycle whose period holds ``period`` (the latest one when they overlap)."""
    unit = PdsaCycle.unit_id.is_(None) if unit_id is None else PdsaCycle.unit_id == unit_id
    return session.scalar(
        select(PdsaCycle.id)
        .where(PdsaCycle.case_id == case_id, unit, PdsaCycle.started_on <= period, PdsaCycle.ends_on >= period)
        .order_by(PdsaCycle.started_on.desc(), PdsaCycle.id.desc())
        .limit(1)
    )


@dataclass(frozen=True)
class _CyclePeriod:
    """A cycle's id, place and period (what tying data points to it needs)."""

    id: int
    case_id: int
    unit_id: int | None
    started_on: date
    ends_on: date


@dataclass(frozen=True)
class RecordedCycle:
    """The cycle record a PDSA step wrote."""

    id: int
    ramp_id: int


# What a step reads of the unit's active ramp and its latest cycle: the columns the step's logic
# and the search text use, as plain values (the ORM's two entities cost twice the read).
_RECORD_COLUMNS = (
    "id", "number", "stage", "started_on", "ends_on", "objective", "change_idea", "learnt", "next_cycle_plan",
    "results", "data_collection",
)  # fmt: skip


def _record_standing_query(unit: ColumnElement[bool]) -> Select[Any]:
    return _ramp_and_latest_cycle(
        unit,
        PDSA_RAMPS.c.id.label("ramp_id"),
        PDSA_RAMPS.c.change_idea.label("ramp_change_idea"),
        *(PDSA_CYCLES.c[name].label(f"cycle_{name}") for name in _RECORD_COLUMNS),
        _HAS_MEASURES.label("has_measures"),
    )


# Built once, like the standing statements above.
_RECORD_STANDING_IN_UNIT = Hot(_record_standing_query(PDSA_RAMPS.c.unit_id == bindparam("unit_id")))
_RECORD_STANDING_IN_CASE = Hot(_record_standing_query(PDSA_RAMPS.c.unit_id.is_(None)))


def _bound(values: dict[str, Any]) -> dict[str, Any]:
    return {f"v_{key}": value for key, value in values.items()}


def _placeholders(table: Table, keys: tuple[str, ...]) -> dict[str, Any]:
    # Named apart from the columns: an UPDATE would take a parameter named like a column as a
    # value to SET.
    return {key: bindparam(f"v_{key}", type_=table.c[key].type) for key in keys}


# A new cycle's INSERT, built once per set of columns (building and keying a statement on every
# step cost about as much as running it); its updates ride in the case's own statement.
@functools.lru_cache(maxsize=64)
def _cycle_insert(keys: tuple[str, ...]) -> Any:
    return insert(PDSA_CYCLES).values(_placeholders(PDSA_CYCLES, keys)).returning(PDSA_CYCLES.c.id)


def record_step(
    session: Session,
    *,
    case_id: int,
    unit_id: int | None,
    stage: str,
    data: dict[str, Any],
    loop_ends_at: datetime | None = None,
    together: list[Write] | None = None,
) -> RecordedCycle:
    """Write a completed PDSA task's form into the unit's current cycle record.

    ``loop_ends_at`` is when the loop's timer fires after the task (the Do step is followed by the
    timer that ends the cycle's period); without it a cycle lasts three months from its Plan.
    ``together``: where to leave the updates of an existing cycle and of the ramp, for the case's
    own save to make in its statement (``update_case``) instead of a round trip of their own; a new
    ramp or cycle is inserted at once (its id is needed).

    Every PDSA step runs this, so it reads and writes plain rows through the Core (no ORM entities
    and flush); the ORM's view of these rows in this session is not refreshed.
    """
    now, day = utcnow(), today()
    params = {"case_id": case_id, "unit_id": unit_id}
    statement = _RECORD_STANDING_IN_CASE if unit_id is None else _RECORD_STANDING_IN_UNIT
    found = read_rows(session, statement, params).first()
    has_measures = bool(found.has_measures) if found is not None else bool(session.scalar(_HAS_MEASURES_ALONE, params))
    ramp_id: int | None = found.ramp_id if found is not None else None
    ramp_change_idea: str = found.ramp_change_idea if found is not None else ""
    ramp_changes: dict[str, Any] = {}
    last = (
        {name: getattr(found, f"cycle_{name}") for name in _RECORD_COLUMNS}
        if found is not None and found.cycle_id is not None
        else None
    )
    new_period = stage == "plan" or last is None or last["stage"] == "done"
    if new_period:
        if ramp_id is None:
            ramp_change_idea = str(data.get("change_idea") or "")[:200]
            ramp_id = session.execute(
                insert(PDSA_RAMPS)
                .values(
                    case_id=case_id,
                    unit_id=unit_id,
                    aim=str(data.get("aim") or data.get("objective") or ""),
                    change_idea=ramp_change_idea,
                    started_on=day,
                )
                .returning(PDSA_RAMPS.c.id)
            ).scalar_one()
        elif data.get("aim"):
            ramp_changes["aim"] = str(data["aim"])
        if last is not None and last["stage"] != "done":
            # A Plan while the last cycle is unfinished: the loop was restarted (e.g. the case was
            # moved to another model version). The old cycle ends here, without an Act decision.
            session.execute(
                update(PDSA_CYCLES).where(PDSA_CYCLES.c.id == last["id"]).values(stage="done", completed_at=now)
            )
        ends = _local_date(loop_ends_at) if loop_ends_at else _local_date(add_duration(now, DEFAULT_CYCLE))
        # The texts and lists the steps below read are given here (not left to the column
        # defaults of the INSERT), so the new record is written once, complete.
        cycle: dict[str, Any] = {
            "ramp_id": ramp_id,
            "case_id": case_id,
            "unit_id": unit_id,
            "number": (last["number"] + 1) if last else 1,
            "stage": "plan",
            "started_on": day,
            "ends_on": max(ends, day),
            "objective": "",
            "change_idea": "",
            "data_collection": [],
            "results": [],
            "learnt": "",
            "next_cycle_plan": "",
        }
        changes = cycle  # the whole new record is written
    else:
        assert last is not None
        cycle = dict(last)
        changes = {}
    assert ramp_id is not None

    def put(key: str, value: Any) -> None:
        cycle[key] = changes[key] = value

    if stage == "plan":
        for key in _PLAN_FIELDS:
            if key in data:
                put(key, data[key])
        put("change_idea", cycle["change_idea"] or ramp_change_idea)
        if not ramp_change_idea and cycle["change_idea"]:
            ramp_changes["change_idea"] = cycle["change_idea"]
        put("stage", "do")
    elif stage == "do":
        for key in _DO_FIELDS:
            if key in data:
                put(key, data[key])
        if loop_ends_at is not None:
            put("ends_on", max(_local_date(loop_ends_at), cycle["started_on"]))
        put("stage", "study")
    elif stage == "study":
        put("results", list(data.get("results") or []))
        put("learnt", str(data.get("learnt") or ""))
        put("stage", "act")
    elif stage == "act":
        decision = str(data.get("act_decision") or "")
        put("act_decision", decision or None)
        put("next_cycle_plan", str(data.get("next_cycle_plan") or ""))
        put("scale_up", bool(data.get("scale_up")))
        put("stage", "done")
        put("completed_at", now)
        if decision in ("adopt", "abandon"):
            ramp_changes.update(status="adopted" if decision == "adopt" else "abandoned", ended_on=day)
    put("search_text", _search_text(cycle))
    put("updated_at", now)
    # The session holds nothing unflushed (read_rows flushed it above): the INSERT goes straight to
    # its connection.
    writes: list[Changed] = []
    if new_period:
        cycle_id = session.connection().execute(_cycle_insert(tuple(changes)), _bound(changes)).scalar_one()
    else:
        cycle_id = cycle["id"]
        writes.append(Changed(PDSA_CYCLES, cycle_id, changes))
    if ramp_changes:
        writes.append(Changed(PDSA_RAMPS, ramp_id, ramp_changes))
    if together is not None:
        together.extend(writes)
    else:
        for write in writes:
            write_changed(session, write)
    recorded = RecordedCycle(cycle_id, ramp_id)
    if not has_measures:
        return recorded  # no measure to tie the ramp to, no data point to tie the cycle to
    if stage == "plan":
        _link_measures(session, ramp_id, case_id, cycle["data_collection"])
    if new_period or stage == "do":
        # A new cycle's period, or its Do's end date: the data points already entered in it are
        # the cycle's; those entered later are tied to it as they come (services/measures.py).
        period = _CyclePeriod(cycle_id, case_id, unit_id, cycle["started_on"], cycle["ends_on"])
        link_data_points(session, period)
    return recorded


# -- prefill --------------------------------------------------------------------------------------


def plan_prefill(session: Session, case_id: int, unit_id: int | None) -> dict[str, Any]:
    """The Plan form's starting values: the last cycle of an active ramp (its Act's plan for the
    next cycle as the objective), or, for a first cycle, the case's measures in the data plan."""
    standing = _standing(session, case_id, unit_id)
    ramp, last = standing.ramp, standing.cycle
    if ramp is not None and last is not None and last.stage == "done":
        return {
            "objective": last.next_cycle_plan or last.objective,
            "purpose": last.purpose,
            "change_idea": last.change_idea or ramp.change_idea,
            "questions": [dict(q) for q in last.questions],
            # Who, what and where carry over; when is the new cycle's to decide.
            "plan_tasks": [{k: v for k, v in t.items() if k != "when"} for t in last.plan_tasks],
            "data_collection": [dict(d) for d in last.data_collection],
        }
    names = session.scalars(select(Measure.name).where(Measure.case_id == case_id).order_by(Measure.id)).all()
    return {"data_collection": [{"measure": name} for name in names]} if names else {}


def current_cycle(session: Session, case_id: int, unit_id: int | None) -> PdsaCycle | None:
    """The unit's unfinished cycle, if any."""
    cycle = _standing(session, case_id, unit_id).cycle
    return cycle if cycle is not None and cycle.stage != "done" else None


def study_prefill(session: Session, case_id: int, unit_id: int | None) -> dict[str, Any]:
    """The Study form's starting values: one result row per question and prediction of the Plan."""
    cycle = current_cycle(session, case_id, unit_id)
    if cycle is None or not cycle.questions:
        return {}
    return {
        "results": [
            {"question": q.get("question", ""), "prediction": q.get("prediction", ""), "result": ""}
            for q in cycle.questions
        ]
    }


def prefill(session: Session, case_id: int, unit_id: int | None, stage: str | None) -> dict[str, Any]:
    """Starting values for a PDSA task's form (empty for other tasks)."""
    if stage == "plan":
        return plan_prefill(session, case_id, unit_id)
    if stage == "study":
        return study_prefill(session, case_id, unit_id)
    return {}


# -- views ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CycleSummary:
    """A cycle as lists show it."""

    id: int
    ramp_id: int
    number: int
    stage: str
    unit_id: int | None
    unit: str | None
    objective: str
    started_on: date
    ends_on: date
    act_decision: str | None


@dataclass(frozen=True)
class RampView:
    """A ramp with its cycles (oldest first) and the ids of the measures it moves."""

    id: int
    case_id: int
    case_title: str
    unit_id: int | None
    unit: str | None
    aim: str
    change_idea: str
    status: str
    started_on: date
    ended_on: date | None
    cycles: list[PdsaCycle]
    measure_ids: list[int]


def _summary(cycle: PdsaCycle, unit: str | None) -> CycleSummary:
    return CycleSummary(
        cycle.id, cycle.ramp_id, cycle.number, cycle.stage, cycle.unit_id, unit, cycle.objective,
        cycle.started_on, cycle.ends_on, cycle.act_decision,
    )  # fmt: skip


def case_cycles(session: Session, actor: Actor, case_id: int, unit_id: int | None = None) -> list[CycleSummary]:
    """Every cycle of a case (or of one unit), newest first; participants and admins only."""
    if session.get(Case, case_id) is None:
        raise NotFoundError("Ärendet finns inte.")
    participant_roles(session, actor, case_id)
    query = (
        select(PdsaCycle, Unit.name)
        .outerjoin(Unit, Unit.id == PdsaCycle.unit_id)
        .where(PdsaCycle.case_id == case_id)
        .order_by(PdsaCycle.started_on.desc(), PdsaCycle.id.desc())
    )
    if unit_id is not None:
        query = query.where(PdsaCycle.unit_id == unit_id)
    return [_summary(cycle, unit) for cycle, unit in session.execute(query)]


def ramp_view(session: Session, actor: Actor, ramp_id: int) -> RampView:
    """A ramp with its cycles and measures; participants of its case and admins only."""
    ramp = session.get(PdsaRamp, ramp_id)
    if ramp is None:
        raise NotFoundError("Rampen finns inte.")
    participant_roles(session, actor, ramp.case_id)
    case = session.get(Case, ramp.case_id)
    unit = session.get(Unit, ramp.unit_id) if ramp.unit_id else None
    cycles = list(session.scalars(select(PdsaCycle).where(PdsaCycle.ramp_id == ramp.id).order_by(PdsaCycle.number)))
    measure_ids = list(
        session.scalars(
            select(ramp_measures.c.measure_id)
            .where(ramp_measures.c.ramp_id == ramp.id)
            .order_by(ramp_measures.c.measure_id)
        )
    )
    return RampView(
        ramp.id, ramp.case_id, case.title if case else "", ramp.unit_id, unit.name if unit else None, ramp.aim,
        ramp.change_idea, ramp.status, ramp.started_on, ramp.ended_on, cycles, measure_ids,
    )  # fmt: skip


def ramp_measure_ids(session: Session, ramp_id: int) -> list[int]:
    """The ids of the measures a ramp moves."""
    query = select(ramp_measures.c.measure_id).where(ramp_measures.c.ramp_id == ramp_id)
    return list(session.scalars(query.order_by(ramp_measures.c.measure_id)))


def cycle_record(session: Session, actor: Actor, cycle_id: int) -> PdsaCycle:
    """One cycle's whole record; participants of its case and admins only."""
    cycle = session.get(PdsaCycle, cycle_id)
    if cycle is None:
        raise NotFoundError("PDSA-cykeln finns inte.")
    participant_roles(session, actor, cycle.case_id)
    return cycle


def cycle_periods(session: Session, case_id: int, unit_id: int | None) -> list[PdsaCycle]:
    """The unit's cycles in time order (for chart markers)."""
    unit = PdsaCycle.unit_id.is_(None) if unit_id is None else PdsaCycle.unit_id == unit_id
    return list(
        session.scalars(
            select(PdsaCycle).where(PdsaCycle.case_id == case_id, unit).order_by(PdsaCycle.started_on, PdsaCycle.id)
        )
    )
