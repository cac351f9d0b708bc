"""PDSA ramps and cycle records: a unit's ramp with its measures (chart and data table each) and
every cycle's record, a printable version of the ramp, and one cycle's record; plus the Swedish
words for the PDSA stages, decisions, purposes, ramp statuses and signals that every PDSA page
(also the case and unit pages) uses."""

from __future__ import annotations

from flask import Blueprint, g, render_template
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from flask_babel import format_decimal, lazy_gettext
from markupsafe import Markup, escape

from engine.services.chart_data import ChartView, chart_view
from engine.services.pdsa import RampView, cycle_record, ramp_view, today
from web.auth import login_required
from web.db import get_session

bp = Blueprint("ramps", __name__)

PDSA_STAGES = {
    "plan": lazy_gettext("Planera"),
    "do": lazy_gettext("Göra"),
    "study": lazy_gettext("Studera"),
    "act": lazy_gettext("Agera"),
    "done": lazy_gettext("Avslutad"),
}
"""A cycle's ``stage`` is the step it waits for next; ``done`` when the Act is taken."""
ACT_DECISIONS = {"adopt": lazy_gettext("Införa"), "adapt": lazy_gettext("Anpassa"), "abandon": lazy_gettext("Överge")}
PURPOSES = {
    "collect_information": lazy_gettext("Samla information"),
    "develop": lazy_gettext("Utveckla en förändring"),
    "test": lazy_gettext("Testa en förändring"),
    "implement": lazy_gettext("Införa en förändring"),
}
RAMP_STATUSES = {
    "active": lazy_gettext("Pågår"),
    "adopted": lazy_gettext("Införd"),
    "abandoned": lazy_gettext("Övergiven"),
}
SIGNALS = {
    "improvement": lazy_gettext("Förbättring"),
    "concern": lazy_gettext("Försämring"),
    "neutral": lazy_gettext("Neutral"),
}
"""A measure's signal in words (a colour is never the only cue); no signal is "Ingen signal"."""
SIGNAL_KINDS = {
    "shift": lazy_gettext("skift"),
    "trend": lazy_gettext("trend"),
    "too_few_runs": lazy_gettext("för få serier"),
    "too_many_runs": lazy_gettext("för många serier"),
    "long_run": lazy_gettext("ovanligt lång serie"),
    "few_crossings": lazy_gettext("för få korsningar av medianen"),
    "beyond_limit": lazy_gettext("utanför styrgränsen"),
    "two_of_three": lazy_gettext("två av tre nära styrgränsen"),
}


@bp.record_once
def _template_globals(state: BlueprintSetupState) -> None:
    state.app.jinja_env.globals.update(
        PDSA_STAGES=PDSA_STAGES,
        ACT_DECISIONS=ACT_DECISIONS,
        PURPOSES=PURPOSES,
        RAMP_STATUSES=RAMP_STATUSES,
        SIGNALS=SIGNALS,
        SIGNAL_KINDS=SIGNAL_KINDS,
    )


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
