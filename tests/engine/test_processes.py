"""Both shipped processes walked through the services: every gateway branch, units in parallel,
PDSA cycles across months of travelled time, and the right ending."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import time_machine
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.persistence import AuditEvent, Case, TaskIndexRow
from engine.services import case_history, fire_case_timers, send_signal
from tests.factories import do, ready, start_skane, start_vgr

T0 = datetime(2026, 1, 12, 8, 0, tzinfo=timezone.utc)


def _case(session: Session, case_id: int) -> Case:
    session.expire_all()
    case = session.get(Case, case_id)
    assert case is not None
    return case


def _travel_and_fire(session: Session, traveller: time_machine.Coordinates, case_id: int) -> None:
    """Jump to the case's next timer: nothing fires a minute before it, everything just after."""
    due = _case(session, case_id).next_timer_at
    assert due is not None
    traveller.move_to(due - timedelta(minutes=1))
    assert fire_case_timers(session, case_id) is False
    session.rollback()
    traveller.move_to(due + timedelta(seconds=1))
    assert fire_case_timers(session, case_id) is True
    session.commit()


def test_vgr_every_branch_three_units_three_pdsa_cycles(published: Session) -> None:
    s = published
    with time_machine.travel(T0, tick=False) as traveller:
        case_id, team, (a, b, c) = start_vgr(s, units=3)
        s.commit()
        assert ready(s, case_id) == [("step_01_consultation", None)]
        do(s, team, case_id, "step_01_consultation")
        assert ready(s, case_id) == []
        waiting = s.scalars(select(TaskIndexRow).where(TaskIndexRow.case_id == case_id)).all()
        assert [(w.kind, w.event_name) for w in waiting] == [("signal", "godkand_nationellt")]

        assert send_signal(s, team.coordinator, case_id, "godkand_nationellt") is True
        s.commit()
        do(s, team, case_id, "step_02_preparation")
        assert _case(s, case_id).phase == "planering_pagar"
        do(s, team, case_id, "step_03_rpt_start", {"data_needed": True})
        assert ready(s, case_id) == [("step_03_data", None)]
        do(s, team, case_id, "step_03_data")
        do(s, team, case_id, "step_04_gap_analysis")
        do(s, team, case_id, "step_05_decision", {"decision": "revise", "motivation": "Mätetalen saknas."})
        assert ready(s, case_id) == [("step_04_gap_analysis", None)]  # back to the gap analysis
        do(s, team, case_id, "step_04_gap_analysis")
        do(s, team, case_id, "step_05_decision", {"decision": "approved", "document_type": "regional_riktlinje"})
        assert _case(s, case_id).phase == "introducerad"
        # Steps 6-11 once per unit, in parallel.
        assert ready(s, case_id) == [("step_06_local_anchoring", u) for u in (a, b, c)]
        for unit in (a, b, c):
            do(s, team, case_id, "step_06_local_anchoring", unit=unit)

        # Unit a already works per the pathway: straight to follow-up, aim met.
        do(s, team, case_id, "step_07_implementation_plan", {"already_compliant": True}, unit=a)
        do(s, team, case_id, "step_09_follow_up", unit=a)
        do(s, team, case_id, "step_10_learning", unit=a)
        do(s, team, case_id, "step_11_implementation_phase", {"aim_met": True}, unit=a)

        # Unit b: PDSA cycle 1 (adapt) -> cycle 2 (adopt) -> aim not met -> cycle 3 (abandon) -> aim met.
        do(s, team, case_id, "step_07_implementation_plan", {"already_compliant": False}, unit=b)
        for cycle, decision in ((1, "adapt"), (2, "adopt")):
            do(s, team, case_id, "pdsa_plan", unit=b)
            do(s, team, case_id, "pdsa_do", unit=b)
            assert ("pdsa_study", b) not in ready(s, case_id)
            _travel_and_fire(s, traveller, case_id)
            do(s, team, case_id, "pdsa_study", unit=b)
            do(
                s,
                team,
                case_id,
                "pdsa_act",
                {"act_decision": decision, "next_cycle_plan": f"Cykel {cycle + 1}"},
                unit=b,
            )
        do(s, team, case_id, "step_09_follow_up", unit=b)
        do(s, team, case_id, "step_10_learning", unit=b)
        do(s, team, case_id, "step_11_implementation_phase", {"aim_met": False}, unit=b)
        do(s, team, case_id, "pdsa_plan", unit=b)
        do(s, team, case_id, "pdsa_do", unit=b)
        _travel_and_fire(s, traveller, case_id)
        do(s, team, case_id, "pdsa_study", unit=b)
        do(s, team, case_id, "pdsa_act", {"act_decision": "abandon"}, unit=b)
        do(s, team, case_id, "step_09_follow_up", unit=b)
        do(s, team, case_id, "step_10_learning", unit=b)
        assert _case(s, case_id).status == "running"
        do(s, team, case_id, "step_11_implementation_phase", {"aim_met": True}, unit=b)

        # Unit c: compliant, then the last unit finishing ends the case.
        do(s, team, case_id, "step_07_implementation_plan", {"already_compliant": True}, unit=c)
        do(s, team, case_id, "step_09_follow_up", unit=c)
        do(s, team, case_id, "step_10_learning", unit=c)
        do(s, team, case_id, "step_11_implementation_phase", {"aim_met": True}, unit=c)

        case = _case(s, case_id)
        assert case.status == "completed"
        assert case.completed_at is not None and case.completed_at > T0
        assert case.next_timer_at is None
        assert s.scalar(select(func.count()).select_from(TaskIndexRow).where(TaskIndexRow.case_id == case_id)) == 0
        # Three cycles of three months each passed.
        assert datetime.now(timezone.utc) > T0 + timedelta(days=3 * 89)
        history = case_history(s, team.coordinator, case_id)
        completed = [h for h in history if h.action == "task_completed"]
        assert len(completed) == 8 + 5 + 20 + 5  # top-level steps, units a, b (three cycles), c
        assert history[0].action == "case_started"
        assert history[-1].action == "case_completed"
        fired = s.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.case_id == case_id, AuditEvent.action == "timer_fired")
        )
        assert fired == 3


def test_vgr_without_data_and_with_a_per_case_cycle_length(published: Session) -> None:
    s = published
    with time_machine.travel(T0, tick=False) as traveller:
        case_id, team, (unit,) = start_vgr(s, units=1, cycle_duration="P1M")
        s.commit()
        do(s, team, case_id, "step_01_consultation")
        send_signal(s, team.coordinator, case_id, "godkand_nationellt")
        s.commit()
        do(s, team, case_id, "step_02_preparation")
        do(s, team, case_id, "step_03_rpt_start", {"data_needed": False})
        assert ready(s, case_id) == [("step_04_gap_analysis", None)]
        do(s, team, case_id, "step_04_gap_analysis")
        do(
            s,
            team,
            case_id,
            "step_05_decision",
            {"decision": "approved", "document_type": "regional_medicinsk_riktlinje"},
        )
        do(s, team, case_id, "step_06_local_anchoring", unit=unit)
        do(s, team, case_id, "step_07_implementation_plan", {"already_compliant": False}, unit=unit)
        do(s, team, case_id, "pdsa_plan", unit=unit)
        do(s, team, case_id, "pdsa_do", unit=unit)
        due = _case(s, case_id).next_timer_at
        assert due == datetime(2026, 2, 12, 8, 0, tzinfo=timezone.utc)  # one calendar month
        _travel_and_fire(s, traveller, case_id)
        assert ready(s, case_id) == [("pdsa_study", unit)]


def test_skane_lag_units_follow_up_loop_and_phases(published: Session) -> None:
    s = published
    with time_machine.travel(T0, tick=False) as traveller:
        case_id, team, (a, b) = start_skane(s, units=2)
        s.commit()
        assert _case(s, case_id).phase == "planering_pagar"
        do(s, team, case_id, "lag_appoint")
        do(s, team, case_id, "lag_analysis")
        do(s, team, case_id, "lag_action_plan")
        assert _case(s, case_id).phase == "introducerad"
        assert ready(s, case_id) == [("unit_introduction", a), ("unit_introduction", b)]
        do(s, team, case_id, "unit_introduction", {"already_compliant": True}, unit=a)
        do(s, team, case_id, "unit_introduction", {"already_compliant": False}, unit=b)
        do(s, team, case_id, "pdsa_plan", unit=b)
        do(s, team, case_id, "pdsa_do", unit=b)
        # Two timers wait now: the PDSA cycle (3 months) and the first follow-up (6 months).
        _travel_and_fire(s, traveller, case_id)
        do(s, team, case_id, "pdsa_study", unit=b)
        do(s, team, case_id, "pdsa_act", {"act_decision": "adopt"}, unit=b)
        assert _case(s, case_id).phase == "introducerad"
        _travel_and_fire(s, traveller, case_id)
        assert _case(s, case_id).phase == "uppfoljning"
        do(s, team, case_id, "lag_follow_up", {"continue_follow_up": True})
        assert ready(s, case_id) == []
        _travel_and_fire(s, traveller, case_id)
        do(s, team, case_id, "lag_follow_up", {"continue_follow_up": False})
        assert _case(s, case_id).status == "completed"
