"""PDSA cycle records through the services: the loop's Plan, Do, Study and Act tasks write the
cycle record, the Study sees its predictions beside the chart of its period, Act "adapt" starts a
prefilled second cycle and Act "adopt" ends the ramp."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import time_machine
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.errors import InvalidModelError, PermissionDeniedError
from engine.persistence import Case, DataPoint, FormSubmission, PdsaCycle, PdsaRamp, Unit
from engine.services import fire_case_timers
from engine.services.catalogue import DEFAULT_ROLES
from engine.services.measures import create_measure, import_data_points_csv
from engine.services.pdsa import case_cycles, ramp_view, record_step
from engine.services.task_view import task_detail
from engine.workflow.compiler import compile_bundle
from tests.factories import do, ready, start_skane, start_vgr, task_row, walk_vgr_to_units

T0 = datetime(2026, 1, 12, 8, 0, tzinfo=timezone.utc)

PLAN = {
    "aim": "Alla patienter med hjärtsvikt har en vårdplan inom en vecka.",
    "objective": "Testa en checklista vid inskrivning på en avdelning.",
    "purpose": "test",
    "change_idea": "Checklista vid inskrivning",
    "questions": [{"question": "Används checklistan?", "prediction": "Ja, i 8 av 10 inskrivningar."}],
    "plan_tasks": [
        {"who": "Avdelningschefen", "what": "Introducera checklistan", "where": "Avd 12", "when": "2026-01-19"}
    ],
    "data_collection": [{"measure": "andel med vårdplan", "who": "Undersköterska", "when": "Varje vecka"}],
}


def _travel_to_timer(session: Session, traveller: time_machine.Coordinates, case_id: int) -> None:
    session.expire_all()
    case = session.get(Case, case_id)
    assert case is not None and case.next_timer_at is not None
    traveller.move_to(case.next_timer_at + timedelta(seconds=1))
    assert fire_case_timers(session, case_id) is True
    session.commit()


def _monthly_csv(unit: str, start: date, values: list[float]) -> str:
    rows = ["period;value;unit"]
    for k, value in enumerate(values):
        month = start.month - 1 + k
        rows.append(f"{date(start.year + month // 12, month % 12 + 1, 1).isoformat()};{value};{unit}")
    return "\n".join(rows) + "\n"


def test_full_loop_plan_do_study_act_adapt_then_adopt(published: Session) -> None:
    s = published
    with time_machine.travel(T0, tick=False) as traveller:
        case_id, team, (unit,) = start_vgr(s, units=1)
        s.commit()
        measure = create_measure(s, team.coordinator, case_id, name="Andel med vårdplan", direction="higher")
        unit_name = s.get(Unit, unit).name  # type: ignore[union-attr]
        # A baseline year (2025) around 50 %, then the months of the first cycle clearly higher.
        baseline = [50, 52, 49, 51, 50, 48, 52, 50, 49, 51, 50, 52]
        import_data_points_csv(s, team.by_unit[unit], measure.id, _monthly_csv(unit_name, date(2025, 1, 1), baseline))
        s.commit()
        walk_vgr_to_units(s, team, case_id)
        do(s, team, case_id, "step_06_local_anchoring", unit=unit)
        do(s, team, case_id, "step_07_implementation_plan", {"already_compliant": False}, unit=unit)

        # Plan: a first cycle starts from the case's measures in the data plan.
        plan = task_row(s, case_id, "pdsa_plan", unit)
        detail = task_detail(s, team.by_unit[unit], plan.task_id)
        assert detail.pdsa_stage == "plan" and detail.cycle is None
        assert detail.prefill == {"data_collection": [{"measure": "Andel med vårdplan"}]}
        do(s, team, case_id, "pdsa_plan", PLAN, unit=unit)
        ramp = s.scalars(select(PdsaRamp).where(PdsaRamp.case_id == case_id)).one()
        cycle = s.scalars(select(PdsaCycle).where(PdsaCycle.ramp_id == ramp.id)).one()
        assert (ramp.status, ramp.unit_id, ramp.aim, ramp.change_idea) == (
            "active",
            unit,
            PLAN["aim"],
            "Checklista vid inskrivning",
        )
        assert (cycle.number, cycle.stage, cycle.objective, cycle.questions) == (
            1,
            "do",
            PLAN["objective"],
            PLAN["questions"],
        )
        assert cycle.started_on == date(2026, 1, 12)
        assert ramp_view(s, team.coordinator, ramp.id).measure_ids == [measure.id]  # matched by name, any case
        # The record, not the workflow, holds the plan: the workflow only keeps what expressions read.
        assert (
            s.scalar(select(func.count()).select_from(FormSubmission).where(FormSubmission.bpmn_id == "pdsa_plan")) == 1
        )

        # Do: the record's period now ends when the loop's timer fires (three months after the Do).
        traveller.move_to(T0 + timedelta(days=5))
        do(s, team, case_id, "pdsa_do", {"carried_out_as_planned": True, "observations": "Checklistan användes."},
           unit=unit)  # fmt: skip
        s.refresh(cycle)
        assert (cycle.stage, cycle.carried_out_as_planned, cycle.observations) == (
            "study",
            True,
            "Checklistan användes.",
        )
        assert cycle.ends_on == date(2026, 4, 17)
        # Data of the cycle's months, entered while it runs, is linked to the cycle in force.
        import_data_points_csv(
            s, team.by_unit[unit], measure.id, _monthly_csv(unit_name, date(2026, 2, 1), [60, 63, 65])
        )
        s.commit()
        linked = s.scalars(select(DataPoint.cycle_id).where(DataPoint.period >= date(2026, 2, 1))).all()
        assert linked == [cycle.id] * 3
        assert s.scalar(select(func.count()).select_from(DataPoint).where(DataPoint.cycle_id.is_(None))) == 12

        # Three months later the Study is ready, with its predictions and the chart of its period.
        assert ("pdsa_study", unit) not in ready(s, case_id)
        _travel_to_timer(s, traveller, case_id)
        study = task_row(s, case_id, "pdsa_study", unit)
        detail = task_detail(s, team.by_unit[unit], study.task_id)
        assert detail.cycle is not None and detail.cycle.id == cycle.id
        assert detail.prefill == {
            "results": [
                {"question": "Används checklistan?", "prediction": "Ja, i 8 av 10 inskrivningar.", "result": ""}
            ]
        }
        (chart,) = detail.charts
        assert chart.measure_id == measure.id and chart.unit_id == unit
        assert [(c.number, c.started_on, c.ends_on) for c in chart.cycles] == [
            (1, date(2026, 1, 12), date(2026, 4, 17))
        ]
        in_cycle = [p for p in chart.points if p.cycle_number == 1]
        assert [p.value for p in in_cycle] == [60, 63, 65]
        assert chart.current == "improvement"  # the three months are far above the baseline's median
        assert chart.as_json()["cycles"] == [
            {"number": 1, "start": "2026-01-12", "end": "2026-04-17", "decision": None}
        ]

        results = [{"question": "Används checklistan?", "prediction": "Ja, i 8 av 10 inskrivningar.",
                    "result": "I 6 av 10: kvällspersonalen kände inte till den."}]  # fmt: skip
        do(s, team, case_id, "pdsa_study", {"results": results, "learnt": "Kvällspersonalen behöver en introduktion."},
           unit=unit)  # fmt: skip
        s.refresh(cycle)
        assert (cycle.stage, cycle.results) == ("act", results)
        assert "kvällspersonalen behöver en introduktion." in cycle.search_text

        # Act "adapt": the cycle is done, the ramp goes on, and the next Plan starts from this cycle.
        do(s, team, case_id, "pdsa_act", {"act_decision": "adapt", "next_cycle_plan": "Introducera kvällspersonalen."},
           unit=unit)  # fmt: skip
        s.refresh(cycle)
        s.refresh(ramp)
        assert (cycle.stage, cycle.act_decision, ramp.status) == ("done", "adapt", "active")
        assert ready(s, case_id) == [("pdsa_plan", unit)]
        detail = task_detail(s, team.by_unit[unit], task_row(s, case_id, "pdsa_plan", unit).task_id)
        assert detail.prefill == {
            "objective": "Introducera kvällspersonalen.",
            "purpose": "test",
            "change_idea": "Checklista vid inskrivning",
            "questions": PLAN["questions"],
            "plan_tasks": [{"who": "Avdelningschefen", "what": "Introducera checklistan", "where": "Avd 12"}],
            "data_collection": PLAN["data_collection"],
        }

        # The second cycle: same ramp, number 2; Act "adopt" ends the ramp and the unit goes on.
        second_plan: dict[str, Any] = {
            **detail.prefill,
            "plan_tasks": [{**PLAN["plan_tasks"][0], "when": "2026-05-01"}],
        }
        do(s, team, case_id, "pdsa_plan", second_plan, unit=unit)
        do(s, team, case_id, "pdsa_do", {"carried_out_as_planned": True, "observations": "Alla introducerade."},
           unit=unit)  # fmt: skip
        _travel_to_timer(s, traveller, case_id)
        do(s, team, case_id, "pdsa_study", unit=unit)
        do(s, team, case_id, "pdsa_act", {"act_decision": "adopt"}, unit=unit)
        s.refresh(ramp)
        cycles = s.scalars(select(PdsaCycle).where(PdsaCycle.ramp_id == ramp.id).order_by(PdsaCycle.number)).all()
        assert [(c.number, c.stage, c.act_decision) for c in cycles] == [(1, "done", "adapt"), (2, "done", "adopt")]
        assert cycles[1].objective == "Introducera kvällspersonalen."
        assert (ramp.status, ramp.ended_on) == ("adopted", cycles[1].completed_at.date())  # type: ignore[union-attr]
        assert ("step_09_follow_up", unit) in ready(s, case_id)
        assert [c.number for c in case_cycles(s, team.coordinator, case_id)] == [2, 1]


def test_a_new_round_starts_a_new_ramp_and_units_keep_their_own(published: Session) -> None:
    s = published
    with time_machine.travel(T0, tick=False) as traveller:
        case_id, team, (a, b) = start_skane(s, units=2)
        s.commit()
        do(s, team, case_id, "lag_appoint")
        do(s, team, case_id, "lag_analysis")
        do(s, team, case_id, "lag_action_plan")
        for unit in (a, b):
            do(s, team, case_id, "unit_introduction", {"already_compliant": False}, unit=unit)
            do(s, team, case_id, "pdsa_plan", {**PLAN, "change_idea": f"Idé {unit}"}, unit=unit)
        ramps = s.scalars(select(PdsaRamp).where(PdsaRamp.case_id == case_id).order_by(PdsaRamp.unit_id)).all()
        assert [(r.unit_id, r.change_idea) for r in ramps] == [(a, f"Idé {a}"), (b, f"Idé {b}")]
        do(s, team, case_id, "pdsa_do", unit=a)
        _travel_to_timer(s, traveller, case_id)
        do(s, team, case_id, "pdsa_study", unit=a)
        do(s, team, case_id, "pdsa_act", {"act_decision": "abandon"}, unit=a)
        s.refresh(ramps[0])
        assert ramps[0].status == "abandoned"
        # Unit b's cycle is untouched by unit a's decision.
        cycle_b = s.scalars(select(PdsaCycle).where(PdsaCycle.unit_id == b)).one()
        assert (cycle_b.stage, cycle_b.number) == ("do", 1)
        # After an ended ramp, the next Plan of the same unit starts a new ramp (not a cycle 2).
        record_step(s, case_id=case_id, unit_id=a, stage="plan", data={**PLAN, "change_idea": "Ny idé"})
        s.flush()
        new = s.scalars(select(PdsaRamp).where(PdsaRamp.unit_id == a, PdsaRamp.status == "active")).one()
        assert new.id != ramps[0].id and new.change_idea == "Ny idé"
        assert s.scalars(select(PdsaCycle.number).where(PdsaCycle.ramp_id == new.id)).all() == [1]


def test_a_step_without_a_plan_still_keeps_its_record(published: Session) -> None:
    # A case moved onto the loop mid-cycle (or from before cycle records existed): the Do still
    # lands in a record instead of being lost.
    case_id, _team, (unit, _b) = start_vgr(published, units=2)
    recorded = record_step(published, case_id=case_id, unit_id=unit, stage="do", data={"observations": "Gjort."})
    cycle = published.get_one(PdsaCycle, recorded.id)
    assert (cycle.ramp_id, cycle.number, cycle.stage, cycle.observations) == (recorded.ramp_id, 1, "study", "Gjort.")


def test_the_cycle_record_is_not_readable_by_outsiders(published: Session) -> None:
    case_id, team, (unit, _b) = start_vgr(published, units=2)
    cycle = record_step(published, case_id=case_id, unit_id=unit, stage="plan", data=PLAN)
    with pytest.raises(PermissionDeniedError):
        ramp_view(published, team.outsider, cycle.ramp_id)


def test_an_unknown_pdsa_stage_is_refused_at_publish() -> None:
    root = Path(__file__).resolve().parents[2] / "bpmn"
    xml = (
        (root / "pdsa_cycle.bpmn")
        .read_text(encoding="utf-8")
        .replace(
            '<spiffworkflow:property name="pdsaStage" value="do" />',
            '<spiffworkflow:property name="pdsaStage" value="göra" />',
        )
    )
    forms = {p.name: p.read_text(encoding="utf-8") for p in (root / "forms").glob("pdsa_*.json")}
    roles = {name.casefold(): code for code, name_sv, name_en, _ in DEFAULT_ROLES for name in (code, name_sv, name_en)}
    with pytest.raises(InvalidModelError) as err:
        compile_bundle("pdsa_cycle", {"pdsa_cycle.bpmn": xml.encode()}, forms, roles)
    assert [(i.code, i.element_id) for i in err.value.issues] == [("invalid_pdsa_stage", "pdsa_do")]
    assert "göra" in err.value.issues[0].message
