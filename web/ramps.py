"""PDSA ramps and cycle records: a unit's ramp with its measures (chart and data table each) and
every cycle's record, a printable version of the ramp, and one cycle's record; plus the Swedish
words for the PDSA stages, decisions, purposes, ramp statuses and signals that every PDSA page
(also the case and unit pages) uses."""

from __future__ import annotations

from flask import Blueprint, g, render_template
from flask.typing import ResponseReturnValue
from flask_babel import format_decimal
from markupsafe import Markup, escape

from engine.services.chart_data import ChartView, chart_view
from engine.services.pdsa import RampView, cycle_record, ramp_view, today
from web.auth import login_required
from web.db import get_session

bp = Blueprint("ramps", __name__)


@bp.app_template_filter("pdsa_number")
def pdsa_number(value: float | None) -> str:
    """A measured value as the reader's language writes it (decimal comma in Swedish), at most two
    decimals; "–" for none."""
    return "–" if value is None else str(format_decimal(value, format="#,##0.##"))


@bp.app_template_filter("paragraphs")
def paragraphs(text: str | None) -> Markup:
    """Free text as written: blank lines part paragraphs, line breaks stay (escaped first)."""
    blocks = [b.strip() for b in (text or "").replace("\r\n", "\n").split("\n\n") if b.strip()]
    return Markup("").join(Markup("<p>{}</p>").format(Markup("<br>").join(escape(b).split("\n"))) for b in blocks)


def _ramp_with_charts(ramp_id: int) -> tuple[RampView, list[ChartView]]:
    db = get_session()
    ramp = ramp_view(db, g.actor, ramp_id)
    # The ramp's own unit: its measures' series for that unit (the case's series for a case-wide ramp).
    charts = [chart_view(db, g.actor, measure_id, ramp.unit_id) for measure_id in ramp.measure_ids]
    return ramp, charts


@bp.get("/ramper/<int:ramp_id>")
@login_required
def ramp_page(ramp_id: int) -> ResponseReturnValue:
    ramp, charts = _ramp_with_charts(ramp_id)
    return render_template("ramps/ramp.html", ramp=ramp, charts=charts)


@bp.get("/ramper/<int:ramp_id>/utskrift")
@login_required
def ramp_print(ramp_id: int) -> ResponseReturnValue:
    ramp, charts = _ramp_with_charts(ramp_id)
    return render_template("ramps/print.html", ramp=ramp, charts=charts, printed_on=today())


@bp.get("/cykler/<int:cycle_id>")
@login_required
def cycle_page(cycle_id: int) -> ResponseReturnValue:
    db = get_session()
    cycle = cycle_record(db, g.actor, cycle_id)
    ramp = ramp_view(db, g.actor, cycle.ramp_id)
    return render_template("ramps/cycle.html", cycle=cycle, ramp=ramp)
