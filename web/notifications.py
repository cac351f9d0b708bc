"""The notifications page (in-app reminders and escalations)."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from engine.services.notifications import list_notifications, mark_read
from web.auth import login_required
from web.db import get_session

bp = Blueprint("notifications", __name__)


@bp.get("/aviseringar")
@login_required
def notifications_page() -> ResponseReturnValue:
    return render_template("notifications/list.html", items=list_notifications(get_session(), g.actor))


@bp.post("/aviseringar/last")
@login_required
def read() -> ResponseReturnValue:
    raw = request.form.get("id")
    count = mark_read(get_session(write=True), g.actor, int(raw) if raw and raw.isdigit() else None)
    flash(_("%(count)d aviseringar markerade som lästa.", count=count), "success")
    return redirect(url_for("notifications.notifications_page"))
