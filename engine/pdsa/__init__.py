"""PDSA measures: run charts and XmR control charts as pure, tested functions.

The rules and their published sources are in DOMAIN.md ("Measures and charts") and in the module
docstrings of :mod:`engine.pdsa.charts_run` and :mod:`engine.pdsa.charts_xmr`. Nothing here touches
the database or the web layer.
"""

from engine.pdsa.charts import Direction, Point, Side, Signal, SignalKind, Variation, classify
from engine.pdsa.charts_run import (
    IHI_RUNS_TABLE,
    RuleSet,
    RunChartResult,
    RunPoint,
    RunsAnalysis,
    anhoej_crossings_limit,
    anhoej_longest_run_limit,
    run_chart,
)
from engine.pdsa.charts_xmr import XmRPoint, XmRResult, XmRSegment, xmr_chart

__all__ = [
    "IHI_RUNS_TABLE",
    "Direction",
    "Point",
    "RuleSet",
    "RunChartResult",
    "RunPoint",
    "RunsAnalysis",
    "Side",
    "Signal",
    "SignalKind",
    "Variation",
    "XmRPoint",
    "XmRResult",
    "XmRSegment",
    "anhoej_crossings_limit",
    "anhoej_longest_run_limit",
    "classify",
    "run_chart",
    "xmr_chart",
]
