"""A measure's chart as pages draw it: the series of one unit, the case or the whole region, the
rules applied per segment, the PDSA cycles on the time axis, and the current signal.

The pure rule functions live in :mod:`engine.pdsa`; this module reads the data points, splits the
series where the measure is recalculated, aggregates the units when the measure allows it, and puts
each line's value beside each point, so a chart and its accessible data table show the same numbers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import NotFoundError, ValidationError
from engine.pdsa import Point, RunChartResult, Signal, XmRResult, run_chart, xmr_chart
from engine.persistence import CaseUnit, DataPoint, Measure, PdsaCycle, Unit
from engine.persistence.measures import DIRECTIONS, RULE_SETS
from engine.services.access import participant_roles
from engine.services.actors import Actor

Scope = Literal["unit", "case", "region"]
REGION = "region"
"""The ``unit`` argument that asks for the units' series added up to the region's."""

_SEVERITY = {"concern": 2, "improvement": 1, "neutral": 0}


def _worst(variations: list[str]) -> str | None:
    """The most serious of some signals' variations: a concern before an improvement."""
    return max(variations, key=lambda v: _SEVERITY[v]) if variations else None


@dataclass(frozen=True)
class ChartPoint:
    """One period of the chart with every line's value at it."""

    index: int
    period: date
    value: float | None
    excluded: bool
    astronomical: bool
    annotation: str
    data_point_id: int | None
    cycle_number: int | None
    segment: int
    centre: float | None = None
    upper: float | None = None
    lower: float | None = None
    upper_two_sigma: float | None = None
    lower_two_sigma: float | None = None
    signals: tuple[str, ...] = ()
    variation: str | None = None
    # The stored numerator and denominator of a unit's or the case's point (None for the region's).
    numerator: float | None = None
    denominator: float | None = None


@dataclass(frozen=True)
class SignalView:
    """A signal with the periods it covers."""

    kind: str
    variation: str
    direction: str | None
    periods: tuple[date, ...]


@dataclass(frozen=True)
class SegmentView:
    """A stretch with its own centre line (and limits): the baseline or a recalculation."""

    number: int
    first: date
    last: date
    centre: float | None
    upper: float | None
    lower: float | None
    limit_points: int
    trial_limits: bool
    runs: dict[str, Any] | None = None


@dataclass(frozen=True)
class CycleMarker:
    """A PDSA cycle on the time axis."""

    id: int
    ramp_id: int
    number: int
    started_on: date
    ends_on: date
    stage: str
    act_decision: str | None
    objective: str


@dataclass(frozen=True)
class ChartView:
    """Everything a chart page, a Study task or a printout needs for one measure and scope."""

    measure_id: int
    case_id: int
    name: str
    definition: str
    unit_label: str
    direction: str
    target: float | None
    chart_type: str
    rules: str
    scope: Scope
    unit_id: int | None
    unit_name: str | None
    points: list[ChartPoint]
    segments: list[SegmentView]
    signals: list[SignalView]
    cycles: list[CycleMarker] = field(default_factory=list)

    @property
    def current(self) -> str | None:
        """The most serious variation of the signals that include the latest usable point."""
        last = next((p for p in reversed(self.points) if p.value is not None and not p.excluded), None)
        if last is None:
            return None
        return _worst([s.variation for s in self.signals if last.period in s.periods])

    def as_json(self) -> dict[str, Any]:
        """The chart as the browser's drawing code reads it (plain JSON types only)."""
        periods = [p.period for p in self.points]
        return {
            "measure": {
                "id": self.measure_id,
                "name": self.name,
                "unit": self.unit_label,
                "direction": self.direction,
                "target": self.target,
                "chart": self.chart_type,
                "rules": self.rules,
            },
            "scope": self.scope,
            "labels": [p.period.isoformat() for p in self.points],
            "values": [p.value for p in self.points],
            "excluded": [p.excluded for p in self.points],
            "astronomical": [p.astronomical for p in self.points],
            "centre": [p.centre for p in self.points],
            "upper": [p.upper for p in self.points],
            "lower": [p.lower for p in self.points],
            "upperTwoSigma": [p.upper_two_sigma for p in self.points],
            "lowerTwoSigma": [p.lower_two_sigma for p in self.points],
            "variation": [p.variation for p in self.points],
            "segments": [
                {
                    "first": s.first.isoformat(),
                    "last": s.last.isoformat(),
                    "centre": s.centre,
                    "upper": s.upper,
                    "lower": s.lower,
                    "trial": s.trial_limits,
                }
                for s in self.segments
            ],
            "cycles": [
                {
                    "number": c.number,
                    "start": c.started_on.isoformat(),
                    "end": c.ends_on.isoformat(),
                    "decision": c.act_decision,
                }
                for c in self.cycles
            ],
            # Added for the measure page's drawing and table (all additive to the keys above).
            # Where each cycle lies on the category axis, as [from, to] in point indices (fractional
            # between two periods), or None when it lies outside the charted periods.
            "cycleSpans": [cycle_span(periods, c.started_on, c.ends_on) for c in self.cycles],
            "segment": [p.segment for p in self.points],
            "pointSignals": [list(p.signals) for p in self.points],
            "cycle": [p.cycle_number for p in self.points],
            "notes": [p.annotation for p in self.points],
            "signals": [
                {
                    "kind": s.kind,
                    "variation": s.variation,
                    "direction": s.direction,
                    "periods": [d.isoformat() for d in s.periods],
                }
                for s in self.signals
            ],
            "current": self.current,
        }


def axis_position(periods: Sequence[date], day: date) -> float | None:
    """Where ``day`` lies on a chart whose category axis has a point per period: the index of the
    period it falls on, fractional between two periods (by days), extended past either end with the
    neighbouring interval. None without periods."""
    if not periods:
        return None
    if len(periods) == 1:
        # One period: a month either side, so a cycle still shows as a box around the point.
        return (day - periods[0]).days / 30.0
    if day <= periods[0]:
        return (day - periods[0]).days / max((periods[1] - periods[0]).days, 1)
    for i in range(1, len(periods)):
        if day <= periods[i]:
            span = max((periods[i] - periods[i - 1]).days, 1)
            return i - 1 + (day - periods[i - 1]).days / span
    last = len(periods) - 1
    return last + (day - periods[last]).days / max((periods[last] - periods[last - 1]).days, 1)


def cycle_span(periods: Sequence[date], start: date, end: date) -> tuple[float, float] | None:
    """A PDSA cycle's (from, to) on the category axis, cut to the chart's ends (half a period
    beyond the first and last point, where the axis ends); None when it lies wholly outside."""
    first, last = axis_position(periods, start), axis_position(periods, end)
    if first is None or last is None:
        return None
    low, high = -0.5, len(periods) - 0.5
    if last < low or first > high:
        return None
    return max(first, low), min(last, high)


# -- reading the series -----------------------------------------------------------------------------


@dataclass
class _Row:
    period: date
    value: float | None
    excluded: bool = False
    astronomical: bool = False
    annotation: str = ""
    data_point_id: int | None = None
    cycle_id: int | None = None
    numerator: float | None = None
    denominator: float | None = None


def _unit_rows(session: Session, measure_id: int, unit_id: int | None) -> list[_Row]:
    query = select(DataPoint).where(DataPoint.measure_id == measure_id).order_by(DataPoint.period)
    query = query.where(DataPoint.unit_id.is_(None) if unit_id is None else DataPoint.unit_id == unit_id)
    return [
        _Row(p.period, p.value, p.excluded, p.astronomical, p.annotation, p.id, p.cycle_id, p.numerator, p.denominator)
        for p in session.scalars(query)
    ]


def aggregate(method: str, points: Sequence[tuple[float | None, float | None, float | None]]) -> float | None:
    """The region's value of one period from the units' (value, numerator, denominator).

    ``ratio`` is sum(numerator) / sum(denominator) over the units that report both (a mean of
    percentages would weigh a small unit like a large one); ``mean`` and ``sum`` use the values.
    """
    if method == "ratio":
        pairs = [(n, d) for _, n, d in points if n is not None and d is not None]
        denominator = sum(d for _, d in pairs)
        return sum(n for n, _ in pairs) / denominator if pairs and denominator else None
    values = [v for v, _, _ in points if v is not None]
    if not values:
        return None
    return sum(values) / len(values) if method == "mean" else float(sum(values))


def _region_rows(session: Session, measure: Measure) -> list[_Row]:
    by_period: dict[date, list[tuple[float | None, float | None, float | None]]] = defaultdict(list)
    query = select(DataPoint).where(
        DataPoint.measure_id == measure.id, DataPoint.unit_id.is_not(None), DataPoint.excluded.is_(False)
    )
    for p in session.scalars(query):
        by_period[p.period].append((p.value, p.numerator, p.denominator))
    return [_Row(period, aggregate(measure.aggregation, by_period[period])) for period in sorted(by_period)]


# -- analysing ----------------------------------------------------------------------------------------


def _segment_starts(rows: list[_Row], recalculations: list[Any]) -> list[int]:
    starts = {0}
    for text in recalculations:
        try:
            day = date.fromisoformat(str(text))
        except ValueError:
            continue
        index = next((i for i, r in enumerate(rows) if r.period >= day), None)
        if index:
            starts.add(index)
    return sorted(starts)


def _runs_summary(result: RunChartResult) -> dict[str, Any]:
    r = result.runs
    return {
        "useful": r.useful, "runs": r.runs, "crossings": r.crossings, "longest_run": r.longest_run,
        "lower_runs_limit": r.lower_runs_limit, "upper_runs_limit": r.upper_runs_limit,
        "longest_run_limit": r.longest_run_limit, "crossings_limit": r.crossings_limit,
        "applied": r.runs_rule_applied,
    }  # fmt: skip


def analyse(
    measure: Measure, rows: Sequence[tuple[date, float | None, bool]]
) -> tuple[list[dict[str, Any]], list[SegmentView], list[Signal]]:
    """Apply the measure's chart and rules to (period, value, excluded) rows.

    Returns each point's lines (centre, limits), the segments and the signals (indices into
    ``rows``). A run chart is analysed segment by segment (each recalculation has its own median
    and runs); an XmR chart hands the segments to :func:`engine.pdsa.xmr_chart`, whose moving
    ranges do not cross a segment boundary.
    """
    direction = measure.direction if measure.direction in DIRECTIONS else "neither"
    data = [_Row(period, value, excluded) for period, value, excluded in rows]
    points = [Point(r.value, excluded=r.excluded, label=r.period.isoformat()) for r in data]
    starts = _segment_starts(data, list(measure.recalculations or []))
    lines: list[dict[str, Any]] = [{"segment": 0} for _ in points]
    segments: list[SegmentView] = []
    signals: list[Signal] = []
    if not points:
        return lines, segments, signals
    if measure.chart_type == "xmr":
        xmr: XmRResult = xmr_chart(
            points, baseline=measure.baseline_points, segments=starts, screen_outliers=measure.screen_outliers,
            shift=measure.shift_points or 7, trend=measure.trend_points or 7, improvement=direction,  # type: ignore[arg-type]
        )  # fmt: skip
        for number, seg in enumerate(xmr.segments):
            for i in range(seg.start, seg.end):
                lines[i] = {"segment": number, "centre": seg.mean, "upper": seg.upper_limit, "lower": seg.lower_limit,
                            "upper_two_sigma": seg.upper_two_sigma, "lower_two_sigma": seg.lower_two_sigma}  # fmt: skip
            segments.append(
                SegmentView(
                    number,
                    data[seg.start].period,
                    data[seg.end - 1].period,
                    seg.mean,
                    seg.upper_limit,
                    seg.lower_limit,
                    seg.limit_points,
                    seg.trial_limits,
                )
            )
        return lines, segments, list(xmr.signals)
    rules = measure.rules if measure.rules in RULE_SETS else "ihi"
    ends = [*starts[1:], len(points)]
    for number, (start, end) in enumerate(zip(starts, ends, strict=True)):
        run: RunChartResult = run_chart(
            points[start:end], baseline=measure.baseline_points, rules=rules,  # type: ignore[arg-type]
            shift=measure.shift_points or 6, trend=measure.trend_points or 5, improvement=direction,  # type: ignore[arg-type]
        )  # fmt: skip
        for i in range(start, end):
            lines[i] = {"segment": number, "centre": run.centre}
        signals += [Signal(s.kind, tuple(i + start for i in s.indices), s.direction, s.variation) for s in run.signals]
        segments.append(
            SegmentView(
                number,
                data[start].period,
                data[end - 1].period,
                run.centre,
                None,
                None,
                min(run.baseline_points, end - start),
                False,
                _runs_summary(run),
            )
        )
    return lines, segments, signals


# -- the view ---------------------------------------------------------------------------------------------


def _measure(session: Session, actor: Actor, measure_id: int) -> Measure:
    measure = session.get(Measure, measure_id)
    if measure is None:
        raise NotFoundError("Mätetalet finns inte.")
    participant_roles(session, actor, measure.case_id)
    return measure


def chart_view(session: Session, actor: Actor, measure_id: int, unit: int | str | None = None) -> ChartView:
    """The chart of a measure for a unit (an id), the case as a whole (None) or the region
    (:data:`REGION`, the units aggregated as the measure says); participants and admins only."""
    measure = _measure(session, actor, measure_id)
    scope: Scope
    unit_id: int | None = None
    unit_name: str | None = None
    if unit == REGION:
        if measure.aggregation == "none":
            raise ValidationError(
                "Mätetalet läggs inte samman för regionen.",
                {"unit": ["Välj en enhet; mätetalet har inget sätt att läggas samman."]},
            )
        scope, rows = "region", _region_rows(session, measure)
    elif unit is None:
        scope, rows = "case", _unit_rows(session, measure.id, None)
    else:
        unit_id = int(unit)
        in_case = session.scalar(
            select(Unit.name)
            .join(CaseUnit, CaseUnit.unit_id == Unit.id)
            .where(CaseUnit.case_id == measure.case_id, Unit.id == unit_id)
        )
        if in_case is None:
            raise NotFoundError("Enheten ingår inte i ärendet.")
        scope, unit_name, rows = "unit", in_case, _unit_rows(session, measure.id, unit_id)
    lines, segments, signals = analyse(measure, [(r.period, r.value, r.excluded) for r in rows])
    cycles = _cycles(session, measure.case_id, unit_id) if scope == "unit" else []
    number_of = {c.id: c.number for c in cycles}
    flagged: dict[int, list[Signal]] = defaultdict(list)
    for s in signals:
        for i in s.indices:
            flagged[i].append(s)
    points = []
    for i, r in enumerate(rows):
        found = flagged.get(i, [])
        variation = _worst([s.variation for s in found])
        cycle_number = number_of.get(r.cycle_id) if r.cycle_id else _number_at(cycles, r.period)
        points.append(
            ChartPoint(
                i,
                r.period,
                r.value,
                r.excluded,
                r.astronomical,
                r.annotation,
                r.data_point_id,
                cycle_number,
                signals=tuple(sorted({s.kind for s in found})),
                variation=variation,
                numerator=r.numerator,
                denominator=r.denominator,
                **lines[i],
            )
        )
    signal_views = [
        SignalView(s.kind, s.variation, s.direction, tuple(rows[i].period for i in s.indices)) for s in signals
    ]
    return ChartView(
        measure.id, measure.case_id, measure.name, measure.definition, measure.unit_label, measure.direction,
        measure.target, measure.chart_type, measure.rules, scope, unit_id, unit_name, points, segments,
        signal_views, cycles,
    )  # fmt: skip


def _cycles(session: Session, case_id: int, unit_id: int | None) -> list[CycleMarker]:
    unit = PdsaCycle.unit_id.is_(None) if unit_id is None else PdsaCycle.unit_id == unit_id
    return [
        CycleMarker(c.id, c.ramp_id, c.number, c.started_on, c.ends_on, c.stage, c.act_decision, c.objective)
        for c in session.scalars(
            select(PdsaCycle).where(PdsaCycle.case_id == case_id, unit).order_by(PdsaCycle.started_on, PdsaCycle.id)
        )
    ]


def _number_at(cycles: list[CycleMarker], period: date) -> int | None:
    inside = [c for c in cycles if c.started_on <= period <= c.ends_on]
    return inside[-1].number if inside else None


def case_measure_status(
    session: Session, actor: Actor, case_id: int, unit_id: int | None = None
) -> list[tuple[Measure, ChartView]]:
    """Each measure of the case with its chart for the unit (or the case series), for the current
    signal on the case and unit pages."""
    participant_roles(session, actor, case_id)
    measures = session.scalars(select(Measure).where(Measure.case_id == case_id).order_by(Measure.name)).all()
    return [(m, chart_view(session, actor, m.id, unit_id)) for m in measures]
