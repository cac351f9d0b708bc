"""What the run chart and the XmR chart share: the input point, the signal, and its classification.

Both charts are pure functions of a sequence of :class:`Point`. A point whose value is missing
(``None``, or not a finite number) or that a person has excluded stays in the output, so every
index lines up with the input, but takes no part in any computation: it is neither a data point of
a run, a trend, a moving range nor a centre line. Such points are *unusable*; all others *usable*.

Arithmetic is exact: every value is turned into a :class:`fractions.Fraction` (a float converts
exactly) and the centre lines, moving ranges and limits are rationals. So "on the median", "on the
mean" and "beyond the limit" are decided without rounding error, and shifting or mirroring the data
shifts or mirrors every line exactly, leaving every signal as it was. Results are handed out as
floats. The run-chart rules live in :mod:`engine.pdsa.charts_run`, the XmR rules in
:mod:`engine.pdsa.charts_xmr`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

Direction = Literal["higher", "lower", "neither"]
"""A measure's improvement direction: which way is better."""

Side = Literal["up", "down"]
"""Where a signal points: above / increasing (``up``) or below / decreasing (``down``)."""

Variation = Literal["improvement", "concern", "neutral"]

SignalKind = Literal[
    # run chart (IHI)
    "shift",
    "trend",
    "too_many_runs",
    "too_few_runs",
    # run chart (Anhøj)
    "long_run",
    "few_crossings",
    # XmR chart (also "shift" and "trend")
    "beyond_limit",
    "two_of_three",
]


@dataclass(frozen=True)
class Point:
    """One data point of a measure, in time order.

    ``value`` is ``None`` when nothing was measured; ``excluded`` is a person's decision to leave
    the point out of the analysis (it is still drawn). ``label`` is the period, e.g. ``"2025-03"``.
    """

    value: float | None
    excluded: bool = False
    label: str = ""


@dataclass(frozen=True)
class Signal:
    """A non-random pattern found by one rule.

    ``indices`` are input indices of usable points only, in increasing order. ``direction`` is
    ``up`` for a pattern above the centre line or rising, ``down`` for one below or falling, and
    ``None`` when the pattern has no side (too many or too few runs, too few crossings).
    ``variation`` is :func:`classify` applied with the improvement direction the chart was drawn
    with.
    """

    kind: SignalKind
    indices: tuple[int, ...]
    direction: Side | None
    variation: Variation = "neutral"


def classify(signal: Signal, direction: Direction) -> Variation:
    """Whether a signal is an improvement, a concern or neutral, given the measure's direction.

    A pattern upwards is an improvement when higher is better and a concern when lower is better;
    a pattern downwards the reverse. A measure without a direction (``neither``) and a pattern
    without a side are always neutral (NHS England, *Making Data Count*: special cause variation is
    coloured by the improvement direction, grey when there is none).
    """
    if signal.direction is None or direction == "neither":
        return "neutral"
    good: Side = "up" if direction == "higher" else "down"
    return "improvement" if signal.direction == good else "concern"


def _with_variation(signals: list[Signal], direction: Direction) -> tuple[Signal, ...]:
    """The signals in a stable order (first index, then kind), each with its variation set."""
    ordered = sorted(signals, key=lambda s: (s.indices[0] if s.indices else -1, s.kind, s.indices))
    return tuple(
        Signal(kind=s.kind, indices=s.indices, direction=s.direction, variation=classify(s, direction)) for s in ordered
    )


def _usable(point: Point) -> Fraction | None:
    """The point's value as an exact rational, or ``None`` when the point is unusable."""
    if point.excluded or point.value is None:
        return None
    value = float(point.value)
    if not math.isfinite(value):
        return None
    return Fraction(value)


def _usable_values(points: Sequence[Point]) -> list[tuple[int, Fraction]]:
    """(input index, exact value) of every usable point, in input order."""
    found: list[tuple[int, Fraction]] = []
    for i, p in enumerate(points):
        value = _usable(p)
        if value is not None:
            found.append((i, value))
    return found


def _float(value: Fraction | None) -> float | None:
    return None if value is None else float(value)


def _check_positive(name: str, value: int | None, minimum: int = 1) -> None:
    if value is not None and value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")


def _monotone_runs(values: Sequence[Fraction]) -> list[tuple[int, int, Side]]:
    """Maximal strictly rising or falling stretches, as (first position, last position, side).

    Equal neighbours end a stretch. Stretches of one step are included; the caller filters by
    length. Neighbouring stretches share their turning point.
    """
    runs: list[tuple[int, int, Side]] = []
    start = 0
    current: Side | None = None
    for k in range(1, len(values)):
        step: Side | None = "up" if values[k] > values[k - 1] else "down" if values[k] < values[k - 1] else None
        if step is not None and step == current:
            continue
        if current is not None:
            runs.append((start, k - 1, current))
        current = step
        start = k - 1
    if current is not None:
        runs.append((start, len(values) - 1, current))
    return runs
