"""Measures and data points: CSV import is all or nothing with a report naming each bad row and ties
each point to the PDSA cycle in force, one point is entered or corrected, the settings are checked
and audited, the export reads back equal, and a measure's chart is the chart rules applied to its
series with its cycles placed on the time axis."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
import time_machine
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from engine.errors import NotFoundError, PermissionDeniedError, ValidationError
from engine.pdsa import Point, xmr_chart
from engine.persistence import AuditEvent, DataPoint, PdsaCycle, Unit
from engine.services.chart_data import axis_position, chart_view, cycle_span
from engine.services.measures import (
    create_measure,
    export_data_points_csv,
    import_data_points_csv,
    list_measures,
    measure_chart,
    measure_detail,
    measures_overview,
    save_data_point,
    update_measure,
)
from engine.services.pdsa import cycle_in_force, record_step
from tests.factories import start_vgr

PLAN = {
    "objective": "Testa en checklista vid inskrivning.",
    "change_idea": "Checklista",
    "questions": [{"question": "Används den?", "prediction": "Ja."}],
}
MDC = [20, 24, 20, 26, 22, 16, 18, 16, 31, 28, 34, 26, 30, 19, 18]  # NHS Making Data Count XmR test data


def _case(session: Session) -> tuple[int, object, list[int]]:
    case_id, team, units = start_vgr(session, units=2)
    session.commit()
    return case_id, team, units


def test_csv_import_with_a_bad_row_imports_nothing(published: Session) -> None:
    case_id, team, (a, _b) = _case(published)
    measure = create_measure(published, team.coordinator, case_id, name="Andel med vårdplan", direction="higher")
    published.commit()
    unit_name = published.get(Unit, a).name  # type: ignore[union-attr]
    bad = (
        "period;value;unit;annotation\n"
        f"2026-01-01;61,5;{unit_name};\n"
        f"2026-02-30;62;{unit_name};\n"  # no such date
        f"2026-03-01;abc;{unit_name};\n"
        "2026-04-01;70;Okänd enhet;\n"
        f"2026-01-01;63;{unit_name};dubblett\n"
    )
    with pytest.raises(ValidationError) as err:
        import_data_points_csv(published, team.by_unit[a], measure.id, bad)
    published.rollback()
    assert set(err.value.field_errors) == {"rad 3", "rad 4", "rad 5", "rad 6"}
    assert "2026-02-30" in err.value.field_errors["rad 3"][0]
    assert "Okänd enhet" in err.value.field_errors["rad 5"][0]
    assert "två gånger" in err.value.field_errors["rad 6"][0]
    assert published.scalar(select(func.count()).select_from(DataPoint)) == 0
    with pytest.raises(ValidationError):
        import_data_points_csv(published, team.by_unit[a], measure.id, "när,hur\n2026-01-01,1\n")
    published.rollback()


def test_import_then_reimport_updates_with_audit_and_the_chart_follows_the_rules(published: Session) -> None:
    case_id, team, _units = _case(published)
    measure = create_measure(published, team.coordinator, case_id, name="Väntetid", direction="lower", chart_type="xmr")
    published.commit()
    lines = ["period,value"] + [f"2025-{m:02d}-01,{v}" for m, v in zip(range(1, 13), MDC, strict=False)]
    lines += [f"2026-{m:02d}-01,{v}" for m, v in zip(range(1, 4), MDC[12:], strict=False)]
    result = import_data_points_csv(published, team.coordinator, measure.id, "\n".join(lines) + "\n")
    published.commit()
    assert (result.created, result.updated) == (15, 0)
    chart = measure_chart(published, team.coordinator, measure.id)
    expected = xmr_chart([Point(v) for v in MDC], improvement="lower")
    assert round(chart.result.mean, 2) == 23.20  # type: ignore[union-attr]
    assert chart.result == expected
    again = import_data_points_csv(published, team.coordinator, measure.id, "period;value;excluded\n2025-01-01;21;ja\n")
    published.commit()
    assert (again.created, again.updated) == (0, 1)
    changed = published.scalars(select(AuditEvent).where(AuditEvent.action == "data_point_changed")).one()
    assert changed.before == {"value": 20.0, "excluded": False} and changed.after == {"value": 21.0, "excluded": True}


def test_only_participants_import_and_only_coordinators_define(published: Session) -> None:
    case_id, team, _units = _case(published)
    with pytest.raises(PermissionDeniedError):
        create_measure(published, team.by_role["rpt"], case_id, name="X")
    published.rollback()
    with pytest.raises(ValidationError) as err:
        create_measure(published, team.coordinator, case_id, name="", direction="sideways")
    published.rollback()
    assert set(err.value.field_errors) == {"name", "direction"}
    measure = create_measure(published, team.coordinator, case_id, name="Andel")
    published.commit()
    with pytest.raises(PermissionDeniedError):
        import_data_points_csv(published, team.outsider, measure.id, "period,value\n2026-01-01,1\n")  # type: ignore[arg-type]


# -- helpers for the tests below --------------------------------------------------------------------


def _monthly(unit: str, first: date, values: list[float], extra: str = "") -> str:
    rows = ["period;value;unit" + (";annotation" if extra else "")]
    for k, value in enumerate(values):
        month = first.month - 1 + k
        period = date(first.year + month // 12, month % 12 + 1, 1)
        rows.append(f"{period.isoformat()};{str(value).replace('.', ',')};{unit}" + (f";{extra}" if extra else ""))
    return "\n".join(rows) + "\n"


def _two_cycles(session: Session, case_id: int, unit: int) -> list[PdsaCycle]:
    """Two cycles of the unit: the first planned 2025-09-01 and ended with Act "adapt", the second
    planned 2025-12-10 (the service's own periods: three months from the Plan)."""
    with time_machine.travel(datetime(2025, 9, 1, 8, tzinfo=timezone.utc), tick=False) as traveller:
        for stage, data in (("plan", PLAN), ("do", {}), ("study", {}), ("act", {"act_decision": "adapt"})):
            record_step(session, case_id=case_id, unit_id=unit, stage=stage, data=data)
        traveller.move_to(datetime(2025, 12, 10, 8, tzinfo=timezone.utc))
        record_step(session, case_id=case_id, unit_id=unit, stage="plan", data=PLAN)
    session.commit()
    return list(session.scalars(select(PdsaCycle).where(PdsaCycle.unit_id == unit).order_by(PdsaCycle.number)))


class _Statements:
    """Counts the SQL statements a block sends."""

    def __init__(self, session: Session) -> None:
        self.engine = session.get_bind()
        self.statements: list[str] = []

    def _count(self, conn: object, cursor: object, statement: str, *args: object) -> None:
        self.statements.append(statement)

    def __enter__(self) -> _Statements:
        event.listen(self.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._count)


def _audit(session: Session, action: str) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


# -- import and the cycle in force -------------------------------------------------------------------


def test_import_ties_each_point_to_the_cycle_in_force_with_a_fixed_number_of_queries(published: Session) -> None:
    case_id, team, (a, b) = _case(published)
    cycles = _two_cycles(published, case_id, a)
    assert [c.number for c in cycles] == [1, 2]
    measure = create_measure(published, team.coordinator, case_id, name="Andel", direction="higher")
    other = create_measure(published, team.coordinator, case_id, name="Andel 2", direction="higher")
    published.commit()
    name_a, name_b = (published.get(Unit, u).name for u in (a, b))  # type: ignore[union-attr]
    short = _monthly(name_a, date(2025, 8, 1), [50, 52, 51])
    long = (
        _monthly(name_a, date(2025, 1, 1), [50 + k % 3 for k in range(18)])
        + _monthly(name_b, date(2025, 1, 1), [40] * 18).split("\n", 1)[1]
    )
    with _Statements(published) as few:
        import_data_points_csv(published, team.by_unit[a], other.id, short)
    with _Statements(published) as many:
        result = import_data_points_csv(published, team.by_unit[a], measure.id, long)
    published.commit()
    assert result.created == 36
    # The cycles are read once for the whole file, not once per row, and the new points go in one
    # executemany: 36 rows cost no more statements than 3.
    assert len(many.statements) == len(few.statements)
    assert len([s for s in many.statements if "pdsa_cycles" in s]) == 1
    points = published.scalars(select(DataPoint).where(DataPoint.measure_id == measure.id)).all()
    for p in points:
        assert p.cycle_id == cycle_in_force(published, case_id, p.unit_id, p.period), p.period
    by_period = {p.period: p.cycle_id for p in points if p.unit_id == a}
    assert by_period[date(2025, 8, 1)] is None
    assert by_period[date(2025, 10, 1)] == cycles[0].id
    assert by_period[date(2026, 1, 1)] == cycles[1].id
    assert all(p.cycle_id is None for p in points if p.unit_id == b)  # unit b runs no cycle
    created = _audit(published, "data_point_created")
    assert len(created) == 39 and created[-1].after is not None and created[-1].after["unit_id"] == b


def test_import_reads_swedish_columns_and_a_default_unit_and_refuses_a_half_pair(published: Session) -> None:
    case_id, team, (a, _b) = _case(published)
    measure = create_measure(published, team.coordinator, case_id, name="Andel")
    published.commit()
    text = "Period;Värde;Täljare;Nämnare;Anteckning;Exkluderad\n2026-01-01;50,5;101;200;Start;nej\n"
    result = import_data_points_csv(published, team.by_unit[a], measure.id, text, unit_id=a)
    published.commit()
    point = published.scalars(select(DataPoint)).one()
    assert (result.created, point.unit_id, point.value, point.numerator, point.denominator, point.annotation) == (
        1, a, 50.5, 101.0, 200.0, "Start",
    )  # fmt: skip
    with pytest.raises(ValidationError) as err:
        import_data_points_csv(published, team.by_unit[a], measure.id, "period;value;numerator\n2026-02-01;3;3\n")
    published.rollback()
    assert err.value.field_errors == {"rad 2": ["Ange både täljare och nämnare, eller ingen av dem."]}
    with pytest.raises(ValidationError):
        import_data_points_csv(published, team.by_unit[a], measure.id, "period;value\n2026-02-01;3\n", unit_id=999999)
    published.rollback()
    assert published.scalar(select(func.count()).select_from(DataPoint)) == 1


# -- one data point ----------------------------------------------------------------------------------


def test_save_data_point_creates_then_updates_with_audit_and_the_cycle(published: Session) -> None:
    case_id, team, (a, _b) = _case(published)
    cycles = _two_cycles(published, case_id, a)
    measure = create_measure(published, team.coordinator, case_id, name="Väntetid", direction="lower")
    published.commit()
    staff = team.by_unit[a]
    point = save_data_point(published, staff, measure.id, unit_id=a, period="2025-10-01", value="12,5",
                            numerator="", denominator=None, annotation="  Ny rutin ")  # fmt: skip
    published.commit()
    assert (point.value, point.annotation, point.cycle_id, point.created_by_id) == (12.5, "Ny rutin", cycles[0].id,
                                                                                    staff.user_id)  # fmt: skip
    (created,) = _audit(published, "data_point_created")
    assert created.after == {"unit_id": a, "period": "2025-10-01", "value": 12.5, "numerator": None,
                             "denominator": None, "annotation": "Ny rutin", "excluded": False,
                             "astronomical": False}  # fmt: skip
    again = save_data_point(published, staff, measure.id, unit_id=a, period=date(2025, 10, 1), value=30,
                            annotation="Ny rutin", astronomical=True)  # fmt: skip
    published.commit()
    assert again.id == point.id and (again.value, again.astronomical) == (30.0, True)
    (changed,) = _audit(published, "data_point_changed")
    assert changed.before == {"value": 12.5, "astronomical": False}
    assert changed.after == {"value": 30.0, "astronomical": True}
    assert published.scalar(select(func.count()).select_from(DataPoint)) == 1
    # The case-level series (no unit) takes points too, outside any unit's cycle.
    case_point = save_data_point(published, team.coordinator, measure.id, unit_id=None, period="2025-10-01", value=1)
    assert (case_point.unit_id, case_point.cycle_id) == (None, None)


def test_save_data_point_refuses_bad_input_and_outsiders_and_changes_nothing(published: Session) -> None:
    case_id, team, (a, _b) = _case(published)
    measure = create_measure(published, team.coordinator, case_id, name="Andel")
    published.commit()
    save_data_point(published, team.by_unit[a], measure.id, unit_id=a, period="2026-01-01", value=10)
    published.commit()
    with pytest.raises(ValidationError) as err:
        save_data_point(published, team.by_unit[a], measure.id, unit_id=a, period="2026-13-01", value="tio",
                        numerator="1", denominator="0", annotation="x" * 501)  # fmt: skip
    published.rollback()
    assert set(err.value.field_errors) == {"period", "value", "denominator", "annotation"}
    assert "2026-13-01" in err.value.field_errors["period"][0]
    with pytest.raises(ValidationError) as err:
        save_data_point(published, team.by_unit[a], measure.id, unit_id=a, period="2026-01-01", value=None)
    published.rollback()
    assert err.value.field_errors == {"value": ["Värdet saknas."]}
    other_unit = published.scalar(select(Unit.id).where(Unit.id.not_in([a, _b])).limit(1))
    with pytest.raises(ValidationError) as err:
        save_data_point(published, team.by_unit[a], measure.id, unit_id=other_unit, period="2026-01-01", value=1)
    published.rollback()
    assert set(err.value.field_errors) == {"unit_id"}
    with pytest.raises(PermissionDeniedError):
        save_data_point(published, team.outsider, measure.id, unit_id=a, period="2026-01-01", value=99)  # type: ignore[arg-type]
    published.rollback()
    with pytest.raises(NotFoundError):
        save_data_point(published, team.by_unit[a], 999999, unit_id=a, period="2026-01-01", value=99)
    published.rollback()
    point = published.scalars(select(DataPoint)).one()
    assert point.value == 10.0 and len(_audit(published, "data_point_created")) == 1
    assert _audit(published, "data_point_changed") == []


# -- the measure's settings ---------------------------------------------------------------------------


def test_update_measure_converts_form_values_and_audits_the_changed_fields(published: Session) -> None:
    case_id, team, _units = _case(published)
    measure = create_measure(published, team.coordinator, case_id, name="Väntetid", direction="lower",
                             aggregation="mean")  # fmt: skip
    published.commit()
    assert measure.aggregation == "mean"  # create_measure keeps every measure field, not a subset
    update_measure(published, team.coordinator, measure.id, target="12,5", chart_type="xmr", shift_points="8",
                   trend_points="", screen_outliers=True, recalculations="2026-03-01\n2025-06-01, 2026-03-01",
                   baseline_points="12", definition="Dagar från remiss till besök.", direction="lower")  # fmt: skip
    published.commit()
    published.refresh(measure)
    assert (measure.target, measure.chart_type, measure.shift_points, measure.trend_points) == (12.5, "xmr", 8, None)
    assert measure.recalculations == ["2025-06-01", "2026-03-01"] and measure.screen_outliers is True
    assert measure.baseline_points == 12
    (changed,) = _audit(published, "measure_changed")
    # Only what changed: the direction was already "lower".
    assert set(changed.before or {}) == {"target", "chart_type", "shift_points", "screen_outliers", "recalculations",
                                         "baseline_points", "definition"}  # fmt: skip
    assert changed.before["target"] is None and changed.after["recalculations"] == ["2025-06-01", "2026-03-01"]  # type: ignore[index]
    # The chart follows the new settings: a recalculation starts a second segment.
    lines = ["period;value"] + [f"2025-{m:02d}-01;{v}" for m, v in zip(range(1, 13), MDC, strict=False)]
    import_data_points_csv(published, team.coordinator, measure.id, "\n".join(lines) + "\n")
    view = chart_view(published, team.coordinator, measure.id, None)
    assert [s.first for s in view.segments] == [date(2025, 1, 1), date(2025, 6, 1)]


def test_update_measure_bounds_thresholds_by_chart_type_and_changes_nothing_on_error(published: Session) -> None:
    case_id, team, (a, _b) = _case(published)
    measure = create_measure(published, team.coordinator, case_id, name="Andel", chart_type="run")
    other = create_measure(published, team.coordinator, case_id, name="Annan")
    published.commit()
    update_measure(published, team.coordinator, measure.id, shift_points=10, trend_points=5)
    published.commit()
    cases = [
        ({"shift_points": "8", "chart_type": "xmr"}, {"trend_points"}),  # trend 5 is not allowed for XmR
        ({"chart_type": "xmr"}, {"shift_points", "trend_points"}),  # nor the run chart's 10
        ({"shift_points": 4}, {"shift_points"}),
        ({"trend_points": "7,5"}, {"trend_points"}),
        ({"baseline_points": "0", "target": "mycket"}, {"baseline_points", "target"}),
        ({"recalculations": "2026-02-30"}, {"recalculations"}),
        ({"aggregation": "median", "direction": "up"}, {"aggregation", "direction"}),
        ({"name": "Annan"}, {"name"}),
        ({"name": "  "}, {"name"}),
        ({"colour": "blue"}, {"colour"}),
    ]
    for fields, expected in cases:
        with pytest.raises(ValidationError) as err:
            update_measure(published, team.coordinator, measure.id, **fields)
        published.rollback()
        assert set(err.value.field_errors) == expected, fields
    with pytest.raises(PermissionDeniedError):
        update_measure(published, team.by_unit[a], measure.id, target=1)
    published.rollback()
    with pytest.raises(NotFoundError):
        update_measure(published, team.coordinator, 999999, target=1)
    published.rollback()
    published.refresh(measure)
    assert (measure.chart_type, measure.shift_points, measure.trend_points, measure.target) == ("run", 10, 5, None)
    assert len(_audit(published, "measure_changed")) == 1 and other.name == "Annan"


# -- export, list -------------------------------------------------------------------------------------


def test_export_then_import_into_a_fresh_measure_gives_the_same_points(published: Session) -> None:
    case_id, team, (a, b) = _case(published)
    measure = create_measure(published, team.coordinator, case_id, name="Andel")
    published.commit()
    name_a, name_b = (published.get(Unit, u).name for u in (a, b))  # type: ignore[union-attr]
    text = (
        "period;value;unit;numerator;denominator;annotation;excluded;astronomical\n"
        f'2026-01-01;61,53846153846154;{name_a};8;13;"Semikolon; och ""citat""";;\n'
        f"2026-02-01;-0,1;{name_a};;;=SUMMA(A1:A2);ja;\n"
        f"2026-01-01;1e-05;{name_b};;;;;ja\n"
        "2026-01-01;42;;;;Hela ärendet;;\n"
    )
    import_data_points_csv(published, team.coordinator, measure.id, text)
    published.commit()
    exported = export_data_points_csv(published, team.by_unit[a], measure.id)
    assert exported.splitlines()[0] == "period;value;unit;numerator;denominator;annotation;excluded;astronomical"
    assert f"2026-01-01;61,53846153846154;{name_a};8;13;" in exported
    assert "'=SUMMA(A1:A2)" in exported  # no formula when a spreadsheet opens the file
    fresh = create_measure(published, team.coordinator, case_id, name="Andel, kopia")
    published.commit()
    assert import_data_points_csv(published, team.coordinator, fresh.id, exported).created == 4

    def points(measure_id: int) -> set[tuple[object, ...]]:
        return {
            (p.unit_id, p.period, p.value, p.numerator, p.denominator, p.annotation, p.excluded, p.astronomical)
            for p in published.scalars(select(DataPoint).where(DataPoint.measure_id == measure_id))
        }

    assert points(fresh.id) == points(measure.id)
    assert ("=SUMMA(A1:A2)" in {row[5] for row in points(fresh.id)}) is True
    only_a = export_data_points_csv(published, team.coordinator, measure.id, a).splitlines()
    assert len(only_a) == 3 and all(name_a in line for line in only_a[1:])
    case_level = export_data_points_csv(published, team.coordinator, measure.id, None).splitlines()
    assert case_level[1:] == ["2026-01-01;42;;;;Hela ärendet;;"]
    with pytest.raises(PermissionDeniedError):
        export_data_points_csv(published, team.outsider, measure.id)  # type: ignore[arg-type]
    with pytest.raises(NotFoundError):
        export_data_points_csv(published, team.coordinator, measure.id, 999999)


def test_list_measures_and_the_measure_page_default(published: Session) -> None:
    case_id, team, (a, b) = _case(published)
    empty = create_measure(published, team.coordinator, case_id, name="B utan data")
    measure = create_measure(published, team.coordinator, case_id, name="A med data")
    published.commit()
    assert measure_detail(published, team.by_unit[a], measure.id).default_unit is None  # no data: the case series
    name_b = published.get(Unit, b).name  # type: ignore[union-attr]
    import_data_points_csv(published, team.by_unit[b], measure.id, _monthly(name_b, date(2025, 1, 1), [1, 2, 3]))
    published.commit()
    summaries = list_measures(published, team.by_unit[a], case_id)
    assert [(s.measure.name, s.points, s.units, s.latest) for s in summaries] == [
        ("A med data", 3, 1, date(2025, 3, 1)), ("B utan data", 0, 0, None),
    ]  # fmt: skip
    detail = measure_detail(published, team.by_unit[a], measure.id)
    assert detail.default_unit == b and not detail.can_manage and not detail.aggregates
    assert {(u.id, u.points) for u in detail.units} == {(a, 0), (b, 3)}
    assert measure_detail(published, team.coordinator, empty.id).can_manage
    overview = measures_overview(published, team.coordinator, case_id)
    assert overview.can_manage and len(overview.measures) == 2
    with pytest.raises(PermissionDeniedError):
        list_measures(published, team.outsider, case_id)  # type: ignore[arg-type]
    with pytest.raises(NotFoundError):
        list_measures(published, team.coordinator, 999999)


# -- the chart's JSON ---------------------------------------------------------------------------------


def test_axis_positions_and_cycle_spans() -> None:
    months = [date(2025, m, 1) for m in range(1, 7)]
    assert axis_position(months, date(2025, 1, 1)) == 0
    assert axis_position(months, date(2025, 3, 1)) == 2
    assert axis_position(months, date(2025, 3, 16)) == pytest.approx(2 + 15 / 31)
    assert axis_position(months, date(2024, 12, 1)) == pytest.approx(-1.0)
    assert axis_position(months, date(2025, 7, 1)) == pytest.approx(6.0, abs=0.05)
    assert axis_position([], date(2025, 1, 1)) is None
    assert cycle_span(months, date(2025, 2, 1), date(2025, 4, 1)) == (1, 3)
    assert cycle_span(months, date(2024, 1, 1), date(2025, 2, 1)) == (-0.5, 1)  # cut at the axis
    assert cycle_span(months, date(2026, 1, 1), date(2026, 4, 1)) is None  # after the last period
    assert cycle_span([date(2025, 1, 1)], date(2025, 1, 1), date(2025, 1, 31)) == (0, 0.5)


def test_the_chart_json_has_the_cycles_signals_and_points(published: Session) -> None:
    case_id, team, (a, _b) = _case(published)
    cycles = _two_cycles(published, case_id, a)
    measure = create_measure(published, team.coordinator, case_id, name="Andel", direction="higher")
    published.commit()
    name_a = published.get(Unit, a).name  # type: ignore[union-attr]
    values = [50, 51, 49, 50, 52, 48, 50, 51, 49, 50, 70, 72, 71, 73, 70, 72]  # a shift upwards from 2025-11
    import_data_points_csv(published, team.by_unit[a], measure.id, _monthly(name_a, date(2025, 1, 1), values))
    save_data_point(published, team.by_unit[a], measure.id, unit_id=a, period="2025-03-01", value=49,
                    excluded=True, annotation="Mätfel")  # fmt: skip
    published.commit()
    data = chart_view(published, team.by_unit[a], measure.id, a).as_json()
    assert data["labels"][0] == "2025-01-01" and len(data["values"]) == 16
    assert [c["number"] for c in data["cycles"]] == [1, 2]
    spans = data["cycleSpans"]
    assert spans[0][0] == pytest.approx(8.0) and spans[1][0] == pytest.approx(11 + 9 / 31)
    assert data["cycle"][8] == 1 and data["cycle"][12] == 2 and data["cycle"][0] is None
    shift = next(s for s in data["signals"] if s["kind"] == "shift")
    assert shift["variation"] == "improvement" and shift["periods"][0] == "2025-11-01"
    assert data["pointSignals"][10] == ["shift"] and data["variation"][10] == "improvement"
    assert data["excluded"][2] is True and data["notes"][2] == "Mätfel"
    assert data["current"] == "improvement" and data["segment"] == [0] * 16
    assert cycles[0].started_on == date(2025, 9, 1)
