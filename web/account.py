"""The person's own settings: the private calendar feed (create a link, revoke all), personal
access tokens for the API (create with a name and a validity, shown once; list; revoke) and the
password."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from engine.errors import ValidationError
from engine.services.calendar_feed import create_calendar_token, revoke_calendar_tokens
from engine.services.tokens import MAX_DAYS, create_token, list_tokens, revoke_token
from engine.services.users import set_password
from web.auth import login_required
from web.db import get_session

bp = Blueprint("account", __name__)


TOKEN_DAYS = (30, 90, 180, 365)
"""The validity choices offered on the page (the API and the command take any 1-366 days)."""


def _page(feed_url: str | None = None, errors: dict[str, list[str]] | None = None, **context: object) -> str:
    context.setdefault("token_errors", {})
    context.setdefault("new_token", None)
    context.setdefault("token_form", {"name": "", "days": "90"})
    return render_template(
        "account.html", feed_url=feed_url, errors=errors or {}, tokens=list_tokens(get_session(), g.actor),
        token_days=TOKEN_DAYS, **context,
    )  # fmt: skip


@bp.get("/konto")
@login_required
def account_page() -> ResponseReturnValue:
    return _page()


@bp.post("/konto/api-nycklar")
@login_required
def create_api_token() -> ResponseReturnValue:
    db = get_session(write=True)
    name = request.form.get("name", "")
    days_text = request.form.get("days", "")
    days = int(days_text) if days_text.isdigit() and len(days_text) <= 4 else 0
    try:
        if not 1 <= days <= MAX_DAYS:
            raise ValidationError(_("Nyckeln kunde inte skapas."), {"days": [_("Välj en giltighetstid.")]})
        info, secret = create_token(db, g.actor, name, days)
    except ValidationError as err:
        db.rollback()
        return _page(token_errors=err.field_errors, token_form={"name": name, "days": days_text}), 422
    # Shown once: only a hash of the token is stored. The page answers the POST directly (no
    # redirect), so the secret never lands in a URL, a flash message or the browser history.
    return _page(new_token={"name": info.name, "secret": secret, "expires_at": info.expires_at})


@bp.post("/konto/api-nycklar/<int(max=2147483647):token_id>/aterkalla")
@login_required
def revoke_api_token(token_id: int) -> ResponseReturnValue:
    info = revoke_token(get_session(write=True), g.actor, token_id)
    flash(_("API-nyckeln %(name)s är återkallad.", name=info.name), "success")
    return redirect(url_for("account.account_page") + "#api-tokens-heading")


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
    return _page(feed_url)


@bp.post("/konto/losenord")
@login_required
def password() -> ResponseReturnValue:
    db = get_session(write=True)
    if request.form.get("password") != request.form.get("password_again"):
        return _page(errors={"password_again": [_("Lösenorden är inte lika.")]})
    try:
        set_password(db, g.actor, g.actor.username, request.form.get("password", ""))
    except ValidationError as err:
        db.rollback()
        return _page(errors=err.field_errors)
    flash(_("Lösenordet är bytt."), "success")
    return redirect(url_for("account.account_page"))
