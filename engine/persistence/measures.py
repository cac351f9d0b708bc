"""Measures (mätetal/indikatorer) of a case and their data points per unit and period."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.clock import utcnow
from engine.persistence.base import Base, JSONText

MEASURE_KINDS = ("outcome", "process", "balancing")
DIRECTIONS = ("higher", "lower", "neither")
CHART_TYPES = ("run", "xmr")
RULE_SETS = ("ihi", "anhoej")
AGGREGATIONS = ("none", "ratio", "mean", "sum")
"""How a measure's unit series add up to the region's: not at all, as sum(numerator) / sum(denominator),
as the mean of the units' values, or as their sum."""


class Measure(Base):
    """What a case measures, how, and which way is better (DOMAIN.md "Measures and charts")."""

    __tablename__ = "measures"
    __table_args__ = (UniqueConstraint("case_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), default="outcome")
    definition: Mapped[str] = mapped_column(Text, default="")
    unit_label: Mapped[str] = mapped_column(String(60), default="")
    direction: Mapped[str] = mapped_column(String(20), default="neither")
    target: Mapped[float | None] = mapped_column(default=None)
    frequency: Mapped[str] = mapped_column(String(20), default="month")
    level: Mapped[str] = mapped_column(String(20), default="local")
    chart_type: Mapped[str] = mapped_column(String(10), default="run")
    rules: Mapped[str] = mapped_column(String(10), default="ihi")
    baseline_points: Mapped[int | None] = mapped_column(default=None)
    # Rule thresholds; None takes the rule set's default (IHI 6/5, Making Data Count 7/7).
    shift_points: Mapped[int | None] = mapped_column(default=None)
    trend_points: Mapped[int | None] = mapped_column(default=None)
    screen_outliers: Mapped[bool] = mapped_column(default=False)
    # Periods (ISO dates) where the centre line and limits are recalculated: a new segment.
    recalculations: Mapped[list[Any]] = mapped_column(JSONText, default=list)
    aggregation: Mapped[str] = mapped_column(String(10), default="none")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DataPoint(Base):
    """One value of a measure for one unit (None: the case as a whole) and period."""

    __tablename__ = "data_points"
    __table_args__ = (
        UniqueConstraint("measure_id", "unit_id", "period"),
        Index("ix_data_points_measure_unit_period", "measure_id", "unit_id", "period"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    measure_id: Mapped[int] = mapped_column(ForeignKey("measures.id"))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), default=None)
    period: Mapped[date] = mapped_column()
    value: Mapped[float] = mapped_column()
    numerator: Mapped[float | None] = mapped_column(default=None)
    denominator: Mapped[float | None] = mapped_column(default=None)
    annotation: Mapped[str] = mapped_column(String(500), default="")
    excluded: Mapped[bool] = mapped_column(default=False)
    # A person's mark: this point is astronomical (the rules never propose one; Perla et al. 2011).
    astronomical: Mapped[bool] = mapped_column(default=False)
    cycle_id: Mapped[int | None] = mapped_column(ForeignKey("pdsa_cycles.id"), default=None)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
