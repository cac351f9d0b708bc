"""The learning library's search (text, filters, LIKE wildcards taken literally, pagination, newest
first, who may open a hit) over cycles made by the real PDSA loop or by ``record_step``; the
highlighting spans; and the case and unit pages' PDSA parts (current signals by the chart's own
rule, in a fixed number of queries; a unit's ramps and steps)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
import time_machine
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from engine.errors import NotFoundError, PermissionDeniedError
from engine.persistence import Case, DataPoint, Measure, Pathway, PdsaCycle
from engine.services import fire_case_timers
from engine.services.actors import Actor
from engine.services.case_view import measure_signals, unit_detail
from engine.services.chart_data import case_measure_status
from engine.services.learning import match_spans, search_learning, search_terms
from engine.services.pdsa import record_step
from tests.factories import Team, do, make_actor, start_skane, start_vgr, walk_vgr_to_units

T0 = datetime(2026, 1, 12, 8, 0, tzinfo=timezone.utc)


def _fire_loop_timer(session: Session, traveller: time_machine.Coordinates, case_id: int) -> None:
    session.expire_all()
    case = session.get(Case, case_id)
    assert case is not None and case.next_timer_at is not None
    traveller.move_to(case.next_timer_at + timedelta(seconds=1))
    assert fire_case_timers(session, case_id) is True
    session.commit()


def _loop_cycle(
    session: Session,
    team: Team,
    case_id: int,
    unit: int,
    traveller: time_machine.Coordinates,
    *,
    learnt: str,
    decision: str,
    plan: dict[str, Any] | None = None,
    next_plan: str = "",
) -> None:
    """One whole cycle through the loop's tasks: Plan, Do, the loop's timer, Study, Act."""
    do(session, team, case_id, "pdsa_plan", plan or {}, unit=unit)
    do(session, team, case_id, "pdsa_do", unit=unit)
    _fire_loop_timer(session, traveller, case_id)
    do(session, team, case_id, "pdsa_study", {"learnt": learnt}, unit=unit)
    do(session, team, case_id, "pdsa_act", {"act_decision": decision, "next_cycle_plan": next_plan}, unit=unit)


def _vgr_in_loop(session: Session, units: int = 1, **kwargs: Any) -> tuple[int, Team, list[int]]:
    case_id, team, unit_ids = start_vgr(session, units=units, **kwargs)
    session.commit()
    walk_vgr_to_units(session, team, case_id)
    for unit in unit_ids:
        do(session, team, case_id, "step_06_local_anchoring", unit=unit)
        do(session, team, case_id, "step_07_implementation_plan", {"already_compliant": False}, unit=unit)
    return case_id, team, unit_ids


def test_the_library_finds_the_conclusions_the_loop_wrote(published: Session) -> None:
    s = published
    pathway_id = s.scalar(select(Pathway.id).order_by(Pathway.id).limit(1))
    with time_machine.travel(T0, tick=False) as traveller:
        case_id, team, (unit,) = _vgr_in_loop(s, pathway_id=pathway_id)
        _loop_cycle(
            s, team, case_id, unit, traveller,
            plan={"change_idea": "Telefonuppföljning efter utskrivning"},
            learnt="Telefonuppföljning inom 48 timmar minskade återinläggningarna.",
            decision="adapt", next_plan="Ring även helgdagar.",
        )  # fmt: skip
        _loop_cycle(s, team, case_id, unit, traveller, learnt="Helgsamtalen gav lika mycket.", decision="adopt")
        sk_case, _, (sk_unit, _) = start_skane(s, units=2, prefix="sk")
        s.commit()
        record_step(s, case_id=sk_case, unit_id=sk_unit, stage="plan", data={"objective": "Sepsislarm"})
        record_step(s, case_id=sk_case, unit_id=sk_unit, stage="study", data={"learnt": "TELEFON-rutin hjälpte."})
        s.commit()
    outsider = make_actor(s, "nyfiken.kollega")
    s.commit()

    found = search_learning(s, outsider, text="telefonuppFÖLJNING")
    assert [(h.case_id, h.number) for h in found.hits] == [(case_id, 1)] and found.total == 1
    hit = found.hits[0]
    assert hit.learnt.startswith("Telefonuppföljning inom 48 timmar") and hit.act_decision == "adapt"
    assert hit.next_cycle_plan == "Ring även helgdagar." and hit.change_idea == "Telefonuppföljning efter utskrivning"
    assert hit.case_title == "Hjärtsvikt – VGR" and hit.region == "Västra Götalandsregionen" and hit.unit
    assert hit.pathway is not None and hit.may_open is False  # anyone may search; the record stays the team's
    assert search_learning(s, team.by_unit[unit], text="telefonuppföljning").hits[0].may_open is True

    # Every word must occur; "telefon" is in both regions' conclusions.
    assert {h.case_id for h in search_learning(s, outsider, text="telefon").hits} == {case_id, sk_case}
    assert search_learning(s, outsider, text="telefon helgdagar").total == 1
    assert search_learning(s, outsider, text="telefon saknas").total == 0

    vgr_region = s.get(Case, case_id).region_id  # type: ignore[union-attr]
    assert {h.case_id for h in search_learning(s, outsider, region_id=vgr_region).hits} == {case_id}
    assert {h.case_id for h in search_learning(s, outsider, pathway_id=pathway_id).hits} == {case_id}
    assert [h.number for h in search_learning(s, outsider, decision="adopt").hits] == [2]
    assert [h.number for h in search_learning(s, outsider, decision="abandon").hits] == []
    # Act: the two decided cycles; Study: also the Skåne cycle that waits for its Act.
    assert [(h.case_id, h.number) for h in search_learning(s, outsider, step="act").hits] == [
        (case_id, 2),
        (case_id, 1),
    ]
    assert search_learning(s, outsider, step="study").total == 3
    assert search_learning(s, outsider, step="anything", decision="nonsense").total == 3  # unknown = no filter


def test_a_cycle_without_a_study_is_not_under_study_or_act(published: Session) -> None:
    s = published
    case_id, team, (a, b, c) = start_vgr(s, units=3)
    s.commit()
    record_step(s, case_id=case_id, unit_id=a, stage="plan", data={"objective": "Bara planerad"})
    record_step(s, case_id=case_id, unit_id=b, stage="plan", data={"objective": "Planerad och gjord"})
    record_step(s, case_id=case_id, unit_id=b, stage="do", data={"observations": "Gick bra"})
    record_step(s, case_id=case_id, unit_id=c, stage="plan", data={"objective": "Omstartad"})
    # A new Plan while cycle 1 is unfinished (the loop restarted): cycle 1 ends without a Study.
    record_step(s, case_id=case_id, unit_id=c, stage="plan", data={"objective": "Omstartad igen"})
    s.commit()
    everything = search_learning(s, team.coordinator)
    assert everything.total == 4
    assert search_learning(s, team.coordinator, step="study").total == 0
    assert search_learning(s, team.coordinator, step="act").total == 0


def test_like_wildcards_in_the_query_are_taken_literally(published: Session) -> None:
    s = published
    case_id, team, units = start_vgr(s, units=5)
    s.commit()
    texts = ["50% fler samtal", "500 fler samtal", "kod a_b användes", "kod axb användes", "sökväg c:\\mapp"]
    for unit, learnt in zip(units, texts, strict=True):
        record_step(s, case_id=case_id, unit_id=unit, stage="plan", data={"objective": "x"})
        record_step(s, case_id=case_id, unit_id=unit, stage="study", data={"learnt": learnt})
    s.commit()

    def learnt(query: str) -> list[str]:
        return [h.learnt for h in search_learning(s, team.coordinator, text=query).hits]

    assert learnt("50%") == ["50% fler samtal"]
    assert learnt("a_b") == ["kod a_b användes"]
    assert learnt("c:\\mapp") == ["sökväg c:\\mapp"]
    assert learnt("%") == ["50% fler samtal"]
    assert learnt("_") == ["kod a_b användes"]
    assert sorted(learnt("fler")) == ["50% fler samtal", "500 fler samtal"]


def test_newest_cycle_first_in_pages_with_a_total(published: Session) -> None:
    s = published
    case_id, team, (unit,) = start_vgr(s, units=1)
    s.commit()
    for n in range(1, 26):
        with time_machine.travel(T0 + timedelta(days=10 * n), tick=False):
            record_step(s, case_id=case_id, unit_id=unit, stage="plan", data={"objective": f"Cykel nummer {n}"})
            record_step(s, case_id=case_id, unit_id=unit, stage="study", data={"learnt": f"Lärdom {n}"})
            record_step(s, case_id=case_id, unit_id=unit, stage="act", data={"act_decision": "adapt"})
    s.commit()
    first = search_learning(s, team.coordinator, text="lärdom", per_page=10)
    assert first.total == 25 and first.pages == 3 and first.page == 1
    assert [h.number for h in first.hits] == list(range(25, 15, -1))
    assert first.hits[0].started_on > first.hits[1].started_on
    last = search_learning(s, team.coordinator, text="lärdom", page=3, per_page=10)
    assert [h.number for h in last.hits] == [5, 4, 3, 2, 1]
    assert search_learning(s, team.coordinator, text="lärdom", page=99, per_page=10).page == 3  # clamped
    assert search_learning(s, team.coordinator, text="lärdom", page=-4, per_page=10).page == 1
    empty = search_learning(s, team.coordinator, text="finns inte")
    assert empty.total == 0 and empty.hits == [] and empty.page == 1 and empty.pages == 1


def test_search_terms_and_highlight_spans() -> None:
    assert search_terms("  Telefon  TELEFON samtal ") == ["telefon", "samtal"]
    assert len(search_terms(" ".join(f"ord{i}" for i in range(30)))) == 10
    assert match_spans("Telefon och telefonsamtal", ["telefon"]) == [(0, 7), (12, 19)]
    # Overlapping and adjacent words merge into one mark.
    assert match_spans("telefonsamtal", ["telefon", "fonsam"]) == [(0, 10)]
    # Folding may change the length (ß -> ss): the span covers the original characters.
    text = "Die Straße war lang"
    assert [text[a:b] for a, b in match_spans(text, search_terms("STRASSE"))] == ["Straße"]
    assert match_spans("<script>", ["script"]) == [(1, 7)]
    assert match_spans("inget här", ["saknas", ""]) == []


# -- the case and unit pages --------------------------------------------------------------------------

MONTHS = [date(2025, m, 1) for m in range(1, 13)] + [date(2026, m, 1) for m in range(1, 7)]
LOW_THEN_HIGH = [5, 4, 6, 5, 4, 6, 5, 4, 6, 5, 9, 10, 9, 11, 10, 9, 10, 11]


def _measure(session: Session, case_id: int, name: str, direction: str, series: dict[int | None, list[float]]) -> int:
    measure = Measure(case_id=case_id, name=name, direction=direction, unit_label="%")
    session.add(measure)
    session.flush()
    for unit, values in series.items():
        session.add_all(
            DataPoint(measure_id=measure.id, unit_id=unit, period=period, value=value)
            for period, value in zip(MONTHS, values, strict=False)
        )
    session.flush()
    return measure.id


@contextmanager
def _statements(session: Session) -> Iterator[list[str]]:
    seen: list[str] = []
    engine = session.get_bind()

    def count(*args: Any) -> None:
        if str(args[2]).lstrip().upper().startswith("SELECT"):
            seen.append(args[2])

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_measure_signals_match_the_charts_and_take_three_queries(published: Session) -> None:
    s = published
    case_id, team, (a, b) = start_vgr(s, units=2)
    s.commit()
    better = _measure(s, case_id, "Andel uppringda", "higher", {a: LOW_THEN_HIGH, b: [5.0] * 14})
    worse = _measure(s, case_id, "Återinläggningar", "higher", {a: LOW_THEN_HIGH[::-1], None: LOW_THEN_HIGH})
    s.commit()
    actor: Actor = team.by_unit[a]

    with _statements(s) as seen:
        signals = measure_signals(s, actor, case_id)
    # The case check, the participant check, then measures, units and every data point at once.
    assert len(seen) <= 5
    by_key = {(m.measure_id, m.unit_id): m for m in signals}
    assert list(by_key) == [(better, a), (better, b), (worse, None), (worse, a), (worse, b)]
    assert by_key[(better, a)].current == "improvement" and by_key[(better, a)].value == 11
    assert by_key[(better, a)].period == MONTHS[17] and by_key[(better, a)].unit_label == "%"
    assert by_key[(better, b)].current is None and by_key[(better, b)].value == 5
    assert by_key[(worse, a)].current == "concern"
    assert by_key[(worse, b)].current is None and by_key[(worse, b)].period is None  # no data
    # The same current signal as the chart of each unit.
    for unit in (a, b):
        for measure, view in case_measure_status(s, actor, case_id, unit):
            assert by_key[(measure.id, unit)].current == view.current
    assert [(m.measure_id, m.unit_id) for m in measure_signals(s, actor, case_id, b)] == [(better, b), (worse, b)]

    # More measures do not mean more queries.
    for n in range(5):
        _measure(s, case_id, f"Extra {n}", "lower", {a: LOW_THEN_HIGH, b: LOW_THEN_HIGH})
    s.commit()
    with _statements(s) as more:
        assert len(measure_signals(s, actor, case_id)) == 5 + 5 * 2
    assert len(more) == len(seen)
    with pytest.raises(PermissionDeniedError):
        measure_signals(s, team.outsider, case_id)  # type: ignore[arg-type]
    with pytest.raises(NotFoundError):
        measure_signals(s, actor, 999_999)


def test_unit_detail_lists_the_units_ramps_cycles_and_steps(published: Session) -> None:
    s = published
    with time_machine.travel(T0, tick=False) as traveller:
        case_id, team, (a, b) = _vgr_in_loop(s, units=2)
        _loop_cycle(s, team, case_id, a, traveller, learnt="Första", decision="adapt", next_plan="Mer")
        _loop_cycle(s, team, case_id, a, traveller, learnt="Andra", decision="abandon")
        # The unit goes on to follow-up; not yet met, so a new ramp starts with a new Plan.
        do(s, team, case_id, "step_09_follow_up", unit=a)
        do(s, team, case_id, "step_10_learning", unit=a)
        do(s, team, case_id, "step_11_implementation_phase", {"aim_met": False}, unit=a)
        do(s, team, case_id, "pdsa_plan", {"change_idea": "Ny idé"}, unit=a)

    detail = unit_detail(s, team.by_unit[a], case_id, a)
    assert detail.case_id == case_id and detail.case_title == "Hjärtsvikt – VGR"
    assert [(r.status, [(c.number, c.stage, c.act_decision) for c in r.cycles]) for r in detail.ramps] == [
        ("active", [(1, "do", None)]),
        ("abandoned", [(1, "done", "adapt"), (2, "done", "abandon")]),
    ]
    assert detail.ramps[0].change_idea == "Ny idé" and detail.ramps[1].ended_on is not None
    assert [(st.bpmn_id, st.kind) for st in detail.steps] == [("pdsa_do", "user")]
    assert all(st.unit_id == a for st in detail.steps)
    other = unit_detail(s, team.coordinator, case_id, b)
    assert other.ramps == [] and [st.bpmn_id for st in other.steps] == ["pdsa_plan"]
    with pytest.raises(PermissionDeniedError):
        unit_detail(s, team.outsider, case_id, a)  # type: ignore[arg-type]
    sk_case, _, (sk_unit, _) = start_skane(s, units=2)
    s.commit()
    with pytest.raises(NotFoundError):
        unit_detail(s, team.coordinator, case_id, sk_unit)  # a unit of another case
    with pytest.raises(NotFoundError):
        unit_detail(s, team.coordinator, 999_999, a)
    assert s.scalar(select(PdsaCycle.id).where(PdsaCycle.case_id == sk_case)) is None
