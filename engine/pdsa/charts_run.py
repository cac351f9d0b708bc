"""Run charts: a median centre line and the IHI or the Anhøj rules for non-random variation.

IHI rules (Perla, Provost & Murray 2011, "The run chart: a simple analytical tool for learning from
variation in healthcare processes", BMJ Qual Saf 20:46–51):

- *shift*: ``shift`` (6) or more consecutive points all above or all below the median; points on
  the median neither count nor break the run;
- *trend*: ``trend`` (5) or more consecutive points all going up or all going down; when successive
  points are equal only one of them counts ("like values" neither make nor break a trend);
- *runs*: the number of runs (crossings + 1) over the points not on the median, compared with the
  runs table :data:`IHI_RUNS_TABLE` (see its comment on where it comes from);
- *astronomical point*: a judgement call for a person, never signalled (see
  :attr:`RunChartResult.astronomical_candidates`).

Anhøj rules (Anhøj & Olesen 2014, PLoS ONE 9:e113825; as in the R package qicharts2,
``runs.analysis``), with n the number of useful points (not on the median):

- *unusually long run*: the longest run > ``round(log2(n) + 3)``;
- *too few crossings*: the crossings < the 5 % quantile of Binomial(n − 1, 0.5), computed exactly
  here (R's ``qbinom(0.05, n - 1, 0.5)``).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from engine.pdsa.charts import (
    Direction,
    Point,
    Side,
    Signal,
    _check_positive,
    _float,
    _monotone_runs,
    _usable_values,
    _with_variation,
)

RuleSet = Literal["ihi", "anhoej"]

# The runs table of Perla RJ, Provost LP, Murray SK. The run chart: a simple analytical tool for
# learning from variation in healthcare processes. BMJ Qual Saf 2011;20:46–51 (after Swed &
# Eisenhart 1943, about a 5 % risk of a false signal for random data), as reproduced in IHI
# teaching material — written from that material, not yet checked row by row against the paper.
# Key: the number of useful points (not on the median); value: (lower, upper).
# Fewer runs than the lower limit are "too few", more than the upper limit "too many". Every row is
# within one run of the exact two-sided 5 % limits of the runs distribution (checked in the tests).
# Outside 10..60 useful points the table says nothing, so the runs rule is not applied there
# (RunsAnalysis.runs_rule_applied is False); shift and trend still are.
IHI_RUNS_TABLE: dict[int, tuple[int, int]] = {
    10: (3, 9), 11: (3, 10), 12: (3, 11), 13: (4, 11), 14: (4, 12), 15: (5, 12), 16: (5, 13),
    17: (5, 13), 18: (6, 14), 19: (6, 15), 20: (6, 16), 21: (7, 16), 22: (7, 17), 23: (7, 17),
    24: (8, 18), 25: (8, 18), 26: (9, 19), 27: (10, 19), 28: (10, 20), 29: (10, 20), 30: (11, 21),
    31: (11, 22), 32: (11, 23), 33: (12, 23), 34: (12, 24), 35: (13, 24), 36: (13, 25), 37: (13, 25),
    38: (14, 26), 39: (14, 26), 40: (15, 27), 41: (15, 28), 42: (16, 28), 43: (16, 29), 44: (17, 29),
    45: (17, 30), 46: (17, 31), 47: (18, 31), 48: (18, 32), 49: (19, 32), 50: (19, 33), 51: (20, 33),
    52: (20, 34), 53: (21, 34), 54: (21, 35), 55: (22, 35), 56: (22, 36), 57: (23, 36), 58: (23, 37),
    59: (24, 38), 60: (24, 38),
}  # fmt: skip


def anhoej_longest_run_limit(useful: int) -> int:
    """The Anhøj upper limit for the longest run: ``round(log2(n) + 3)``; a longer run signals.

    ``log2(n) + 3`` is never exactly halfway between integers for a whole n, so Python's and R's
    rounding agree. Needs n ≥ 1.
    """
    _check_positive("useful", useful)
    return round(math.log2(useful) + 3)


def anhoej_crossings_limit(useful: int) -> int:
    """The Anhøj lower limit for crossings: the 5 % quantile of Binomial(n − 1, 0.5); fewer signal.

    The quantile is R's: the smallest k with P(X ≤ k) ≥ 0.05, computed with integers (the
    cumulative count of sequences times 20 against 2^(n − 1)), so there is no rounding. Needs n ≥ 1.
    """
    _check_positive("useful", useful)
    trials = useful - 1
    total = 2**trials
    term = 1  # C(trials, k), updated in place: math.comb per k would be quadratic for long series
    cumulative = 0
    for k in range(trials + 1):
        cumulative += term
        if 20 * cumulative >= total:
            return k
        term = term * (trials - k) // (k + 1)
    return trials  # not reached: the cumulative count ends at 2^trials


@dataclass(frozen=True)
class RunPoint:
    """One input point as the run chart sees it.

    ``position`` is ``above``, ``below`` or ``on`` the median for usable points, ``None`` for
    unusable ones (and for all points when there is no median). ``shift`` and ``trend`` say whether
    the point is part of a shift (IHI; for Anhøj: an unusually long run) or an IHI trend.
    """

    index: int
    value: float | None
    usable: bool
    position: Literal["above", "below", "on"] | None
    shift: bool = False
    trend: bool = False


@dataclass(frozen=True)
class RunsAnalysis:
    """The runs about the median and the limits they were judged by.

    ``useful`` is n, the usable points not on the median; ``runs`` = ``crossings`` + 1 (0 when
    n = 0). For IHI ``lower_runs_limit``/``upper_runs_limit`` come from :data:`IHI_RUNS_TABLE`; for
    Anhøj ``longest_run_limit``/``crossings_limit`` from the formulas. A limit is ``None`` when the
    rule set does not use it or n is outside what it covers; ``runs_rule_applied`` says whether the
    number of runs or crossings was judged at all.
    """

    useful: int
    runs: int
    crossings: int
    longest_run: int
    lower_runs_limit: int | None = None
    upper_runs_limit: int | None = None
    longest_run_limit: int | None = None
    crossings_limit: int | None = None
    runs_rule_applied: bool = False


@dataclass(frozen=True)
class RunChartResult:
    """A run chart: the centre line, each point, the runs analysis and the signals found.

    ``centre`` is the median of the first ``baseline_points`` usable points (all of them without a
    baseline), ``None`` when there is none. ``astronomical_candidates`` is always empty: whether a
    point is astronomical is a person's judgement (Perla et al. 2011), so the chart never proposes
    one; the field is there so a user interface has a single place to show such marks.
    """

    rules: RuleSet
    centre: float | None
    baseline_points: int
    points: tuple[RunPoint, ...]
    runs: RunsAnalysis
    signals: tuple[Signal, ...]
    astronomical_candidates: tuple[int, ...] = ()


def run_chart(
    points: Sequence[Point],
    *,
    baseline: int | None = None,
    rules: RuleSet = "ihi",
    shift: int = 6,
    trend: int = 5,
    improvement: Direction = "neither",
) -> RunChartResult:
    """Analyse ``points`` as a run chart with the ``ihi`` or ``anhoej`` rules.

    ``baseline`` freezes the median at the first ``baseline`` usable points (all usable points when
    there are fewer); every usable point is still judged against it. ``shift`` and ``trend`` are the
    IHI thresholds (the Anhøj rules have no trend rule and derive the run limit from n, so both are
    ignored there). ``improvement`` is the measure's direction, used to classify each signal.
    """
    if rules not in ("ihi", "anhoej"):
        raise ValueError(f"unknown rule set {rules!r}")
    _check_positive("baseline", baseline)
    _check_positive("shift", shift)
    _check_positive("trend", trend, minimum=2)

    usable = _usable_values(points)
    frozen = usable if baseline is None else usable[:baseline]
    centre: Fraction | None = statistics.median(v for _, v in frozen) if frozen else None

    position: dict[int, Literal["above", "below", "on"]] = {}
    if centre is not None:
        for i, v in usable:
            position[i] = "above" if v > centre else "below" if v < centre else "on"

    # Runs over the useful points: points on the median are dropped, so they neither count nor break.
    useful = [(i, position[i]) for i, _ in usable if position.get(i) in ("above", "below")]
    runs: list[list[int]] = []
    sides: list[Side] = []
    for i, pos in useful:
        side: Side = "up" if pos == "above" else "down"
        if sides and sides[-1] == side:
            runs[-1].append(i)
        else:
            runs.append([i])
            sides.append(side)
    n = len(useful)
    longest = max((len(r) for r in runs), default=0)
    signals: list[Signal] = []
    shift_points: set[int] = set()
    trend_points: set[int] = set()
    all_useful = tuple(i for i, _ in useful)

    if rules == "ihi":
        limits = IHI_RUNS_TABLE.get(n)
        analysis = RunsAnalysis(
            useful=n,
            runs=len(runs),
            crossings=max(len(runs) - 1, 0),
            longest_run=longest,
            lower_runs_limit=limits[0] if limits else None,
            upper_runs_limit=limits[1] if limits else None,
            runs_rule_applied=limits is not None,
        )
        for run, side in zip(runs, sides, strict=True):
            if len(run) >= shift:
                signals.append(Signal("shift", tuple(run), side))
                shift_points.update(run)
        for indices, side in _ihi_trends(usable, trend):
            signals.append(Signal("trend", indices, side))
            trend_points.update(indices)
        if limits is not None and len(runs) < limits[0]:
            signals.append(Signal("too_few_runs", all_useful, None))
        if limits is not None and len(runs) > limits[1]:
            signals.append(Signal("too_many_runs", all_useful, None))
    else:
        run_limit = anhoej_longest_run_limit(n) if n else None
        crossing_limit = anhoej_crossings_limit(n) if n else None
        analysis = RunsAnalysis(
            useful=n,
            runs=len(runs),
            crossings=max(len(runs) - 1, 0),
            longest_run=longest,
            longest_run_limit=run_limit,
            crossings_limit=crossing_limit,
            runs_rule_applied=n > 0,
        )
        if run_limit is not None:
            for run, side in zip(runs, sides, strict=True):
                if len(run) > run_limit:
                    signals.append(Signal("long_run", tuple(run), side))
                    shift_points.update(run)
        if crossing_limit is not None and analysis.crossings < crossing_limit:
            signals.append(Signal("few_crossings", all_useful, None))

    usable_index = {i for i, _ in usable}
    chart_points = tuple(
        RunPoint(
            index=i,
            value=p.value,
            usable=i in usable_index,
            position=position.get(i),
            shift=i in shift_points,
            trend=i in trend_points,
        )
        for i, p in enumerate(points)
    )
    return RunChartResult(
        rules=rules,
        centre=_float(centre),
        baseline_points=len(frozen),
        points=chart_points,
        runs=analysis,
        signals=_with_variation(signals, improvement),
    )


def _ihi_trends(usable: list[tuple[int, Fraction]], trend: int) -> list[tuple[tuple[int, ...], Side]]:
    """IHI trends: successive equal values are merged into one (counted once, breaking nothing),
    then every maximal rising or falling stretch of at least ``trend`` values is a trend. The
    indices include every point of a merged group."""
    groups: list[list[int]] = []
    values: list[Fraction] = []
    for i, v in usable:
        if values and values[-1] == v:
            groups[-1].append(i)
        else:
            groups.append([i])
            values.append(v)
    found: list[tuple[tuple[int, ...], Side]] = []
    for first, last, side in _monotone_runs(values):
        if last - first + 1 >= trend:
            found.append((tuple(i for g in groups[first : last + 1] for i in g), side))
    return found
