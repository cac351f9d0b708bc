"""Measures of a case and their data points: define a measure, import data points from CSV (all or
nothing, with a report naming every bad row), and compute a measure's chart for a unit."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import NotFoundError, PermissionDeniedError, ValidationError
from engine.pdsa import Point, RunChartResult, XmRResult, run_chart, xmr_chart
from engine.persistence import Case, CaseUnit, DataPoint, Measure, Unit
from engine.persistence.measures import CHART_TYPES, DIRECTIONS, MEASURE_KINDS, RULE_SETS
from engine.services.access import participant_roles
from engine.services.actors import Actor
from engine.services.audit import audit_row, write_audit

MAX_CSV_BYTES = 2 * 1024 * 1024
MAX_ROWS = 10_000
_TRUE = {"1", "ja", "yes", "true", "x"}


@dataclass(frozen=True)
class ImportResult:
    """What an import did."""

    created: int
    updated: int


@dataclass(frozen=True)
class MeasureChart:
    """A measure's chart for one unit: the points in period order and the analysis."""

    measure_id: int
    unit_id: int | None
    periods: list[date]
    points: list[Point]
    result: RunChartResult | XmRResult


def _roles(session: Session, actor: Actor, case_id: int) -> bool:
    """Whether the actor manages the case (PermissionDeniedError unless they take part)."""
    return actor.is_admin or participant_roles(session, actor, case_id).is_coordinator


def create_measure(session: Session, actor: Actor, case_id: int, **fields: Any) -> Measure:
    """Define a measure of a case (its coordinator)."""
    if session.get(Case, case_id) is None:
        raise NotFoundError("Ärendet finns inte.")
    if not _roles(session, actor, case_id):
        raise PermissionDeniedError("Bara ärendets koordinator kan lägga till mätetal.")
    errors: dict[str, list[str]] = {}
    name = str(fields.get("name", "")).strip()
    if not name:
        errors["name"] = ["Ge mätetalet ett namn."]
    for key, allowed in (("kind", MEASURE_KINDS), ("direction", DIRECTIONS), ("chart_type", CHART_TYPES),
                         ("rules", RULE_SETS)):  # fmt: skip
        if key in fields and fields[key] not in allowed:
            errors[key] = [f"Välj en av {', '.join(allowed)}."]
    baseline = fields.get("baseline_points")
    if baseline is not None and (not isinstance(baseline, int) or baseline < 1):
        errors["baseline_points"] = ["Ange ett positivt heltal."]
    if name and session.scalar(select(Measure.id).where(Measure.case_id == case_id, Measure.name == name)):
        errors["name"] = ["Ärendet har redan ett mätetal med det namnet."]
    if errors:
        raise ValidationError("Mätetalet kunde inte sparas.", errors)
    known = {"kind", "definition", "unit_label", "direction", "target", "frequency", "level", "chart_type", "rules",
             "baseline_points"}  # fmt: skip
    measure = Measure(case_id=case_id, name=name, **{k: v for k, v in fields.items() if k in known})
    session.add(measure)
    session.flush()
    write_audit(session, [audit_row(actor, "measure_created", case_id=case_id, entity="measure",
                                    entity_id=str(measure.id), after={"name": name})])  # fmt: skip
    return measure


def _number(text: str) -> float | None:
    cleaned = text.strip().replace("\u2212", "-").replace(" ", "").replace(",", ".")
    if not cleaned:
        return None
    value = float(cleaned)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def import_data_points_csv(session: Session, actor: Actor, measure_id: int, text: str) -> ImportResult:
    """Import data points from CSV (columns: ``period`` (YYYY-MM-DD), ``value``; optional ``unit``
    (name or id), ``numerator``, ``denominator``, ``annotation``, ``excluded``). Comma or
    semicolon separated, decimal comma accepted. A row for a period that exists replaces it (both
    audited). Any bad row: ValidationError naming every bad row, and nothing is imported."""
    measure = session.get(Measure, measure_id)
    if measure is None:
        raise NotFoundError("Mätetalet finns inte.")
    _roles(session, actor, measure.case_id)
    if len(text.encode("utf-8")) > MAX_CSV_BYTES:
        raise ValidationError("Filen är för stor.", {"": [f"Högst {MAX_CSV_BYTES // 1024 // 1024} MB."]})
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    columns = {c.strip().lower() for c in (reader.fieldnames or [])}
    if not {"period", "value"} <= columns:
        raise ValidationError("Filen saknar kolumner.", {"": ["Kolumnerna period och value behövs."]})
    units = {
        key: unit_id
        for unit_id, name in session.execute(
            select(Unit.id, Unit.name)
            .join(CaseUnit, CaseUnit.unit_id == Unit.id)
            .where(CaseUnit.case_id == measure.case_id)
        )
        for key in (str(unit_id), name.casefold())
    }
    errors: dict[str, list[str]] = {}
    rows: dict[tuple[int | None, date], dict[str, Any]] = {}
    for number, raw in enumerate(reader, start=2):  # row 1 is the header
        if number - 1 > MAX_ROWS:
            errors[""] = [f"Högst {MAX_ROWS} rader."]
            break
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
        problems: list[str] = []
        try:
            period = date.fromisoformat(row.get("period", ""))
        except ValueError:
            problems.append(f"Perioden '{row.get('period', '')}' är inget datum (ÅÅÅÅ-MM-DD).")
            period = date.min
        values: dict[str, float | None] = {}
        for key in ("value", "numerator", "denominator"):
            try:
                values[key] = _number(row.get(key, ""))
            except ValueError:
                problems.append(f"{key} '{row.get(key)}' är inget tal.")
        if "value" in values and values["value"] is None:
            problems.append("Värdet saknas.")
        unit_id: int | None = None
        if row.get("unit"):
            unit_id = units.get(row["unit"].casefold())
            if unit_id is None:
                problems.append(f"Enheten '{row['unit']}' ingår inte i ärendet.")
        if not problems and (unit_id, period) in rows:
            problems.append(f"Perioden {period.isoformat()} finns två gånger i filen.")
        if problems:
            errors[f"rad {number}"] = problems
            continue
        rows[(unit_id, period)] = {
            "value": values["value"], "numerator": values.get("numerator"), "denominator": values.get("denominator"),
            "annotation": row.get("annotation", "")[:500], "excluded": row.get("excluded", "").casefold() in _TRUE,
        }  # fmt: skip
    if errors:
        count = len([k for k in errors if k])
        raise ValidationError(f"Inget importerades: {count} rader har fel.", errors)
    existing = {
        (p.unit_id, p.period): p for p in session.scalars(select(DataPoint).where(DataPoint.measure_id == measure_id))
    }
    created = updated = 0
    audit = []
    for (unit_id, period), values in rows.items():
        point = existing.get((unit_id, period))
        if point is None:
            session.add(DataPoint(measure_id=measure_id, unit_id=unit_id, period=period, created_by_id=actor.user_id,
                                  **values))  # fmt: skip
            created += 1
        else:
            before = {"value": point.value, "excluded": point.excluded}
            for key, value in values.items():
                setattr(point, key, value)
            audit.append(audit_row(actor, "data_point_changed", case_id=measure.case_id, entity="data_point",
                                   entity_id=str(point.id), before=before,
                                   after={"value": values["value"], "excluded": values["excluded"]}))  # fmt: skip
            updated += 1
    audit.append(audit_row(actor, "data_points_imported", case_id=measure.case_id, entity="measure",
                           entity_id=str(measure_id), details={"created": created, "updated": updated}))  # fmt: skip
    write_audit(session, audit)
    session.flush()
    return ImportResult(created, updated)


def measure_chart(session: Session, actor: Actor, measure_id: int, unit_id: int | None = None) -> MeasureChart:
    """The chart of a measure for a unit (None: the case-level series), with the measure's rules."""
    measure = session.get(Measure, measure_id)
    if measure is None:
        raise NotFoundError("Mätetalet finns inte.")
    _roles(session, actor, measure.case_id)
    query = select(DataPoint).where(DataPoint.measure_id == measure_id).order_by(DataPoint.period)
    query = query.where(DataPoint.unit_id.is_(None) if unit_id is None else DataPoint.unit_id == unit_id)
    data = list(session.scalars(query))
    points = [Point(p.value, excluded=p.excluded, label=p.annotation) for p in data]
    direction = measure.direction if measure.direction in DIRECTIONS else "neither"
    result: RunChartResult | XmRResult
    if measure.chart_type == "xmr":
        result = xmr_chart(points, baseline=measure.baseline_points, improvement=direction)  # type: ignore[arg-type]
    else:
        rules = measure.rules if measure.rules in RULE_SETS else "ihi"
        result = run_chart(points, baseline=measure.baseline_points, rules=rules, improvement=direction)  # type: ignore[arg-type]
    return MeasureChart(measure_id, unit_id, [p.period for p in data], points, result)
