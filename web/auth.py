"""Signing in and out, the current person (``g.actor``), the language switch, and the
``login_required`` / ``coordinator_required`` guards."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Blueprint, Flask, flash, g, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from engine.errors import NotFoundError, PermissionDeniedError, TooManyAttemptsError
from engine.services import actor_for_user
from engine.services.auth import sign_in
from web import LANGUAGES
from web.db import get_session

bp = Blueprint("auth", __name__)
F = TypeVar("F", bound=Callable[..., Any])


def _load_actor() -> None:
    g.actor = None
    user_id = session.get("user_id")
    if user_id is None:
        return
    try:
        g.actor = actor_for_user(get_session(), int(user_id))
    except NotFoundError:
        session.clear()


def login_required(view: F) -> F:
    """Redirect to the sign-in page (and back afterwards) when nobody is signed in."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if g.get("actor") is None:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def coordinator_required(view: F) -> F:
    """Only coordinators and admins."""

    @wraps(view)
    @login_required
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not g.actor.is_coordinator:
            raise PermissionDeniedError(_("Bara koordinatorer och administratörer har tillgång till sidan."))
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def safe_next(target: str | None, fallback: str | None = None) -> str:
    """Only local paths: never redirect a person to another site."""
    fallback = fallback or url_for("tasks.inbox")
    if not target:
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return fallback
    return target


@bp.route("/logga-in", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    error = None
    username = ""
    if request.method == "POST":
        username = request.form.get("username", "")
        db = get_session(write=True)
        try:
            actor = sign_in(db, username, request.form.get("password", ""), request.remote_addr or "")
        except (PermissionDeniedError, TooManyAttemptsError) as err:
            db.commit()  # the failed attempt is recorded: rate limiting depends on it
            error = err.message if isinstance(err, TooManyAttemptsError) else _("Fel användarnamn eller lösenord.")
            status = 429 if isinstance(err, TooManyAttemptsError) else 401
            return render_template("auth/login.html", error=error, username=username), status
        lang = session.get("lang")
        session.clear()  # a new session on sign-in (no fixation); the chosen language stays
        if lang:
            session["lang"] = lang
        session["user_id"] = actor.user_id
        session.permanent = True
        return redirect(safe_next(request.args.get("next")))
    return render_template("auth/login.html", error=error, username=username)


@bp.post("/logga-ut")
def logout() -> ResponseReturnValue:
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    flash(_("Du är utloggad."), "info")
    return redirect(url_for("auth.login"))


@bp.post("/sprak")
def language() -> ResponseReturnValue:
    chosen = request.form.get("lang", "sv")
    session["lang"] = chosen if chosen in LANGUAGES else "sv"
    return redirect(safe_next(request.form.get("next")))


def init_app(app: Flask) -> None:
    """Load the signed-in person before every request."""
    app.before_request(_load_actor)
