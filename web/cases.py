"""Case pages: the diagram with where the case stands, timeline, participants, units; coordinators
suspend, resume, cancel, add people and start new introductions."""

from __future__ import annotations

from flask import Blueprint, Response, flash, g, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from engine.errors import ValidationError
from engine.services import ParticipantSpec, cancel_case, lookups, resume_case, send_signal, start_case, suspend_case
from engine.services.case_export import export_case
from engine.services.case_view import (
    add_participant,
    case_detail,
    case_diagram,
    measure_signals,
    remove_participant,
    unit_detail,
)
from engine.services.chart_data import case_measure_status
from engine.services.pdsa import case_cycles
from engine.services.task_view import add_comment
from web.auth import coordinator_required, login_required
from web.db import get_session
from web.params import int_or_none

bp = Blueprint("cases", __name__)


@bp.get("/arenden/<int:case_id>")
@login_required
def case_page(case_id: int) -> ResponseReturnValue:
    db = get_session()
    detail = case_detail(db, g.actor, case_id)
    people = lookups.people(db) if detail.can_manage else []
    roles = lookups.roles(db) if detail.can_manage else []
    return render_template(
        "cases/case.html",
        case=detail,
        people=people,
        roles=roles,
        cycles=case_cycles(db, g.actor, case_id),
        signals=measure_signals(db, g.actor, case_id),
    )


@bp.get("/arenden/<int:case_id>/enheter/<int:unit_id>")
@login_required
def unit_page(case_id: int, unit_id: int) -> ResponseReturnValue:
    db = get_session()
    unit = unit_detail(db, g.actor, case_id, unit_id)
    return render_template("cases/unit.html", unit=unit, measures=case_measure_status(db, g.actor, case_id, unit_id))


@bp.get("/arenden/<int:case_id>/diagram")
@login_required
def diagram(case_id: int) -> ResponseReturnValue:
    state = case_diagram(get_session(), g.actor, case_id)
    return jsonify({"xml": state.xml, "current": state.current, "completed": state.completed})


@bp.get("/arenden/<int:case_id>/export.zip")
@login_required
def export(case_id: int) -> ResponseReturnValue:
    """The whole case as a zip (its coordinator or an admin); the export itself is audited, hence
    a write transaction for a GET."""
    exported = export_case(get_session(write=True), g.actor, case_id)
    response = Response(exported.content, mimetype="application/zip")
    response.headers["Content-Disposition"] = f'attachment; filename="{exported.filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/arenden/<int:case_id>/status")
@login_required
def change_status(case_id: int) -> ResponseReturnValue:
    db = get_session(write=True)
    action = request.form.get("action")
    reason = request.form.get("reason", "")
    if action == "suspend":
        suspend_case(db, g.actor, case_id, reason)
        flash(_("Ärendet är pausat."), "success")
    elif action == "resume":
        resume_case(db, g.actor, case_id, reason)
        flash(_("Ärendet pågår igen."), "success")
    elif action == "cancel":
        if request.form.get("confirm") != "ja":
            raise ValidationError(
                _("Bekräfta att ärendet ska avbrytas."), {"confirm": [_("Kryssa i rutan för att bekräfta.")]}
            )
        cancel_case(db, g.actor, case_id, reason)
        flash(_("Ärendet är avbrutet."), "success")
    else:
        raise ValidationError(_("Okänd åtgärd."), {"action": [_("Okänd åtgärd.")]})
    return redirect(url_for("cases.case_page", case_id=case_id))


@bp.post("/arenden/<int:case_id>/signal")
@login_required
def signal(case_id: int) -> ResponseReturnValue:
    name = request.form.get("name", "")
    if send_signal(get_session(write=True), g.actor, case_id, name):
        flash(_("Händelsen är registrerad."), "success")
    else:
        flash(_("Ärendet väntade inte på den händelsen."), "info")
    return redirect(url_for("cases.case_page", case_id=case_id))


@bp.post("/arenden/<int:case_id>/deltagare")
@login_required
def participants(case_id: int) -> ResponseReturnValue:
    db = get_session(write=True)
    if request.form.get("remove"):
        remove_participant(db, g.actor, case_id, int_or_none(request.form.get("remove")) or 0)
        flash(_("Deltagaren är borttagen."), "success")
    else:
        user_id = int_or_none(request.form.get("user_id"))
        if user_id is None:
            raise ValidationError(_("Välj en person."), {"user_id": [_("Välj en person.")]})
        add_participant(
            db, g.actor, case_id, user_id, request.form.get("role", ""), int_or_none(request.form.get("unit_id"))
        )
        flash(_("Deltagaren är tillagd."), "success")
    return redirect(url_for("cases.case_page", case_id=case_id) + "#deltagare")


@bp.post("/arenden/<int:case_id>/kommentar")
@login_required
def comment(case_id: int) -> ResponseReturnValue:
    add_comment(get_session(write=True), g.actor, case_id, request.form.get("text", ""))
    flash(_("Kommentaren är sparad."), "success")
    return redirect(url_for("cases.case_page", case_id=case_id) + "#historik")


def _start_options() -> dict[str, object]:
    db = get_session()
    return {
        "processes": lookups.processes(db),
        "pathways": lookups.pathways(db),
        "regions": lookups.regions(db),
        "units": lookups.units(db),
    }


@bp.route("/arenden/nytt", methods=["GET", "POST"])
@coordinator_required
def new_case() -> ResponseReturnValue:
    values = request.form if request.method == "POST" else {}
    if request.method == "POST":
        db = get_session(write=True)
        try:
            info = start_case(
                db,
                g.actor,
                process_id=request.form.get("process_id", ""),
                title=request.form.get("title", ""),
                pathway_id=int_or_none(request.form.get("pathway_id")),
                region_id=int_or_none(request.form.get("region_id")),
                unit_ids=[u for u in (int_or_none(v) for v in request.form.getlist("unit_ids")) if u is not None],
                participants=[ParticipantSpec(g.actor.user_id, "koordinator")] if g.actor.user_id else [],
                cycle_duration=request.form.get("cycle_duration") or "P3M",
            )
        except ValidationError as err:
            db.rollback()
            return render_template("cases/new.html", errors=err.field_errors, values=values, **_start_options())
        flash(_("Införandet är startat. Lägg till deltagarna i deras roller."), "success")
        return redirect(url_for("cases.case_page", case_id=info.id) + "#deltagare")
    return render_template("cases/new.html", errors={}, values=values, **_start_options())
