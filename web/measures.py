"""Measures of a case: the list with the form that defines a measure, the measure page with its run
or control chart, the signals in words and the data table, entering one data point, CSV import
(file or pasted text) and export, and the measure's settings.

The chart is drawn in the browser by ``static/js/measure-chart.js`` from the chart's JSON; the page
says everything the chart shows in text and in the table as well (WCAG 1.1.1, 1.4.1)."""

from __future__ import annotations

from typing import Any, Literal

from flask import Blueprint, Response, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import format_decimal, lazy_gettext
from flask_babel import gettext as _

from engine.errors import PermissionDeniedError, ValidationError
from engine.services.chart_data import REGION, ChartView, SignalView, chart_view
from engine.services.measures import (
    MAX_CSV_BYTES,
    MEASURE_FIELDS,
    MeasureDetail,
    create_measure,
    export_data_points_csv,
    import_data_points_csv,
    measure_detail,
    measures_overview,
    save_data_point,
    update_measure,
)
from web.auth import login_required
from web.db import get_session
from web.labels import SIGNAL_KINDS, SIGNALS
from web.params import int_or_none

bp = Blueprint("measures", __name__)

CASE_SCOPE = "arende"
"""The ``enhet`` parameter for the case-level series (data entered without a unit)."""

KINDS = {
    "outcome": lazy_gettext("Resultatmått"),
    "process": lazy_gettext("Processmått"),
    "balancing": lazy_gettext("Balansmått"),
}
DIRECTIONS = {
    "higher": lazy_gettext("Högre värden är bättre"),
    "lower": lazy_gettext("Lägre värden är bättre"),
    "neither": lazy_gettext("Ingen riktning är bättre"),
}
CHART_TYPES = {"run": lazy_gettext("Seriediagram (run chart)"), "xmr": lazy_gettext("Styrdiagram (XmR)")}
RULE_SETS = {
    "ihi": lazy_gettext("IHI: skift, trend och antal serier"),
    "anhoej": lazy_gettext("Anhøj: ovanligt lång serie och för få korsningar"),
}
AGGREGATIONS = {
    "none": lazy_gettext("Läggs inte samman för regionen"),
    "ratio": lazy_gettext("Summan av täljarna delad med summan av nämnarna"),
    "mean": lazy_gettext("Medelvärdet av enheternas värden"),
    "sum": lazy_gettext("Summan av enheternas värden"),
}
LEVELS = {"local": lazy_gettext("Lokal"), "regional": lazy_gettext("Regional"), "national": lazy_gettext("Nationell")}
FREQUENCIES = {
    "week": lazy_gettext("Varje vecka"),
    "month": lazy_gettext("Varje månad"),
    "quarter": lazy_gettext("Varje kvartal"),
    "year": lazy_gettext("Varje år"),
}
DEFINE_FIELDS = ("name", "kind", "definition", "unit_label", "direction", "target", "frequency", "level",
                 "chart_type", "rules", "aggregation")  # fmt: skip
CHECKBOXES = ("screen_outliers",)


def number(value: float | None) -> str:
    """A value as the reader's language writes it (decimal comma in Swedish), at most two decimals."""
    return "–" if value is None else str(format_decimal(value, format="#,##0.##"))


def _input_number(value: float | None) -> str:
    """A value for a form field: every decimal kept, no thousands separator (the import reads it)."""
    if value is None:
        return ""
    return str(int(value)) if value.is_integer() else str(format_decimal(value, format="0.##########"))


def _periods(periods: tuple[Any, ...]) -> str:
    if not periods:
        return ""
    first, last = periods[0].isoformat(), periods[-1].isoformat()
    return first if first == last else f"{first} – {last}"


def signal_detail(signal: SignalView) -> str:
    """What a signal's rule saw, in plain words."""
    n, up = len(signal.periods), signal.direction == "up"
    details = {
        "shift": _("%(n)d punkter i rad över centrallinjen", n=n) if up else _("%(n)d punkter i rad under centrallinjen", n=n),
        "trend": _("%(n)d punkter i rad som stiger", n=n) if up else _("%(n)d punkter i rad som sjunker", n=n),
        "beyond_limit": _("över den övre styrgränsen") if up else _("under den nedre styrgränsen"),
        "two_of_three": _("två av tre punkter i rad bortom den övre 2σ-linjen") if up
        else _("två av tre punkter i rad bortom den nedre 2σ-linjen"),
        "too_many_runs": _("fler serier kring medianen än slumpen brukar ge"),
        "too_few_runs": _("färre serier kring medianen än slumpen brukar ge"),
        "long_run": _("%(n)d punkter i rad på samma sida om medianen", n=n),
        "few_crossings": _("kurvan korsar medianen färre gånger än slumpen brukar ge"),
    }  # fmt: skip
    return details.get(signal.kind, signal.kind)


def signal_sentence(signal: SignalView) -> str:
    """One signal as the page lists it: kind, what was seen, when, and what it means."""
    return _(
        "%(kind)s: %(detail)s (%(periods)s) – %(variation)s.",
        kind=SIGNAL_KINDS.get(signal.kind, signal.kind),
        detail=signal_detail(signal),
        periods=_periods(signal.periods),
        variation=str(SIGNALS.get(signal.variation, signal.variation)).lower(),
    )


def current_sentence(view: ChartView) -> str:
    """The current signal in one sentence."""
    if not any(p.value is not None for p in view.points):
        return _("Inga datapunkter ännu.")
    if view.current is None:
        return _("Ingen signal för den senaste perioden: variationen ser ut som vanlig slumpvariation.")
    return _("Den senaste perioden ingår i en signal: %(variation)s.", variation=str(SIGNALS[view.current]).lower())


def scope_name(view: ChartView) -> str:
    """Whose series the chart shows."""
    if view.scope == "region":
        return _("regionen, enheterna sammanlagda")
    if view.scope == "case":
        return _("hela ärendet (utan enhet)")
    return view.unit_name or ""


def chart_summary(view: ChartView) -> str:
    """The canvas's accessible name: what the chart is and what it shows (the table has the rest)."""
    kind = _("Styrdiagram") if view.chart_type == "xmr" else _("Seriediagram")
    values = [p for p in view.points if p.value is not None]
    if not values:
        return _("%(kind)s för %(name)s, %(scope)s: inga datapunkter ännu.", kind=kind, name=view.name,
                 scope=scope_name(view))  # fmt: skip
    return _(
        "%(kind)s för %(name)s, %(scope)s: %(n)d punkter från %(first)s till %(last)s, %(signals)d signaler. "
        "%(current)s Tabellen under diagrammet visar samma data.",
        kind=kind, name=view.name, scope=scope_name(view), n=len(values), first=values[0].period.isoformat(),
        last=values[-1].period.isoformat(), signals=len(view.signals), current=current_sentence(view),
    )  # fmt: skip


def chart_texts(view: ChartView) -> dict[str, Any]:
    """The words the drawing code puts on the chart, in the reader's language."""
    return {
        "values": _("Värde"),
        "centre": _("Medelvärde") if view.chart_type == "xmr" else _("Median"),
        "upper": _("Övre styrgräns"),
        "lower": _("Nedre styrgräns"),
        "upperTwoSigma": _("Övre 2σ-linje"),
        "lowerTwoSigma": _("Nedre 2σ-linje"),
        "target": _("Mål"),
        "cycle": _("PDSA"),
        "astronomical": _("Astronomisk punkt (markerad av en person)"),
        "excluded": _("Utesluten ur beräkningen"),
        "signal": _("Signal"),
        "variations": {k: str(v).lower() for k, v in SIGNALS.items()},
        "kinds": {k: str(v) for k, v in SIGNAL_KINDS.items()},
        "yAxis": view.unit_label,
    }


def _scope(detail: MeasureDetail, arg: str | None) -> int | str | None:
    if arg == REGION:
        return REGION
    if arg == CASE_SCOPE:
        return None
    unit = int_or_none(arg)
    return unit if unit is not None else detail.default_unit


def _scope_arg(scope: int | str | None) -> str:
    return CASE_SCOPE if scope is None else str(scope)


def _entry_unit(scope_arg: str) -> int | None:
    """The unit a form posted for (None: the case-level series); never the region."""
    if scope_arg == REGION:
        raise ValidationError(
            _("Välj en enhet."), {"": [_("Regionens serie räknas fram ur enheternas; välj en enhet.")]}
        )
    return None if scope_arg == CASE_SCOPE else int_or_none(scope_arg)


def _point_values(view: ChartView, period: str | None) -> dict[str, Any]:
    """The entry form's starting values: the point of ``period`` when asked to change it."""
    point = next((p for p in view.points if period and p.period.isoformat() == period), None)
    if point is None or view.scope == "region":
        return {}
    # Every stored field, so that saving the form unchanged changes nothing.
    return {
        "period": point.period.isoformat(), "value": _input_number(point.value),
        "numerator": _input_number(point.numerator), "denominator": _input_number(point.denominator),
        "annotation": point.annotation, "excluded": point.excluded, "astronomical": point.astronomical,
    }  # fmt: skip


def _render_measure(
    measure_id: int,
    scope_arg: str | None,
    *,
    point_values: dict[str, Any] | None = None,
    point_errors: dict[str, list[str]] | None = None,
    import_text: str = "",
    import_errors: dict[str, list[str]] | None = None,
    import_message: str = "",
) -> str:
    db = get_session()
    detail = measure_detail(db, g.actor, measure_id)
    scope = _scope(detail, scope_arg)
    view = chart_view(db, g.actor, measure_id, scope)
    chart_id = f"chart-data-{measure_id}"
    return render_template(
        "measures/measure.html",
        detail=detail,
        measure=detail.measure,
        view=view,
        scope_arg=_scope_arg(scope),
        chart_id=chart_id,
        chart_data={**view.as_json(), "texts": chart_texts(view)},
        chart_label=chart_summary(view),
        current_text=current_sentence(view),
        signal_sentences=[signal_sentence(s) for s in view.signals],
        scope_label=scope_name(view),
        point_values=point_values if point_values is not None else _point_values(view, request.args.get("andra")),
        point_errors=point_errors or {},
        import_text=import_text,
        import_errors=import_errors or {},
        import_message=import_message,
        **_words(),
    )


def _words() -> dict[str, Any]:
    return {
        "KINDS": KINDS, "DIRECTIONS": DIRECTIONS, "CHART_TYPES": CHART_TYPES, "RULE_SETS": RULE_SETS,
        "AGGREGATIONS": AGGREGATIONS, "LEVELS": LEVELS, "FREQUENCIES": FREQUENCIES,
        "number": number, "CASE_SCOPE": CASE_SCOPE,
    }  # fmt: skip


@bp.route("/arenden/<int:case_id>/matetal", methods=["GET", "POST"])
@login_required
def case_measures(case_id: int) -> ResponseReturnValue:
    db = get_session(write=request.method == "POST")
    values: dict[str, str] = {}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        values = {k: request.form.get(k, "") for k in DEFINE_FIELDS}
        try:
            measure = create_measure(db, g.actor, case_id, **values)
        except ValidationError as err:
            db.rollback()
            errors = err.field_errors or {"": [err.message]}
        else:
            flash(_("Mätetalet %(name)s är tillagt.", name=measure.name), "success")
            return redirect(url_for("measures.measure_page", measure_id=measure.id))
    overview = measures_overview(db, g.actor, case_id)
    return render_template("measures/list.html", overview=overview, values=values, errors=errors, **_words())


@bp.get("/matetal/<int:measure_id>")
@login_required
def measure_page(measure_id: int) -> ResponseReturnValue:
    return _render_measure(measure_id, request.args.get("enhet"))


@bp.post("/matetal/<int:measure_id>/punkter")
@login_required
def save_point(measure_id: int) -> ResponseReturnValue:
    db = get_session(write=True)
    scope_arg = request.form.get("enhet", "")
    values: dict[str, Any] = {k: request.form.get(k, "") for k in ("period", "value", "numerator", "denominator")}
    values["annotation"] = request.form.get("annotation", "")
    values["excluded"] = request.form.get("excluded") == "1"
    values["astronomical"] = request.form.get("astronomical") == "1"
    try:
        point = save_data_point(db, g.actor, measure_id, unit_id=_entry_unit(scope_arg), **values)
    except ValidationError as err:
        db.rollback()
        # Shown again with its errors as a normal page: browsers log a 4xx document as an error.
        # (A post for the region, whose page has no entry form, shows the form of the default unit.)
        shown = None if scope_arg == REGION else scope_arg
        return _render_measure(measure_id, shown, point_values=values, point_errors=err.field_errors)
    flash(_("Datapunkten för %(period)s är sparad.", period=point.period.isoformat()), "success")
    return redirect(url_for("measures.measure_page", measure_id=measure_id, enhet=scope_arg) + "#data")


def _decode(raw: bytes) -> str:
    """A CSV file's text: UTF-8 (with or without a byte-order mark), else Windows-1252, which
    Excel on a Swedish Windows writes when asked for plain "CSV"."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


@bp.post("/matetal/<int:measure_id>/import")
@login_required
def import_csv(measure_id: int) -> ResponseReturnValue:
    db = get_session(write=True)
    scope_arg = request.form.get("enhet", "")
    text = request.form.get("text", "")
    upload = request.files.get("file")
    try:
        if upload is not None and upload.filename:
            raw = upload.read(MAX_CSV_BYTES + 1)
            if len(raw) > MAX_CSV_BYTES:
                raise ValidationError(_("Filen är för stor."), {"file": [_("Högst 2 MB.")]})
            text = _decode(raw)
        if not text.strip():
            raise ValidationError(_("Ingen data."), {"text": [_("Välj en fil eller klistra in data.")]})
        default_unit = None if scope_arg in (REGION, CASE_SCOPE) else int_or_none(scope_arg)
        result = import_data_points_csv(db, g.actor, measure_id, text, unit_id=default_unit)
    except ValidationError as err:
        db.rollback()
        return _render_measure(
            measure_id, scope_arg, import_text=text, import_errors=err.field_errors or {"": [err.message]},
            import_message=err.message,
        )  # fmt: skip
    flash(
        _("Importen är klar: %(created)d nya och %(updated)d ändrade datapunkter.", created=result.created,
          updated=result.updated),
        "success",
    )  # fmt: skip
    return redirect(url_for("measures.measure_page", measure_id=measure_id, enhet=scope_arg) + "#data")


@bp.get("/matetal/<int:measure_id>/data.csv")
@login_required
def export_csv(measure_id: int) -> ResponseReturnValue:
    arg = request.args.get("enhet", "all")
    unit: int | Literal["all"] | None
    if arg in ("", "all"):
        unit = "all"
    elif arg == CASE_SCOPE:
        unit = None
    else:
        unit = int_or_none(arg)
        if unit is None:
            raise ValidationError(_("Okänd enhet."), {"enhet": [_("Okänd enhet.")]})
    text = export_data_points_csv(get_session(), g.actor, measure_id, unit)
    suffix = "" if unit == "all" else f"-{arg}"
    # A byte-order mark, so that Excel reads the file as UTF-8 (å, ä, ö) rather than Windows-1252.
    return Response(
        "\ufeff" + text,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="matetal-{measure_id}{suffix}.csv"'},
    )


def _settings_values(detail: MeasureDetail) -> dict[str, Any]:
    m = detail.measure
    values: dict[str, Any] = {k: getattr(m, k) for k in MEASURE_FIELDS}
    values["target"] = _input_number(m.target)
    values["recalculations"] = "\n".join(str(d) for d in (m.recalculations or []))
    for key in ("baseline_points", "shift_points", "trend_points"):
        values[key] = "" if values[key] is None else str(values[key])
    return values


@bp.route("/matetal/<int:measure_id>/installningar", methods=["GET", "POST"])
@login_required
def settings(measure_id: int) -> ResponseReturnValue:
    db = get_session(write=request.method == "POST")
    detail = measure_detail(db, g.actor, measure_id)
    if not detail.can_manage:
        raise PermissionDeniedError(_("Bara ärendets koordinator kan ändra mätetalet."))
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        fields: dict[str, Any] = {k: request.form.get(k, "") for k in MEASURE_FIELDS if k not in CHECKBOXES}
        fields.update({k: request.form.get(k) == "1" for k in CHECKBOXES})
        try:
            update_measure(db, g.actor, measure_id, **fields)
        except ValidationError as err:
            db.rollback()
            errors = err.field_errors or {"": [err.message]}
            values = fields
        else:
            flash(_("Inställningarna är sparade."), "success")
            return redirect(url_for("measures.measure_page", measure_id=measure_id))
    else:
        values = _settings_values(detail)
    return render_template("measures/settings.html", detail=detail, measure=detail.measure, values=values,
                           errors=errors, **_words())  # fmt: skip
