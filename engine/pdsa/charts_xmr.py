"""XmR (individuals and moving range) control charts, as NHS England's *Making Data Count* draws them.

The centre line is the mean; the moving range MRᵢ = |xᵢ − xᵢ₋₁| between successive usable points;
the process limits are mean ± 2.66 · mean(MR) and the two-sigma lines mean ± 1.773 · mean(MR).
Fewer than ``min_points_for_limits`` (12) points give *trial* limits. Special-cause rules, each
evaluated within a segment against that segment's limits:

1. ``beyond_limit``: a point strictly above the upper or below the lower process limit;
2. ``shift``: ``shift`` (7) or more successive points strictly on one side of the mean; a point
   exactly on the mean ends the run (as NHSRplotthedots' ``ptd_seven_point_one_side_mean``, whose
   ``sign(y - mean)`` is 0 there);
3. ``trend``: ``trend`` (7) or more successive points each strictly higher, or each strictly
   lower, than the one before, crossing the mean or not. Two equal neighbours end a trend: DOMAIN.md
   says "strictly up or down", and NHSRplotthedots' ``ptd_seven_point_trend`` requires every
   ``sign(diff(y))`` to be 1 or every one to be −1, so a difference of 0 breaks it. (The IHI run-chart
   trend, which skips equal neighbours, is a different rule; see :mod:`engine.pdsa.charts_run`.)
4. ``two_of_three``: two (or three) of three successive points beyond the same two-sigma line but
   not beyond the process limit (a point beyond the limit is rule 1's). The signal lists only the
   points in that band; overlapping windows on the same side make one signal. Unlike
   NHSRplotthedots (since 0.2.2, issue #143), the third point may lie on either side of the mean:
   DOMAIN.md and the Western Electric rule ask only about the two.

Moving ranges join successive *usable* points, bridging a missing or excluded one, and never
cross a segment boundary. ``baseline`` and outlier screening act on each segment's own points.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from itertools import pairwise

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

PROCESS_LIMIT_FACTOR = Fraction("2.66")
"""3 / d₂ with d₂ = 1.128 for moving ranges of two points, as Making Data Count rounds it."""
TWO_SIGMA_FACTOR = Fraction("1.773")
"""Two thirds of 2.66, rounded to 1.773 as DOMAIN.md states it (NHSRplotthedots uses 2 · 2.66 / 3 unrounded)."""
SCREEN_FACTOR = Fraction("3.267")
"""D₄ for n = 2: a moving range at or above 3.267 · mean(MR) is screened out."""


@dataclass(frozen=True)
class XmRSegment:
    """One stretch of the chart with its own centre line and limits.

    Covers input indices ``start`` up to (not including) ``end``. ``limit_points`` is how many usable
    points the limits were computed from (the baseline, or all in the segment); ``trial_limits`` is
    true when that is fewer than ``min_points_for_limits``. ``screened`` lists the input indices whose
    moving range (to the point before) was left out by outlier screening. The mean is ``None``
    without usable points; the moving range and the limits are ``None`` with fewer than two.
    """

    start: int
    end: int
    limit_points: int
    mean: float | None
    mean_moving_range: float | None
    upper_limit: float | None
    lower_limit: float | None
    upper_two_sigma: float | None
    lower_two_sigma: float | None
    trial_limits: bool
    screened: tuple[int, ...] = ()


@dataclass(frozen=True)
class XmRPoint:
    """One input point as the XmR chart sees it: its segment, moving range and special-cause flag."""

    index: int
    value: float | None
    usable: bool
    segment: int
    moving_range: float | None
    special_cause: bool = False


@dataclass(frozen=True)
class XmRResult:
    """An XmR chart: the points, the segments with their limits, and the special-cause signals.

    The shorthand properties (``mean``, ``upper_limit``, …) are those of the last segment: the
    limits in force now. ``trial_limits`` is true when any segment's limits are trial limits.
    """

    points: tuple[XmRPoint, ...]
    segments: tuple[XmRSegment, ...]
    signals: tuple[Signal, ...]
    trial_limits: bool

    @property
    def moving_ranges(self) -> tuple[float | None, ...]:
        """The moving range of every input point (``None`` for unusable and first points)."""
        return tuple(p.moving_range for p in self.points)

    @property
    def mean(self) -> float | None:
        """The current centre line."""
        return self.segments[-1].mean

    @property
    def mean_moving_range(self) -> float | None:
        """The current mean moving range (after screening, when asked for)."""
        return self.segments[-1].mean_moving_range

    @property
    def upper_limit(self) -> float | None:
        """The current upper process limit."""
        return self.segments[-1].upper_limit

    @property
    def lower_limit(self) -> float | None:
        """The current lower process limit."""
        return self.segments[-1].lower_limit

    @property
    def upper_two_sigma(self) -> float | None:
        """The current upper two-sigma line."""
        return self.segments[-1].upper_two_sigma

    @property
    def lower_two_sigma(self) -> float | None:
        """The current lower two-sigma line."""
        return self.segments[-1].lower_two_sigma


@dataclass(frozen=True)
class _Lines:
    mean: Fraction
    mean_mr: Fraction | None

    def at(self, factor: Fraction, side: int) -> Fraction | None:
        return None if self.mean_mr is None else self.mean + side * factor * self.mean_mr


def xmr_chart(
    points: Sequence[Point],
    *,
    baseline: int | None = None,
    segments: Sequence[int] = (),
    screen_outliers: bool = False,
    shift: int = 7,
    trend: int = 7,
    min_points_for_limits: int = 12,
    improvement: Direction = "neither",
) -> XmRResult:
    """Analyse ``points`` as an XmR chart.

    ``baseline`` freezes each segment's mean and limits at its first ``baseline`` usable points.
    ``segments`` are the input indices where a recalculation starts (e.g. the first period after a
    change was adopted); index 0 always starts one. ``screen_outliers`` leaves moving ranges at or
    above 3.267 · mean(MR) out and takes the mean of the rest, once, without iterating: that is
    NHSRplotthedots' ``ptd_spc_standard`` (keeps ``mr < 3.267 * amr``, then recomputes ``amr``)
    and reproduces its "deviations" vignette (limits −0.72 … 4.60). When every moving range is 0
    nothing is screened. ``improvement`` is the measure's direction, used to classify each signal.
    """
    _check_positive("baseline", baseline)
    _check_positive("shift", shift)
    _check_positive("trend", trend, minimum=2)
    _check_positive("min_points_for_limits", min_points_for_limits, minimum=0)
    for s in segments:
        if s != 0 and not 0 < s < len(points):
            raise ValueError(f"segment start {s} is outside the {len(points)} points")
    starts = sorted({0, *segments})
    ends = [*starts[1:], len(points)]

    usable = _usable_values(points)
    moving_range: dict[int, Fraction] = {}
    segment_of: dict[int, int] = {}
    chart_segments: list[XmRSegment] = []
    signals: list[Signal] = []

    for number, (start, end) in enumerate(zip(starts, ends, strict=True)):
        for i in range(start, end):
            segment_of[i] = number
        seg = [(i, v) for i, v in usable if start <= i < end]
        for (_, prev), (i, v) in pairwise(seg):
            moving_range[i] = abs(v - prev)
        basis = seg if baseline is None else seg[:baseline]
        lines, screened = _limits(basis, screen_outliers)
        if lines is not None:
            signals += _special_causes(seg, lines, shift, trend)
        chart_segments.append(
            XmRSegment(
                start=start,
                end=end,
                limit_points=len(basis),
                mean=_float(lines.mean) if lines else None,
                mean_moving_range=_float(lines.mean_mr) if lines else None,
                upper_limit=_float(lines.at(PROCESS_LIMIT_FACTOR, 1)) if lines else None,
                lower_limit=_float(lines.at(PROCESS_LIMIT_FACTOR, -1)) if lines else None,
                upper_two_sigma=_float(lines.at(TWO_SIGMA_FACTOR, 1)) if lines else None,
                lower_two_sigma=_float(lines.at(TWO_SIGMA_FACTOR, -1)) if lines else None,
                trial_limits=len(basis) < min_points_for_limits,
                screened=screened,
            )
        )

    flagged = {i for s in signals for i in s.indices}
    usable_index = {i for i, _ in usable}
    chart_points = tuple(
        XmRPoint(
            index=i,
            value=p.value,
            usable=i in usable_index,
            segment=segment_of[i],
            moving_range=_float(moving_range.get(i)),
            special_cause=i in flagged,
        )
        for i, p in enumerate(points)
    )
    return XmRResult(
        points=chart_points,
        segments=tuple(chart_segments),
        signals=_with_variation(signals, improvement),
        trial_limits=any(s.trial_limits for s in chart_segments),
    )


def _limits(basis: list[tuple[int, Fraction]], screen: bool) -> tuple[_Lines | None, tuple[int, ...]]:
    """The mean and mean moving range of the points the limits rest on, and any screened indices."""
    if not basis:
        return None, ()
    mean = sum((v for _, v in basis), Fraction(0)) / len(basis)
    ranges = [(i, abs(v - prev)) for (_, prev), (i, v) in pairwise(basis)]
    if not ranges:
        return _Lines(mean, None), ()
    mean_mr = sum((r for _, r in ranges), Fraction(0)) / len(ranges)
    screened: tuple[int, ...] = ()
    if screen and mean_mr > 0:
        cut = SCREEN_FACTOR * mean_mr
        kept = [r for _, r in ranges if r < cut]  # never empty: the smallest range is ≤ the mean
        screened = tuple(i for i, r in ranges if r >= cut)
        mean_mr = sum(kept, Fraction(0)) / len(kept)
    return _Lines(mean, mean_mr), screened


def _special_causes(seg: list[tuple[int, Fraction]], lines: _Lines, shift: int, trend: int) -> list[Signal]:
    """Rules 1–4 over one segment's usable points."""
    found: list[Signal] = []
    upper, lower = lines.at(PROCESS_LIMIT_FACTOR, 1), lines.at(PROCESS_LIMIT_FACTOR, -1)
    if upper is not None and lower is not None:
        for i, v in seg:
            if v > upper:
                found.append(Signal("beyond_limit", (i,), "up"))
            elif v < lower:
                found.append(Signal("beyond_limit", (i,), "down"))

    run: list[int] = []
    run_side: Side | None = None
    for i, v in [*seg, (-1, lines.mean)]:  # the sentinel sits on the mean and closes the last run
        side: Side | None = "up" if v > lines.mean else "down" if v < lines.mean else None
        if side is not None and side == run_side:
            run.append(i)
            continue
        if run_side is not None and len(run) >= shift:
            found.append(Signal("shift", tuple(run), run_side))
        run, run_side = ([i], side) if side is not None else ([], None)

    for first, last, direction in _monotone_runs([v for _, v in seg]):
        if last - first + 1 >= trend:
            found.append(Signal("trend", tuple(i for i, _ in seg[first : last + 1]), direction))

    upper2, lower2 = lines.at(TWO_SIGMA_FACTOR, 1), lines.at(TWO_SIGMA_FACTOR, -1)
    if upper is not None and lower is not None and upper2 is not None and lower2 is not None:
        bands: dict[Side, set[int]] = {
            "up": {i for i, v in seg if upper2 < v <= upper},
            "down": {i for i, v in seg if lower <= v < lower2},
        }
        for direction, band in bands.items():
            open_indices: set[int] = set()
            last_window = -10
            for k in range(max(len(seg) - 2, 1)):
                hits = {i for i, _ in seg[k : k + 3] if i in band}
                if len(hits) < 2:
                    continue
                if open_indices and k - last_window > 2:
                    found.append(Signal("two_of_three", tuple(sorted(open_indices)), direction))
                    open_indices = set()
                open_indices |= hits
                last_window = k
            if open_indices:
                found.append(Signal("two_of_three", tuple(sorted(open_indices)), direction))
    return found
