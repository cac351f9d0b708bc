"""The inbox ("Mina uppgifter") and the task page: fill the form, save a draft, complete, claim,
comment; coordinators reassign and change due dates."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from engine.errors import ValidationError
from engine.services import claim_task, complete_task, lookups, reassign_task, unclaim_task
from engine.services.inbox import DUE_FILTERS, InboxFilters, inbox_steps
from engine.services.inbox import inbox as list_inbox
from engine.services.reminders import set_task_due
from engine.services.task_view import add_comment, save_draft, task_detail
from engine.workdays import STOCKHOLM
from web.auth import login_required, safe_next
from web.db import get_session
from web.forms import apply_action, error_summary, form_actions, parse_form, render_form
from web.params import int_or_none

bp = Blueprint("tasks", __name__)


@bp.get("/uppgifter")
@login_required
def inbox() -> ResponseReturnValue:
    db = get_session()
    due = request.args.get("forfaller", "all")
    filters = InboxFilters(
        pathway_id=int_or_none(request.args.get("vardforlopp")),
        region_id=int_or_none(request.args.get("region")),
        step=request.args.get("steg") or None,
        due=due if due in DUE_FILTERS else "all",
        mine_only=request.args.get("mina") == "1",
    )
    items = list_inbox(db, g.actor, filters)
    return render_template(
        "tasks/inbox.html",
        items=items,
        filters=filters,
        steps=inbox_steps(db, g.actor),
        pathways=lookups.pathways(db),
        regions=lookups.regions(db),
    )


def _render(
    task_id: str, values: dict[str, Any] | None = None, errors: dict[str, list[str]] | None = None
) -> ResponseReturnValue:
    db = get_session()
    detail = task_detail(db, g.actor, task_id)
    shown = values if values is not None else (detail.draft or detail.prefill)
    form_html = render_form(detail.form, shown, errors or {}, ui_schema=detail.ui_form) if detail.form else None
    summary = error_summary(errors or {}, detail.form or {}) if errors else None
    people = lookups.people(db) if detail.can_manage else []
    return render_template("tasks/task.html", task=detail, form_html=form_html, summary=summary, people=people)


@bp.get("/uppgifter/<task_id>")
@login_required
def task_page(task_id: str) -> ResponseReturnValue:
    return _render(task_id)


@bp.post("/uppgifter/<task_id>")
@login_required
def submit(task_id: str) -> ResponseReturnValue:
    db = get_session(write=True)
    detail = task_detail(db, g.actor, task_id)
    schema = detail.form or {"type": "object", "properties": {}}
    data = parse_form(schema, request.form)
    action = form_actions(request.form)
    if action is not None:  # "Lägg till rad" / "Ta bort rad" without JavaScript
        return _render(task_id, apply_action(data, action, schema=schema))
    if request.form.get("action") == "draft":
        save_draft(db, g.actor, task_id, data)
        flash(_("Utkastet är sparat."), "success")
        return redirect(url_for("tasks.task_page", task_id=task_id))
    try:
        complete_task(db, g.actor, task_id, data, expected_version=None)
    except ValidationError as err:
        db.rollback()
        # Shown again with its errors as a normal page: browsers log a 4xx document as an error.
        return _render(task_id, data, err.field_errors or {"": [err.message]})
    flash(_("Uppgiften är klar: %(name)s.", name=detail.name), "success")
    return redirect(url_for("tasks.inbox"))


@bp.post("/uppgifter/<task_id>/ta")
@login_required
def claim(task_id: str) -> ResponseReturnValue:
    claim_task(get_session(write=True), g.actor, task_id)
    flash(_("Du har tagit uppgiften."), "success")
    return redirect(safe_next(request.form.get("next"), url_for("tasks.task_page", task_id=task_id)))


@bp.post("/uppgifter/<task_id>/lamna")
@login_required
def unclaim(task_id: str) -> ResponseReturnValue:
    unclaim_task(get_session(write=True), g.actor, task_id)
    flash(_("Uppgiften är tillbaka hos alla med rollen."), "success")
    return redirect(safe_next(request.form.get("next"), url_for("tasks.task_page", task_id=task_id)))


@bp.post("/uppgifter/<task_id>/tilldela")
@login_required
def reassign(task_id: str) -> ResponseReturnValue:
    user_id = int_or_none(request.form.get("user_id"))
    if user_id is None:
        raise ValidationError(_("Välj en person."), {"user_id": [_("Välj en person.")]})
    reassign_task(get_session(write=True), g.actor, task_id, user_id)
    flash(_("Uppgiften är tilldelad."), "success")
    return redirect(url_for("tasks.task_page", task_id=task_id))


@bp.post("/uppgifter/<task_id>/forfallodatum")
@login_required
def change_due(task_id: str) -> ResponseReturnValue:
    try:
        day = datetime.strptime(request.form.get("due_date", ""), "%Y-%m-%d").date()
    except ValueError:
        raise ValidationError(_("Ange ett datum."), {"due_date": [_("Ange ett datum som ÅÅÅÅ-MM-DD.")]}) from None
    set_task_due(get_session(write=True), g.actor, task_id, datetime.combine(day, time(16, 0), tzinfo=STOCKHOLM))
    flash(_("Förfallodatumet är ändrat."), "success")
    return redirect(url_for("tasks.task_page", task_id=task_id))


@bp.post("/uppgifter/<task_id>/kommentar")
@login_required
def comment(task_id: str) -> ResponseReturnValue:
    db = get_session(write=True)
    detail = task_detail(db, g.actor, task_id)
    add_comment(db, g.actor, detail.case_id, request.form.get("text", ""), task_id)
    flash(_("Kommentaren är sparad."), "success")
    return redirect(url_for("tasks.task_page", task_id=task_id) + "#kommentarer")
