"""Administration: user accounts, what the scheduler has coming up, and e-mails that could not be
delivered."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from engine.errors import PermissionDeniedError, ValidationError
from engine.services.auth import locked_accounts, unlock_account
from engine.services.reminders import failed_deliveries, upcoming
from engine.services.users import create_user, list_users, set_password
from web.auth import coordinator_required, login_required
from web.db import get_session

bp = Blueprint("admin", __name__)


def _admin() -> None:
    if not g.actor.is_admin:
        raise PermissionDeniedError(_("Bara administratörer har tillgång till sidan."))


@bp.route("/admin/anvandare", methods=["GET", "POST"])
@login_required
def users() -> ResponseReturnValue:
    _admin()
    errors: dict[str, list[str]] = {}
    values = request.form if request.method == "POST" else {}
    if request.method == "POST":
        db = get_session(write=True)
        try:
            if request.form.get("action") == "password":
                set_password(db, g.actor, request.form.get("username", ""), request.form.get("password", ""))
                flash(_("Lösenordet är ändrat."), "success")
            elif request.form.get("action") == "unlock":
                name = request.form.get("username", "")
                if unlock_account(db, g.actor, name):
                    flash(_("Kontot %(name)s är upplåst.", name=name), "success")
                else:
                    flash(_("Kontot %(name)s var inte låst.", name=name), "info")
            else:
                created = create_user(
                    db,
                    g.actor,
                    username=request.form.get("username", ""),
                    display_name=request.form.get("display_name", ""),
                    email=request.form.get("email", ""),
                    system_role=request.form.get("system_role", "member"),
                    password=request.form.get("password") or None,
                )
                flash(_("Användaren %(name)s är skapad.", name=created.username), "success")
            return redirect(url_for("admin.users"))
        except ValidationError as err:
            db.rollback()
            errors = err.field_errors
    # A form shown again with its errors is a normal page (200): browsers log 4xx documents as errors.
    db = get_session()
    return render_template(
        "admin/users.html", users=list_users(db), locked=locked_accounts(db), errors=errors, values=values
    )


@bp.get("/planerat")
@coordinator_required
def planned() -> ResponseReturnValue:
    db = get_session()
    failed = failed_deliveries(db, g.actor) if g.actor.is_admin else []
    return render_template("admin/planned.html", items=upcoming(db, g.actor), failed=failed)
