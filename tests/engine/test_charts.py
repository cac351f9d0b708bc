"""Run charts and XmR charts (engine.pdsa): the published worked examples, the rule edge cases, and
properties that must hold for any data (shifting, mirroring, robustness)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from fractions import Fraction
from functools import partial
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.pdsa import (
    IHI_RUNS_TABLE,
    Direction,
    Point,
    RunChartResult,
    Signal,
    XmRResult,
    anhoej_crossings_limit,
    anhoej_longest_run_limit,
    classify,
    run_chart,
    xmr_chart,
)


def pts(*values: float | None) -> list[Point]:
    return [Point(v) for v in values]


def kinds(signals: tuple[Signal, ...]) -> list[str]:
    return [s.kind for s in signals]


# --- XmR: published worked examples ---------------------------------------------------------------


def test_making_data_count_xmr_test_data() -> None:
    # NHS England "Making Data Count" XmR test data (DOMAIN.md, Measures and charts):
    # mean 23.20, mean MR 5.43, upper limit 37.64, lower limit 8.76.
    chart = xmr_chart(pts(20, 24, 20, 26, 22, 16, 18, 16, 31, 28, 34, 26, 30, 19, 18))
    assert chart.mean is not None and round(chart.mean, 2) == 23.20
    assert chart.mean_moving_range is not None and round(chart.mean_moving_range, 2) == 5.43
    assert chart.upper_limit is not None and round(chart.upper_limit, 2) == 37.64
    assert chart.lower_limit is not None and round(chart.lower_limit, 2) == 8.76
    assert not chart.trial_limits  # 15 points ≥ 12
    assert chart.moving_ranges[:3] == (None, 4.0, 4.0)
    # Not in the source, our own reading of the rules: nothing here is special cause (34 is beyond
    # the upper two-sigma line 32.83 but alone).
    assert chart.signals == ()


DEVIATIONS = (1, 2, 1, 2, 10, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1)


@pytest.mark.parametrize(
    ("screen", "lower", "upper"),
    [(False, -3.06, 6.95), (True, -0.72, 4.60)],
)
def test_nhsrplotthedots_deviations_vignette(screen: bool, lower: float, upper: float) -> None:
    # NHSRplotthedots, vignette "deviations" (DOMAIN.md): mean 1.94; limits −3.06 … 6.95 unscreened,
    # −0.72 … 4.60 with outlier screening; point 5 is special cause either way.
    chart = xmr_chart(pts(*DEVIATIONS), screen_outliers=screen)
    assert chart.mean is not None and round(chart.mean, 2) == 1.94
    assert chart.lower_limit is not None and round(chart.lower_limit, 2) == lower
    assert chart.upper_limit is not None and round(chart.upper_limit, 2) == upper
    assert chart.points[4].special_cause
    assert Signal("beyond_limit", (4,), "up") in chart.signals
    # Screening drops the two moving ranges around the 10 (8 and 9 ≥ 3.267 · 32/17); the other 15
    # are all 1, so the screened mean MR is exactly 1.
    assert chart.segments[0].screened == ((4, 5) if screen else ())
    assert chart.mean_moving_range == (1.0 if screen else 32 / 17)


def test_screening_is_one_pass_like_nhsrplotthedots() -> None:
    # NHSRplotthedots ptd_spc_standard keeps mr < 3.267 * amr and recomputes amr once. Moving ranges
    # 15 × 1, 5, 40: the first pass drops 40 (cut 3.267 · 60/17 ≈ 11.5) and keeps 5, giving
    # 20/16 = 1.25; a second pass would also drop 5 (cut ≈ 4.08) and give 1.
    values = [0, *[k % 2 for k in range(1, 16)], 6, 46]
    chart = xmr_chart(pts(*values), screen_outliers=True)
    assert chart.segments[0].screened == (17,)
    assert chart.mean_moving_range == 1.25


# --- XmR: rules and options -----------------------------------------------------------------------

BASE = (11, 9) * 6  # 12 points: mean 10, every moving range 2 → limits 10 ± 5.32, two-sigma 10 ± 3.546


def test_xmr_shift_of_seven_and_a_point_on_the_mean_breaks_it() -> None:
    chart = xmr_chart(pts(*BASE, 12, 12, 12, 12, 12, 12, 12), baseline=12)
    assert [(s.kind, s.indices) for s in chart.signals] == [("shift", tuple(range(12, 19)))]
    broken = xmr_chart(pts(*BASE, 12, 12, 12, 10, 12, 12, 12), baseline=12)
    assert broken.signals == ()
    configured = xmr_chart(pts(*BASE, 12, 12, 12, 12, 12, 12), baseline=12, shift=6)
    assert kinds(configured.signals) == ["shift"]


def test_xmr_trend_is_strict_so_equal_neighbours_break_it() -> None:
    rising = xmr_chart(pts(*BASE, 7, 8, 9, 10, 11, 12, 13), baseline=12)
    trend = [s for s in rising.signals if s.kind == "trend"]
    assert [(s.indices, s.direction) for s in trend] == [(tuple(range(12, 19)), "up")]  # 9 → 7 falls
    flat = xmr_chart(pts(*BASE, 8, 9, 10, 10, 11, 12, 13), baseline=12)
    assert "trend" not in kinds(flat.signals)


def test_xmr_two_of_three_beyond_the_same_two_sigma_line_but_inside_the_limit() -> None:
    chart = xmr_chart(pts(*BASE, 14, 10, 14), baseline=12)
    assert [(s.kind, s.indices, s.direction) for s in chart.signals] == [("two_of_three", (12, 14), "up")]
    beyond = xmr_chart(pts(*BASE, 14, 10, 16), baseline=12)  # 16 > 15.32 is rule 1, not in the band
    assert [(s.kind, s.indices) for s in beyond.signals] == [("beyond_limit", (14,))]
    opposite = xmr_chart(pts(*BASE, 14, 6, 10), baseline=12)  # one in each band: no signal
    assert opposite.signals == ()


def test_xmr_baseline_freezes_the_limits() -> None:
    chart = xmr_chart(pts(*BASE, 30, 31, 32), baseline=12)
    assert chart.mean == 10.0 and chart.mean_moving_range == 2.0
    assert chart.segments[0].limit_points == 12
    assert chart.moving_ranges[-1] == 1.0  # later points still get their moving range


def test_xmr_trial_limits_below_twelve_points() -> None:
    assert xmr_chart(pts(*BASE[:11])).trial_limits
    assert not xmr_chart(pts(*BASE)).trial_limits
    assert xmr_chart(pts(*BASE, 1, 2), baseline=6).trial_limits
    assert not xmr_chart(pts(*BASE[:6]), min_points_for_limits=6).trial_limits


def test_xmr_segments_recalculate_and_moving_ranges_do_not_cross() -> None:
    chart = xmr_chart(pts(*BASE, *(v + 20 for v in BASE)), segments=[12])
    first, second = chart.segments
    assert (first.start, first.end, first.mean, first.mean_moving_range) == (0, 12, 10.0, 2.0)
    assert (second.start, second.end, second.mean, second.mean_moving_range) == (12, 24, 30.0, 2.0)
    assert chart.mean == 30.0  # the current limits are the last segment's
    assert chart.moving_ranges[12] is None  # the jump of 20 at the boundary is no moving range
    assert chart.points[12].segment == 1
    assert chart.signals == ()
    with pytest.raises(ValueError, match="outside"):
        xmr_chart(pts(1, 2), segments=[2])


def test_xmr_skips_missing_and_excluded_points() -> None:
    points = [Point(9), Point(None), Point(11), Point(500, excluded=True), Point(9), Point(float("nan"))]
    chart = xmr_chart(points)
    assert chart.mean == pytest.approx(29 / 3)
    assert chart.moving_ranges == (None, None, 2.0, None, 2.0, None)  # bridged over the gaps
    assert [p.usable for p in chart.points] == [True, False, True, False, True, False]


def test_classify_uses_the_improvement_direction() -> None:
    up = Signal("shift", (1, 2), "up")
    down = Signal("trend", (1, 2), "down")
    assert classify(up, "higher") == "improvement" and classify(up, "lower") == "concern"
    assert classify(down, "higher") == "concern" and classify(down, "lower") == "improvement"
    assert classify(up, "neither") == "neutral"
    assert classify(Signal("too_few_runs", (1, 2), None), "higher") == "neutral"
    chart = xmr_chart(pts(*BASE, 12, 12, 12, 12, 12, 12, 12), baseline=12, improvement="lower")
    assert [s.variation for s in chart.signals] == ["concern"]


# --- Run charts: IHI ------------------------------------------------------------------------------


def _runs_distribution_limits(useful: int) -> tuple[int, int]:
    """Exact two-sided 5 % limits for the number of runs of n1 = n // 2 and n2 = n - n1 points
    (Swed & Eisenhart 1943), the distribution the published table is based on."""
    n1, n2 = useful // 2, useful - useful // 2
    total = math.comb(useful, n1)

    def ways(runs: int) -> int:
        if runs % 2 == 0:
            k = runs // 2
            return 2 * math.comb(n1 - 1, k - 1) * math.comb(n2 - 1, k - 1)
        k = (runs - 1) // 2
        return math.comb(n1 - 1, k) * math.comb(n2 - 1, k - 1) + math.comb(n1 - 1, k - 1) * math.comb(n2 - 1, k)

    tail = Fraction(1, 40)
    lower, cumulative = 2, Fraction(0)
    while cumulative + Fraction(ways(lower), total) <= tail:
        cumulative += Fraction(ways(lower), total)
        lower += 1
    upper, cumulative = useful, Fraction(0)
    while cumulative + Fraction(ways(upper), total) <= tail:
        cumulative += Fraction(ways(upper), total)
        upper -= 1
    return lower, upper


def test_ihi_runs_table_covers_10_to_60_useful_points() -> None:
    # Whether the rows are the published ones (Perla, Provost & Murray 2011) is not something this
    # suite can know: the table was written from the IHI teaching version. What is checked here is
    # its coverage, and below, that every row lies within one run of the exact distribution.
    assert sorted(IHI_RUNS_TABLE) == list(range(10, 61))


def test_ihi_runs_table_is_within_one_run_of_the_exact_distribution() -> None:
    # A guard against transcription slips: every published row lies within one run of the exact
    # 2.5 %-per-tail limits of the runs distribution it was derived from, and widens with n.
    for useful, (lower, upper) in IHI_RUNS_TABLE.items():
        exact_lower, exact_upper = _runs_distribution_limits(useful)
        assert abs(lower - exact_lower) <= 1 and abs(upper - exact_upper) <= 1, useful
        assert lower < upper
    rows = [IHI_RUNS_TABLE[n] for n in range(10, 61)]
    assert all(a[0] <= b[0] and a[1] <= b[1] for a, b in pairwise(rows))


def test_ihi_too_few_runs() -> None:
    # 20 useful points in two runs (10 below, then 10 above the median 11): the table's lower
    # limit for n = 20 is 6, so 2 runs are too few (and each run is also a shift).
    chart = run_chart(pts(*[5 + (k % 3) for k in range(10)], *[15 + (k % 3) for k in range(10)]))
    assert chart.centre == 11
    assert (chart.runs.useful, chart.runs.runs, chart.runs.crossings) == (20, 2, 1)
    assert (chart.runs.lower_runs_limit, chart.runs.upper_runs_limit) == (6, 16)
    assert kinds(chart.signals).count("too_few_runs") == 1
    assert kinds(chart.signals).count("shift") == 2


def test_ihi_too_many_runs() -> None:
    chart = run_chart(pts(*(1, 9) * 10))  # 20 alternating points: 20 runs > 16
    assert chart.runs.runs == 20
    assert "too_many_runs" in kinds(chart.signals)


def test_ihi_runs_rule_outside_the_table_is_not_applied() -> None:
    for values in ((1, 9) * 4, (1, 9) * 31):  # 8 and 62 useful points
        chart = run_chart(pts(*values))
        assert not chart.runs.runs_rule_applied
        assert chart.runs.lower_runs_limit is None and chart.runs.upper_runs_limit is None
        assert not {"too_few_runs", "too_many_runs"} & set(kinds(chart.signals))


def test_ihi_points_on_the_median_neither_count_nor_break_a_shift() -> None:
    # The baseline 9, 5, 1 fixes the median at 5; the 5 at index 6 lies on it.
    chart = run_chart(pts(9, 5, 1, 6, 7, 8, 5, 6, 7, 8), baseline=3)
    assert chart.centre == 5
    assert [(s.kind, s.indices, s.direction) for s in chart.signals] == [("shift", (3, 4, 5, 7, 8, 9), "up")]
    assert chart.points[6].position == "on" and not chart.points[6].shift
    # Five useful points plus one on the median are not a shift of six.
    short = run_chart(pts(9, 5, 1, 6, 7, 5, 8, 9, 6, 2), baseline=3)
    assert "shift" not in kinds(short.signals)


def test_ihi_equal_neighbours_count_once_in_a_trend() -> None:
    chart = run_chart(pts(1, 2, 2, 3, 4, 5))
    assert [(s.kind, s.indices, s.direction) for s in chart.signals] == [("trend", (0, 1, 2, 3, 4, 5), "up")]
    assert all(p.trend for p in chart.points)
    # 1, 2, 2, 3, 4 is only four distinct steps of a trend of five.
    assert "trend" not in kinds(run_chart(pts(1, 2, 2, 3, 4)).signals)
    falling = run_chart(pts(9, 8, 8, 8, 7, 6, 5), trend=5)
    assert [(s.kind, s.direction) for s in falling.signals] == [("trend", "down")]


def test_run_chart_skips_missing_and_excluded_points() -> None:
    points = [Point(1), Point(2), Point(None), Point(3), Point(100, excluded=True), Point(4), Point(5)]
    chart = run_chart(points)
    assert chart.centre == 3
    assert [(s.kind, s.indices) for s in chart.signals] == [("trend", (0, 1, 3, 5, 6))]
    assert chart.points[2].position is None and chart.points[4].position is None
    assert not chart.points[4].usable and chart.points[4].value == 100


def test_astronomical_points_are_never_flagged() -> None:
    chart = run_chart(pts(5, 6, 5, 6, 1000, 5, 6, 5, 6, 5, 6))
    assert chart.astronomical_candidates == ()


# --- Run charts: Anhøj ----------------------------------------------------------------------------


def _binomial_quantile_05(trials: int) -> int:
    """R's qbinom(0.05, trials, 0.5), computed with exact probabilities."""
    cumulative = Fraction(0)
    for k in range(trials + 1):
        cumulative += Fraction(math.comb(trials, k), 2**trials)
        if cumulative >= Fraction(1, 20):
            return k
    raise AssertionError("unreachable")


def test_anhoej_limits_for_24_points_are_both_8() -> None:
    # DOMAIN.md (Anhøj rules as in qicharts2): for n = 24 both limits are 8.
    assert anhoej_longest_run_limit(24) == 8
    assert anhoej_crossings_limit(24) == 8


@pytest.mark.parametrize(
    ("useful", "run_limit", "crossings_limit"), [(10, 6, 2), (20, 7, 6), (30, 8, 10), (100, 10, 41)]
)
def test_anhoej_limits_match_the_formulas(useful: int, run_limit: int, crossings_limit: int) -> None:
    # Anhøj & Olesen 2014 (PLoS ONE 9:e113825); qicharts2 runs.analysis: round(log2(n) + 3) and
    # qbinom(0.05, n - 1, 0.5). The expected values are those formulas' (R) values.
    assert anhoej_longest_run_limit(useful) == run_limit == round(math.log(useful, 2) + 3)
    assert anhoej_crossings_limit(useful) == crossings_limit == _binomial_quantile_05(useful - 1)


def test_anhoej_limits_agree_with_an_independent_computation() -> None:
    for useful in range(1, 121):
        assert anhoej_crossings_limit(useful) == _binomial_quantile_05(useful - 1)


def test_anhoej_long_run_and_few_crossings() -> None:
    values = [*[5 + (k % 3) for k in range(12)], *[15 + (k % 3) for k in range(12)]]
    chart = run_chart(pts(*values), rules="anhoej", improvement="higher")
    assert (chart.runs.useful, chart.runs.longest_run, chart.runs.crossings) == (24, 12, 1)
    assert (chart.runs.longest_run_limit, chart.runs.crossings_limit) == (8, 8)
    assert [(s.kind, s.direction, s.variation) for s in chart.signals] == [
        ("few_crossings", None, "neutral"),
        ("long_run", "down", "concern"),
        ("long_run", "up", "improvement"),
    ]
    assert "trend" not in kinds(chart.signals)  # the Anhøj rules have no trend rule


# --- Robustness -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "points",
    [[], [Point(3)], [Point(4)] * 30, [Point(None)] * 5, [Point(1, excluded=True), Point(None)]],
    ids=["empty", "one", "constant", "all-none", "nothing-usable"],
)
def test_degenerate_series_do_not_crash(points: list[Point]) -> None:
    for rules in ("ihi", "anhoej"):
        chart = run_chart(points, rules=rules)
        assert len(chart.points) == len(points)
        assert chart.signals == ()
    xmr = xmr_chart(points, screen_outliers=True)
    assert len(xmr.points) == len(points)
    assert xmr.signals == ()
    if len(points) == 30:  # constant: mean MR 0, the limits collapse on the mean, nothing signals
        assert xmr.mean_moving_range == 0 and xmr.upper_limit == xmr.lower_limit == 4.0


def test_very_long_series_is_fast() -> None:
    values = [float((k * 7919) % 101) for k in range(3000)]
    started = time.perf_counter()
    for rules in ("ihi", "anhoej"):
        assert len(run_chart(pts(*values), rules=rules).points) == 3000
    assert len(xmr_chart(pts(*values), screen_outliers=True).points) == 3000
    assert time.perf_counter() - started < 2


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        run_chart(pts(1, 2), baseline=0)
    with pytest.raises(ValueError):
        run_chart(pts(1, 2), trend=1)
    with pytest.raises(ValueError):
        xmr_chart(pts(1, 2), shift=0)


# --- Properties -----------------------------------------------------------------------------------

# Whole numbers: adding a constant to them is exact in floating point, so the property is about the
# charts and not about float rounding. Small ranges make ties with the centre line common.
values_st = st.one_of(st.none(), st.integers(-1000, 1000), st.integers(-3, 3))
points_st = st.lists(
    st.builds(
        lambda v, x: Point(None if v is None else float(v), excluded=x),
        values_st,
        st.sampled_from([False, False, False, True]),
    ),
    max_size=60,
)


@st.composite
def xmr_charts(draw: st.DrawFn, length: int) -> Callable[[list[Point]], XmRResult]:
    """An XmR chart with drawn settings, to apply to a series and to its transformed copy alike."""
    return partial(
        xmr_chart,
        baseline=draw(st.none() | st.integers(1, 20)),
        segments=draw(st.lists(st.integers(1, length - 1), max_size=3)) if length > 1 else [],
        screen_outliers=draw(st.booleans()),
        shift=draw(st.integers(6, 8)),
        trend=draw(st.integers(5, 8)),
    )


def _shifted(points: list[Point], by: float) -> list[Point]:
    return [Point(None if p.value is None else p.value + by, p.excluded, p.label) for p in points]


def _negated(points: list[Point]) -> list[Point]:
    return [Point(None if p.value is None else -p.value, p.excluded, p.label) for p in points]


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-9)


def _xmr_lines(chart: XmRResult) -> list[tuple[float | None, ...]]:
    return [
        (s.mean, s.upper_limit, s.lower_limit, s.upper_two_sigma, s.lower_two_sigma, s.mean_moving_range)
        for s in chart.segments
    ]


FLIP = {"up": "down", "down": "up", None: None}
OPPOSITE = {"improvement": "concern", "concern": "improvement", "neutral": "neutral"}


@settings(max_examples=100, deadline=None)
@given(points=points_st, constant=st.integers(-(10**6), 10**6), data=st.data())
def test_adding_a_constant_shifts_lines_and_keeps_signals(
    points: list[Point], constant: int, data: st.DataObject
) -> None:
    chart = data.draw(xmr_charts(len(points)))
    before, after = chart(points), chart(_shifted(points, constant))
    for old, new in zip(_xmr_lines(before), _xmr_lines(after), strict=True):
        assert all(_close(None if o is None else o + constant, n) for o, n in zip(old[:5], new[:5], strict=True))
        assert _close(old[5], new[5])  # the moving ranges do not move
    assert after.signals == before.signals
    for rules in ("ihi", "anhoej"):
        run_before: RunChartResult = run_chart(points, rules=rules)
        run_after = run_chart(_shifted(points, constant), rules=rules)
        assert _close(None if run_before.centre is None else run_before.centre + constant, run_after.centre)
        assert run_after.signals == run_before.signals
        assert run_after.runs == run_before.runs


@settings(max_examples=100, deadline=None)
@given(points=points_st, direction=st.sampled_from(["higher", "lower"]), data=st.data())
def test_negating_mirrors_the_limits_and_flips_improvement_and_concern(
    points: list[Point], direction: Direction, data: st.DataObject
) -> None:
    chart = data.draw(xmr_charts(len(points)))
    before, after = chart(points), chart(_negated(points))
    for old, new in zip(before.segments, after.segments, strict=True):
        assert _close(None if old.mean is None else -old.mean, new.mean)
        assert _close(None if old.upper_limit is None else -old.upper_limit, new.lower_limit)
        assert _close(None if old.lower_two_sigma is None else -old.lower_two_sigma, new.upper_two_sigma)
    pairs: list[tuple[XmRResult | RunChartResult, XmRResult | RunChartResult]] = [
        (before, after),
        (run_chart(points), run_chart(_negated(points))),
        (run_chart(points, rules="anhoej"), run_chart(_negated(points), rules="anhoej")),
    ]
    for chart_before, chart_after in pairs:
        mirrored = {(s.kind, s.indices, FLIP[s.direction]) for s in chart_before.signals}
        assert {(s.kind, s.indices, s.direction) for s in chart_after.signals} == mirrored
        for old_signal in chart_before.signals:
            new_signal = next(
                s for s in chart_after.signals if (s.kind, s.indices) == (old_signal.kind, old_signal.indices)
            )
            assert classify(new_signal, direction) == OPPOSITE[classify(old_signal, direction)]


@settings(max_examples=100, deadline=None)
@given(points=points_st, data=st.data())
def test_signals_only_name_usable_points(points: list[Point], data: st.DataObject) -> None:
    usable = {i for i, p in enumerate(points) if p.value is not None and not p.excluded}
    xmr = data.draw(xmr_charts(len(points)))
    charts: list[XmRResult | RunChartResult] = [xmr(points), run_chart(points), run_chart(points, rules="anhoej")]
    for chart in charts:
        assert len(chart.points) == len(points)
        for signal in chart.signals:
            assert signal.indices and set(signal.indices) <= usable
            assert list(signal.indices) == sorted(set(signal.indices))
