"""Measures of a case and their data points: define and edit a measure, enter one data point, import
data points from CSV (all or nothing, with a report naming every bad row), export them as CSV in the
format the import reads, and compute a measure's chart for a unit.

Every change is audited with its before and after. A data point is tied to the PDSA cycle in force
for its unit and period when it is written, so a chart and a cycle's Study show the same link.
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, cast

from sqlalchemy import Table, func, insert, select
from sqlalchemy.orm import Session

from engine.errors import NotFoundError, PermissionDeniedError, ValidationError
from engine.pdsa import Point, RunChartResult, XmRResult, run_chart, xmr_chart
from engine.persistence import Case, CaseUnit, DataPoint, Measure, PdsaCycle, Unit
from engine.persistence.measures import AGGREGATIONS, CHART_TYPES, DIRECTIONS, MEASURE_KINDS, RULE_SETS
from engine.services.access import participant_roles
from engine.services.actors import Actor
from engine.services.audit import audit_row, write_audit

DATA_POINTS = cast(Table, DataPoint.__table__)
MAX_CSV_BYTES = 2 * 1024 * 1024
MAX_ROWS = 10_000
MAX_ANNOTATION = 500
LEVELS = ("local", "regional", "national")
FREQUENCIES = ("week", "month", "quarter", "year")
_TRUE = {"1", "ja", "yes", "true", "x", "sant"}

THRESHOLD_BOUNDS: dict[tuple[str, str], tuple[int, int]] = {
    # NHS Making Data Count uses 7 for both; its guidance and NHSRplotthedots allow 6 to 8.
    ("xmr", "shift_points"): (6, 8),
    ("xmr", "trend_points"): (6, 8),
    # IHI's run chart uses a shift of 6 and a trend of 5; older IHI material and some regions use up
    # to 8, and a shorter threshold than 5 finds "signals" in random data far too often.
    ("run", "shift_points"): (5, 10),
    ("run", "trend_points"): (5, 10),
}
"""Allowed (lowest, highest) shift and trend thresholds per chart type; None keeps the default."""

# Column names the import reads: the export's English names, and the Swedish ones people type.
_COLUMN_ALIASES = {
    "period": "period", "datum": "period", "månad": "period",
    "value": "value", "värde": "value", "varde": "value",
    "unit": "unit", "enhet": "unit",
    "numerator": "numerator", "täljare": "numerator", "taljare": "numerator",
    "denominator": "denominator", "nämnare": "denominator", "namnare": "denominator",
    "annotation": "annotation", "anteckning": "annotation", "kommentar": "annotation",
    "excluded": "excluded", "exkluderad": "excluded", "utesluten": "excluded",
    "astronomical": "astronomical", "astronomisk": "astronomical",
}  # fmt: skip
EXPORT_COLUMNS = ("period", "value", "unit", "numerator", "denominator", "annotation", "excluded", "astronomical")
# A cell starting with one of these is a formula in a spreadsheet (CSV injection, OWASP): the export
# puts an apostrophe before it and the import takes that apostrophe off again.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_POINT_FIELDS = ("value", "numerator", "denominator", "annotation", "excluded", "astronomical")


@dataclass(frozen=True)
class ImportResult:
    """What an import did: points created, points changed, and rows equal to what was stored."""

    created: int
    updated: int
    unchanged: int = 0


@dataclass(frozen=True)
class MeasureChart:
    """A measure's chart for one unit: the points in period order and the analysis."""

    measure_id: int
    unit_id: int | None
    periods: list[date]
    points: list[Point]
    result: RunChartResult | XmRResult


@dataclass(frozen=True)
class MeasureSummary:
    """A measure in the case's list: how much data it has and up to when."""

    measure: Measure
    points: int
    units: int
    latest: date | None


@dataclass(frozen=True)
class CaseMeasures:
    """A case's measures page: the case, whether the actor may define measures, the measures."""

    case_id: int
    case_title: str
    can_manage: bool
    measures: list[MeasureSummary]


@dataclass(frozen=True)
class UnitChoice:
    """A unit of the case a chart can be drawn for, with its number of data points of the measure."""

    id: int
    name: str
    points: int


@dataclass(frozen=True)
class MeasureDetail:
    """What the measure page needs besides the chart: the case, who may change what, the units."""

    measure: Measure
    case_id: int
    case_title: str
    can_manage: bool
    units: list[UnitChoice]
    case_points: int
    default_unit: int | None

    @property
    def aggregates(self) -> bool:
        """Whether the units' series add up to a region series."""
        return self.measure.aggregation != "none"


# -- access ----------------------------------------------------------------------------------------


def _roles(session: Session, actor: Actor, case_id: int) -> bool:
    """Whether the actor manages the case (PermissionDeniedError unless they take part)."""
    return actor.is_admin or participant_roles(session, actor, case_id).is_coordinator


def _measure(session: Session, measure_id: int) -> Measure:
    measure = session.get(Measure, measure_id)
    if measure is None:
        raise NotFoundError("Mätetalet finns inte.")
    return measure


def _case_units(session: Session, case_id: int) -> dict[int, str]:
    """The case's units, id to name, in name order."""
    rows = session.execute(
        select(Unit.id, Unit.name)
        .join(CaseUnit, CaseUnit.unit_id == Unit.id)
        .where(CaseUnit.case_id == case_id)
        .order_by(Unit.name, Unit.id)
    )
    return {unit_id: name for unit_id, name in rows}


def _cycle_finder(session: Session, case_id: int) -> Callable[[int | None, date], int | None]:
    """A lookup of the cycle in force for (unit, period), from the case's cycles read once: the
    same answer as :func:`engine.services.pdsa.cycle_in_force` (the latest-started cycle whose
    period holds the date) without one query per data point."""
    by_unit: dict[int | None, list[tuple[int, date, date]]] = defaultdict(list)
    rows = session.execute(
        select(PdsaCycle.id, PdsaCycle.unit_id, PdsaCycle.started_on, PdsaCycle.ends_on)
        .where(PdsaCycle.case_id == case_id)
        .order_by(PdsaCycle.started_on.desc(), PdsaCycle.id.desc())
    )
    for cycle_id, unit_id, started, ends in rows:
        by_unit[unit_id].append((cycle_id, started, ends))

    def find(unit_id: int | None, period: date) -> int | None:
        return next((cid for cid, started, ends in by_unit.get(unit_id, ()) if started <= period <= ends), None)

    return find


# -- values ----------------------------------------------------------------------------------------


def _number(text: object) -> float | None:
    """A number from a form or a CSV cell (decimal comma, Unicode minus, spaces as thousands
    separators); None when empty; ValueError when it is not a finite number."""
    if text is None:
        return None
    if isinstance(text, bool):
        raise ValueError(text)
    if isinstance(text, int | float):
        value = float(text)
    else:
        cleaned = str(text).strip().replace("\u2212", "-").replace("\u00a0", "").replace(" ", "").replace(",", ".")
        if not cleaned:
            return None
        value = float(cleaned)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def _flag(value: object) -> bool:
    if isinstance(value, bool):
        return value
    return str(value or "").strip().casefold() in _TRUE


def _period(value: object) -> date:
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value or "").strip())


def _check_point(raw: Mapping[str, object]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """One data point's values checked: (clean values, errors by field). Shared by the form and the
    import, so both accept and refuse the same things."""
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    try:
        clean["period"] = _period(raw.get("period"))
    except ValueError:
        errors["period"] = [f"Perioden '{raw.get('period') or ''}' är inget datum (ÅÅÅÅ-MM-DD)."]
    names = {"value": "Värdet", "numerator": "Täljaren", "denominator": "Nämnaren"}
    for key, label in names.items():
        try:
            clean[key] = _number(raw.get(key))
        except ValueError:
            errors[key] = [f"{label} '{raw.get(key)}' är inget tal."]
    if "value" in clean and clean["value"] is None:
        errors["value"] = ["Värdet saknas."]
    if clean.get("denominator") is not None and clean["denominator"] <= 0:
        errors["denominator"] = ["Nämnaren måste vara större än 0."]
    if not errors.keys() & {"numerator", "denominator"} and (clean["numerator"] is None) != (
        clean["denominator"] is None
    ):
        # A region adds units up as sum(numerator) / sum(denominator): half a pair cannot take part.
        errors["numerator"] = ["Ange både täljare och nämnare, eller ingen av dem."]
    annotation = str(raw.get("annotation") or "").strip()
    if len(annotation) > MAX_ANNOTATION:
        errors["annotation"] = [f"Anteckningen får vara högst {MAX_ANNOTATION} tecken."]
    elif "\x00" in annotation:  # from a file or a pasted text: PostgreSQL stores no NUL character
        errors["annotation"] = ["Anteckningen innehåller ett NUL-tecken, som inte kan sparas."]
    clean["annotation"] = annotation
    clean["excluded"] = _flag(raw.get("excluded"))
    clean["astronomical"] = _flag(raw.get("astronomical"))
    return clean, errors


def _changes(point: DataPoint, values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The fields ``values`` would change on ``point``, as (before, after) for the audit trail."""
    before = {k: getattr(point, k) for k in _POINT_FIELDS if k in values and getattr(point, k) != values[k]}
    return before, {k: values[k] for k in before}


def _snapshot(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: values[k] for k in _POINT_FIELDS if k in values}


# -- measures --------------------------------------------------------------------------------------

_TEXT_LIMITS = {"name": 200, "definition": 5000, "unit_label": 60}
_CHOICES: dict[str, tuple[str, ...]] = {
    "kind": MEASURE_KINDS, "direction": DIRECTIONS, "chart_type": CHART_TYPES, "rules": RULE_SETS,
    "aggregation": AGGREGATIONS, "level": LEVELS, "frequency": FREQUENCIES,
}  # fmt: skip
MEASURE_FIELDS = (
    "name", "kind", "definition", "unit_label", "direction", "target", "frequency", "level", "chart_type", "rules",
    "baseline_points", "shift_points", "trend_points", "screen_outliers", "recalculations", "aggregation",
)  # fmt: skip
"""The fields of a measure that :func:`create_measure` and :func:`update_measure` accept."""


def _whole(value: object) -> int | None:
    """A whole number from a form or a call; None when empty; ValueError otherwise."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int):
        return value
    number = _number(value)
    if number is None or not number.is_integer():
        raise ValueError(value)
    return int(number)


def _recalculations(value: object) -> list[str]:
    """Recalculation dates from a list (dates or ISO strings) or a text with one date per line or
    comma/semicolon separated; sorted, without repeats, as ISO strings."""
    if value is None:
        return []
    items: list[object]
    if isinstance(value, str):
        items = [p for p in value.replace(";", "\n").replace(",", "\n").split() if p]
    elif isinstance(value, list | tuple | set):
        items = list(value)
    else:
        raise ValueError(value)
    days = {_period(item) for item in items if not (isinstance(item, str) and not item.strip())}
    return [d.isoformat() for d in sorted(days)]


def _clean_measure(
    session: Session, case_id: int, fields: Mapping[str, object], current: Measure | None
) -> dict[str, Any]:
    """``fields`` checked and converted (strings from a form are accepted); ValidationError with an
    error per field. ``current`` is the measure being edited (None when defining one)."""
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    for key in fields:
        if key not in MEASURE_FIELDS:
            errors[key] = ["Mätetalet har inget sådant fält."]
    for key, limit in _TEXT_LIMITS.items():
        if key in fields:
            text = str(fields[key] or "").strip()
            if len(text) > limit:
                errors[key] = [f"Högst {limit} tecken."]
            clean[key] = text
    if "name" in clean and not clean["name"]:
        errors["name"] = ["Ge mätetalet ett namn."]
    for key, allowed in _CHOICES.items():
        if key in fields:
            if fields[key] not in allowed:
                errors[key] = [f"Välj en av {', '.join(allowed)}."]
            clean[key] = fields[key]
    if "target" in fields:
        try:
            clean["target"] = _number(fields["target"])
        except ValueError:
            errors["target"] = ["Målet måste vara ett tal."]
    if "baseline_points" in fields:
        try:
            clean["baseline_points"] = _whole(fields["baseline_points"])
            if clean["baseline_points"] is not None and not 1 <= clean["baseline_points"] <= 1000:
                raise ValueError(fields["baseline_points"])
        except ValueError:
            errors["baseline_points"] = ["Ange ett positivt heltal (antal punkter i baslinjen) eller lämna tomt."]
    # Thresholds are checked against the chart type the measure will have, so changing the type
    # alone cannot leave a threshold the new type does not allow.
    chart_type = str(clean.get("chart_type") or (current.chart_type if current else "run"))
    for key in ("shift_points", "trend_points"):
        low, high = THRESHOLD_BOUNDS[(chart_type if chart_type in CHART_TYPES else "run", key)]
        try:
            if key in fields:
                clean[key] = _whole(fields[key])
            value = clean[key] if key in fields else getattr(current, key, None)
            if value is not None and not low <= value <= high:
                raise ValueError(value)
        except ValueError:
            errors[key] = [f"Ange ett heltal från {low} till {high}, eller lämna tomt för standardvärdet."]
    if "screen_outliers" in fields:
        clean["screen_outliers"] = _flag(fields["screen_outliers"])
    if "recalculations" in fields:
        try:
            clean["recalculations"] = _recalculations(fields["recalculations"])
        except ValueError:
            errors["recalculations"] = ["Ange datum som ÅÅÅÅ-MM-DD, ett per rad."]
    name = clean.get("name")
    if name and "name" not in errors:
        same = select(Measure.id).where(Measure.case_id == case_id, Measure.name == name)
        if current is not None:
            same = same.where(Measure.id != current.id)
        if session.scalar(same) is not None:
            errors["name"] = ["Ärendet har redan ett mätetal med det namnet."]
    if errors:
        raise ValidationError("Mätetalet kunde inte sparas.", errors)
    return clean


def _plain(value: object) -> object:
    """A value as JSON can hold it, for the audit trail."""
    return value.isoformat() if isinstance(value, date) else value


def create_measure(session: Session, actor: Actor, case_id: int, **fields: Any) -> Measure:
    """Define a measure of a case (its coordinator or an admin); the fields of :data:`MEASURE_FIELDS`,
    ``name`` required."""
    if session.get(Case, case_id) is None:
        raise NotFoundError("Ärendet finns inte.")
    if not _roles(session, actor, case_id):
        raise PermissionDeniedError("Bara ärendets koordinator kan lägga till mätetal.")
    clean = _clean_measure(session, case_id, {"name": "", **fields}, None)
    measure = Measure(case_id=case_id, **clean)
    session.add(measure)
    session.flush()
    after = {k: _plain(v) for k, v in clean.items()}
    write_audit(session, [audit_row(actor, "measure_created", case_id=case_id, entity="measure",
                                    entity_id=str(measure.id), after=after)])  # fmt: skip
    return measure


def update_measure(session: Session, actor: Actor, measure_id: int, **fields: Any) -> Measure:
    """Change a measure's definition, chart and rule settings (its case's coordinator or an admin).

    Accepts the fields of :data:`MEASURE_FIELDS`; form strings are converted (a decimal comma in the
    target, recalculation dates one per line). Shift and trend thresholds must lie within
    :data:`THRESHOLD_BOUNDS` for the chart type; empty keeps the rule set's default. Only changed
    fields are written and audited (before and after)."""
    measure = _measure(session, measure_id)
    if not _roles(session, actor, measure.case_id):
        raise PermissionDeniedError("Bara ärendets koordinator kan ändra mätetalet.")
    clean = _clean_measure(session, measure.case_id, fields, measure)
    before = {k: getattr(measure, k) for k, v in clean.items() if getattr(measure, k) != v}
    if not before:
        return measure
    for key in before:
        setattr(measure, key, clean[key])
    session.flush()
    write_audit(session, [audit_row(actor, "measure_changed", case_id=measure.case_id, entity="measure",
                                    entity_id=str(measure.id), before={k: _plain(v) for k, v in before.items()},
                                    after={k: _plain(clean[k]) for k in before})])  # fmt: skip
    return measure


def list_measures(session: Session, actor: Actor, case_id: int) -> list[MeasureSummary]:
    """The case's measures by name, each with its number of data points, of units with data, and
    its latest period; participants of the case and admins."""
    if session.get(Case, case_id) is None:
        raise NotFoundError("Ärendet finns inte.")
    participant_roles(session, actor, case_id)
    counts = {
        measure_id: (points, units, latest)
        for measure_id, points, units, latest in session.execute(
            select(
                DataPoint.measure_id,
                func.count(DataPoint.id),
                func.count(func.distinct(DataPoint.unit_id)),
                func.max(DataPoint.period),
            )
            .join(Measure, Measure.id == DataPoint.measure_id)
            .where(Measure.case_id == case_id)
            .group_by(DataPoint.measure_id)
        )
    }
    measures = session.scalars(select(Measure).where(Measure.case_id == case_id).order_by(Measure.name))
    return [MeasureSummary(m, *counts.get(m.id, (0, 0, None))) for m in measures]


def measures_overview(session: Session, actor: Actor, case_id: int) -> CaseMeasures:
    """The case's measures (:func:`list_measures`) with the case's title and whether the actor may
    define and change measures (its coordinators and admins)."""
    measures = list_measures(session, actor, case_id)
    case = session.get(Case, case_id)
    assert case is not None  # list_measures checked it
    return CaseMeasures(case_id, case.title, _roles(session, actor, case_id), measures)


def measure_detail(session: Session, actor: Actor, measure_id: int) -> MeasureDetail:
    """The measure with its case, the units that can be charted (with their number of points), and
    the unit a chart page opens on: the first unit with data, else the case-level series (None)."""
    measure = _measure(session, measure_id)
    can_manage = _roles(session, actor, measure.case_id)
    case = session.get(Case, measure.case_id)
    assert case is not None  # a measure's case is never deleted
    rows = session.execute(
        select(DataPoint.unit_id, func.count(DataPoint.id))
        .where(DataPoint.measure_id == measure_id)
        .group_by(DataPoint.unit_id)
    )
    counts: dict[int | None, int] = {unit_id: count for unit_id, count in rows}
    units = [UnitChoice(uid, name, counts.get(uid, 0)) for uid, name in _case_units(session, measure.case_id).items()]
    default = next((u.id for u in units if u.points), None)
    return MeasureDetail(measure, case.id, case.title, can_manage, units, counts.get(None, 0), default)


# -- data points -----------------------------------------------------------------------------------


def save_data_point(
    session: Session,
    actor: Actor,
    measure_id: int,
    *,
    unit_id: int | None,
    period: date | str,
    value: float | str | None,
    numerator: float | str | None = None,
    denominator: float | str | None = None,
    annotation: str = "",
    excluded: bool = False,
    astronomical: bool = False,
) -> DataPoint:
    """Enter or correct the value of one unit (None: the case as a whole) and period; participants
    of the case. A point for that unit and period is updated (its changed fields audited), otherwise
    created; either way it is tied to the PDSA cycle in force then."""
    measure = _measure(session, measure_id)
    _roles(session, actor, measure.case_id)
    raw = {"period": period, "value": value, "numerator": numerator, "denominator": denominator,
           "annotation": annotation, "excluded": excluded, "astronomical": astronomical}  # fmt: skip
    clean, errors = _check_point(raw)
    if unit_id is not None and unit_id not in _case_units(session, measure.case_id):
        errors["unit_id"] = ["Enheten ingår inte i ärendet."]
    if errors:
        raise ValidationError("Datapunkten kunde inte sparas.", errors)
    day: date = clean.pop("period")
    unit = DataPoint.unit_id.is_(None) if unit_id is None else DataPoint.unit_id == unit_id
    point = session.scalar(select(DataPoint).where(DataPoint.measure_id == measure_id, unit, DataPoint.period == day))
    cycle_id = _cycle_finder(session, measure.case_id)(unit_id, day)
    if point is None:
        point = DataPoint(measure_id=measure_id, unit_id=unit_id, period=day, cycle_id=cycle_id,
                          created_by_id=actor.user_id, **clean)  # fmt: skip
        session.add(point)
        session.flush()
        row = audit_row(actor, "data_point_created", case_id=measure.case_id, entity="data_point",
                        entity_id=str(point.id), after={"unit_id": unit_id, "period": day.isoformat(),
                                                        **_snapshot(clean)})  # fmt: skip
        write_audit(session, [row])
        return point
    before, after = _changes(point, clean)
    for key, new in clean.items():
        setattr(point, key, new)
    point.cycle_id = cycle_id
    session.flush()
    if before:
        write_audit(session, [audit_row(actor, "data_point_changed", case_id=measure.case_id, entity="data_point",
                                        entity_id=str(point.id), before=before, after=after)])  # fmt: skip
    return point


def _delimiter(text: str) -> str:
    """The separator, read from the header line: a semicolon file (Swedish Excel) often has decimal
    commas in its data rows, which fool a sniffer that looks at the rows too."""
    header = text.split("\n", 1)[0]
    counts = {d: header.count(d) for d in (";", "\t", ",")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _cell_text(text: str) -> str:
    """An annotation from a CSV cell: the apostrophe the export puts before a formula-like text is
    taken off again."""
    if text.startswith("'") and text[1:2] and text[1] in _FORMULA_START:
        return text[1:]
    return text


def _unreadable(reader: csv.DictReader[str]) -> ValidationError:
    """What the csv module refuses (a quote or line break out of place, a field over its size limit)
    as the import's own error."""
    where = f"Rad {reader.line_num} kunde inte läsas"
    reason = "ett citattecken eller en radbrytning står fel, eller ett fält är för långt"
    return ValidationError("Filen kunde inte läsas som CSV.", {"": [f"{where}: {reason}."]})


def _csv_header(reader: csv.DictReader[str]) -> list[str] | None:
    try:
        return list(reader.fieldnames) if reader.fieldnames is not None else None
    except csv.Error as err:
        raise _unreadable(reader) from err


def _csv_rows(reader: csv.DictReader[str]) -> Iterator[dict[str | Any, str | Any]]:
    try:
        yield from reader
    except csv.Error as err:
        raise _unreadable(reader) from err


def import_data_points_csv(
    session: Session, actor: Actor, measure_id: int, text: str, *, unit_id: int | None = None
) -> ImportResult:
    """Import data points from CSV (columns: ``period`` (YYYY-MM-DD), ``value``; optional ``unit``
    (name or id), ``numerator``, ``denominator``, ``annotation``, ``excluded``, ``astronomical``;
    the Swedish names ``värde``, ``enhet``, ``täljare``, ``nämnare``, ``anteckning``,
    ``exkluderad``, ``astronomisk`` too). Comma, semicolon or tab separated (read from the header
    line), decimal comma accepted. Rows without a unit go to ``unit_id`` (None: the case as a
    whole). A row for a stored period replaces it (changed fields audited); every point is tied to
    the PDSA cycle in force for its unit and period. Any bad row: ValidationError naming every bad
    row ("rad N", counting the header as row 1), and nothing is imported."""
    measure = _measure(session, measure_id)
    _roles(session, actor, measure.case_id)
    text = text.lstrip("\ufeff")
    if len(text.encode("utf-8")) > MAX_CSV_BYTES:
        raise ValidationError("Filen är för stor.", {"": [f"Högst {MAX_CSV_BYTES // 1024 // 1024} MB."]})
    case_units = _case_units(session, measure.case_id)
    if unit_id is not None and unit_id not in case_units:
        raise ValidationError("Enheten ingår inte i ärendet.", {"unit_id": ["Enheten ingår inte i ärendet."]})
    # newline="": a lone carriage return (an old Mac file, a pasted cell) is a line break, as csv wants it.
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    columns = {_COLUMN_ALIASES.get((c or "").strip().lower(), "") for c in (_csv_header(reader) or [])}
    if not {"period", "value"} <= columns:
        raise ValidationError("Filen saknar kolumner.", {"": ["Kolumnerna period och value (värde) behövs."]})
    names: dict[str, list[int]] = defaultdict(list)
    for uid, name in case_units.items():
        names[name.casefold()].append(uid)
    errors: dict[str, list[str]] = {}
    rows: dict[tuple[int | None, date], dict[str, Any]] = {}
    for number, raw in enumerate(_csv_rows(reader), start=2):  # row 1 is the header
        if number - 1 > MAX_ROWS:
            errors[""] = [f"Högst {MAX_ROWS} rader."]
            break
        row = {_COLUMN_ALIASES.get((k or "").strip().lower(), ""): (v or "").strip() for k, v in raw.items() if k}
        if not any(row.values()):
            continue  # an empty line (a spreadsheet's trailing rows)
        row["annotation"] = _cell_text(row.get("annotation", ""))
        values, problems = _check_point(row)
        messages = [m for found in problems.values() for m in found]
        row_unit = unit_id
        if row.get("unit"):
            key = row["unit"]
            matches = [int(key)] if key.isdigit() and int(key) in case_units else names.get(key.casefold(), [])
            if not matches:
                messages.append(f"Enheten '{key}' ingår inte i ärendet.")
            elif len(matches) > 1:
                messages.append(f"Flera enheter i ärendet heter '{key}': ange enhetens id.")
            else:
                row_unit = matches[0]
        if not messages and (row_unit, values["period"]) in rows:
            messages.append(f"Perioden {values['period'].isoformat()} finns två gånger i filen.")
        if messages:
            errors[f"rad {number}"] = messages
            continue
        rows[(row_unit, values.pop("period"))] = values
    if errors:
        count = len([k for k in errors if k])
        raise ValidationError(f"Inget importerades: {count} {'rad' if count == 1 else 'rader'} har fel.", errors)
    existing = {
        (p.unit_id, p.period): p for p in session.scalars(select(DataPoint).where(DataPoint.measure_id == measure_id))
    }
    cycle_of = _cycle_finder(session, measure.case_id)
    new: list[dict[str, Any]] = []
    audit = []
    changed = unchanged = 0
    for (row_unit, period), values in rows.items():
        cycle_id = cycle_of(row_unit, period)
        point = existing.get((row_unit, period))
        if point is None:
            new.append({"measure_id": measure_id, "unit_id": row_unit, "period": period, "cycle_id": cycle_id,
                        "created_by_id": actor.user_id, **values})  # fmt: skip
            continue
        before, after = _changes(point, values)
        for key, value in values.items():
            setattr(point, key, value)
        point.cycle_id = cycle_id
        if before:
            audit.append(audit_row(actor, "data_point_changed", case_id=measure.case_id, entity="data_point",
                                   entity_id=str(point.id), before=before, after=after))  # fmt: skip
            changed += 1
        else:
            unchanged += 1
    session.flush()
    if new:
        # One Core executemany for the new points (a file may hold thousands; the ORM's bulk insert
        # would split the batch by which columns are None), then their ids in one query for the
        # audit rows: the statements do not grow with the file.
        session.execute(insert(DATA_POINTS), new)
        ids = {
            (unit_id, period): point_id
            for point_id, unit_id, period in session.execute(
                select(DataPoint.id, DataPoint.unit_id, DataPoint.period).where(DataPoint.measure_id == measure_id)
            )
        }
        audit += [
            audit_row(actor, "data_point_created", case_id=measure.case_id, entity="data_point",
                      entity_id=str(ids[(row["unit_id"], row["period"])]),
                      after={"unit_id": row["unit_id"], "period": row["period"].isoformat(), **_snapshot(row)})
            for row in new
        ]  # fmt: skip
    audit.append(audit_row(actor, "data_points_imported", case_id=measure.case_id, entity="measure",
                           entity_id=str(measure_id),
                           details={"created": len(new), "updated": changed, "unchanged": unchanged}))  # fmt: skip
    write_audit(session, audit)
    return ImportResult(len(new), changed, unchanged)


def _csv_number(value: float | None) -> str:
    """A number as Swedish spreadsheets read it (decimal comma), exact enough to read back equal."""
    if value is None:
        return ""
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value).replace(".", ",")


def export_data_points_csv(
    session: Session, actor: Actor, measure_id: int, unit: int | Literal["all"] | None = "all"
) -> str:
    """The measure's data points as CSV in the format :func:`import_data_points_csv` reads:
    semicolon separated, decimal comma, columns :data:`EXPORT_COLUMNS`, the unit by name (by id
    when two units of the case share the name), "ja" for the flags. ``unit`` is a unit id, None
    (the case-level series) or ``"all"``; participants of the case and admins."""
    measure = _measure(session, measure_id)
    participant_roles(session, actor, measure.case_id)
    case_units = _case_units(session, measure.case_id)
    query = select(DataPoint).where(DataPoint.measure_id == measure_id)
    if unit is None:
        query = query.where(DataPoint.unit_id.is_(None))
    elif unit != "all":
        if unit not in case_units:
            raise NotFoundError("Enheten ingår inte i ärendet.")
        query = query.where(DataPoint.unit_id == unit)
    taken: dict[str, int] = defaultdict(int)
    for name in case_units.values():
        taken[name.casefold()] += 1
    label = {uid: (name if taken[name.casefold()] == 1 and not name.isdigit() else str(uid))
             for uid, name in case_units.items()}  # fmt: skip
    order = {uid: k for k, uid in enumerate(case_units)}
    points = sorted(
        session.scalars(query), key=lambda p: (p.unit_id is not None, order.get(p.unit_id or 0, 0), p.period)
    )
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    for p in points:
        note = p.annotation or ""
        writer.writerow([
            p.period.isoformat(), _csv_number(p.value), label.get(p.unit_id, "") if p.unit_id else "",
            _csv_number(p.numerator), _csv_number(p.denominator), f"'{note}" if note.startswith(_FORMULA_START) else note,
            "ja" if p.excluded else "", "ja" if p.astronomical else "",
        ])  # fmt: skip
    return out.getvalue()


def measure_chart(session: Session, actor: Actor, measure_id: int, unit_id: int | None = None) -> MeasureChart:
    """The chart of a measure for a unit (None: the case-level series), with the measure's rules."""
    measure = _measure(session, measure_id)
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
