"""Measures and data points: CSV import is all or nothing with a report naming each bad row, edits
are audited, and a measure's chart is the chart rules applied to its series."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.errors import PermissionDeniedError, ValidationError
from engine.pdsa import Point, xmr_chart
from engine.persistence import AuditEvent, DataPoint, Unit
from engine.services.measures import create_measure, import_data_points_csv, measure_chart
from tests.factories import start_vgr

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
        import_data_points_csv(published, team.by_unit[a], measure.id, "datum,varde\n2026-01-01,1\n")
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
