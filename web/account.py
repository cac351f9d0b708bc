"""The person's own settings: the private calendar feed (create a link, revoke all) and the
password."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from engine.errors import ValidationError
from engine.services.calendar_feed import create_calendar_token, revoke_calendar_tokens
from engine.services.users import set_password
from web.auth import login_required
from web.db import get_session

bp = Blueprint("account", __name__)


@bp.get("/konto")
@login_required
def account_page() -> ResponseReturnValue:
    return render_template("account.html", feed_url=None, errors={})


@bp.post("/konto/kalender")
@login_required
def calendar_link() -> ResponseReturnValue:
    db = get_session(write=True)
    if request.form.get("action") == "revoke":
        count = revoke_calendar_tokens(db, g.actor)
        flash(_("%(count)d kalenderlänkar är spärrade.", count=count), "success")
        return redirect(url_for("account.account_page"))
    token = create_calendar_token(db, g.actor)
    feed_url = f"{current_app.config['BASE_URL'].rstrip('/')}/kalender/{token}.ics"
    # Shown once: only a hash of the token is stored.
    return render_template("account.html", feed_url=feed_url, errors={})


@bp.post("/konto/losenord")
@login_required
def password() -> ResponseReturnValue:
    db = get_session(write=True)
    if request.form.get("password") != request.form.get("password_again"):
        return render_template(
            "account.html", feed_url=None, errors={"password_again": [_("Lösenorden är inte lika.")]}
        )
    try:
        set_password(db, g.actor, g.actor.username, request.form.get("password", ""))
    except ValidationError as err:
        db.rollback()
        return render_template("account.html", feed_url=None, errors=err.field_errors)
    flash(_("Lösenordet är bytt."), "success")
    return redirect(url_for("account.account_page"))
