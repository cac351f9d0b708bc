"""Signing in and out, the current person (``g.actor``), the language switch, and the
``login_required`` / ``coordinator_required`` guards.

A signed-in session ends after ``INFORA_SESSION_IDLE_MINUTES`` without a request (default 60) and,
however busy, ``PERMANENT_SESSION_LIFETIME`` after signing in (8 h): both are checked here on the
server, from times kept in the signed cookie, because the cookie's own expiry is renewed on every
response. Failed passwords lock the account (``INFORA_LOCKOUT_ATTEMPTS`` failures within
``INFORA_LOCKOUT_WINDOW_MINUTES`` lock it for ``INFORA_LOCKOUT_MINUTES``; 5, 15, 15)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Blueprint, Flask, current_app, flash, g, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import format_datetime
from flask_babel import gettext as _

from engine.clock import utcnow
from engine.config import Settings
from engine.errors import AccountLockedError, NotFoundError, PermissionDeniedError, TooManyAttemptsError
from engine.services import actor_for_user
from engine.services.auth import LockoutPolicy, sign_in
from web import LANGUAGES
from web.db import get_session

bp = Blueprint("auth", __name__)
F = TypeVar("F", bound=Callable[..., Any])


def _expired() -> bool:
    """Whether the signed-in session has been idle too long or lasted too long; notes the time of
    this request (at most once a minute: not a new cookie on every request)."""
    now = int(utcnow().timestamp())
    idle = int(current_app.config["SESSION_IDLE_MINUTES"]) * 60
    lifetime = current_app.permanent_session_lifetime.total_seconds()
    seen, started = session.get("seen_at"), session.get("signed_in_at")
    if isinstance(seen, int) and idle > 0 and now - seen > idle:
        return True
    # A session without its sign-in time (made before the limit existed) counts as too old: the
    # cookie's expiry is renewed on every response, so nothing else would ever end it.
    if not isinstance(started, int) or now - started > lifetime:
        return True
    if not isinstance(seen, int) or now - seen >= 60:
        session["seen_at"] = now
    return False


def _end_session() -> None:
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang


def start_session(user_id: int | None, method: str = "password") -> None:
    """A fresh session for a person who just signed in (no fixation: the old one's contents go,
    the chosen language stays)."""
    _end_session()
    now = int(utcnow().timestamp())
    session["user_id"] = user_id
    session["auth_method"] = method
    session["signed_in_at"] = session["seen_at"] = now
    session.permanent = True


def _load_actor() -> None:
    g.actor = None
    user_id = session.get("user_id")
    if user_id is None:
        return
    if _expired():
        _end_session()
        flash(_("Du har loggats ut eftersom du inte har använt Infora på ett tag. Logga in igen."), "info")
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
        policy: LockoutPolicy = current_app.config["INFORA_LOCKOUT_POLICY"]
        try:
            actor = sign_in(db, username, request.form.get("password", ""), request.remote_addr or "", policy)
        except (PermissionDeniedError, TooManyAttemptsError) as err:
            db.commit()  # the failed attempt is recorded: the lock-out depends on it
            if isinstance(err, AccountLockedError):
                error = _(
                    "Kontot är låst efter för många misslyckade inloggningar. Försök igen efter "
                    "%(time)s eller be en administratör låsa upp det.",
                    time=format_datetime(err.locked_until, "HH:mm"),
                )
            elif isinstance(err, TooManyAttemptsError):
                error = _("För många misslyckade inloggningar från din adress. Vänta en kvart och försök igen.")
            else:
                error = _("Fel användarnamn eller lösenord.")
            status = 429 if isinstance(err, TooManyAttemptsError) else 401
            return render_template("auth/login.html", error=error, username=username), status
        start_session(actor.user_id)
        return redirect(safe_next(request.args.get("next")))
    return render_template("auth/login.html", error=error, username=username)


@bp.post("/logga-ut")
def logout() -> ResponseReturnValue:
    _end_session()
    flash(_("Du är utloggad."), "info")
    return redirect(url_for("auth.login"))


@bp.post("/sprak")
def language() -> ResponseReturnValue:
    chosen = request.form.get("lang", "sv")
    session["lang"] = chosen if chosen in LANGUAGES else "sv"
    return redirect(safe_next(request.form.get("next")))


def init_app(app: Flask) -> None:
    """Load the signed-in person before every request; take the session and lock-out limits from
    the checked settings (``engine.config``)."""
    settings: Settings = app.extensions["infora.settings"]
    app.config["SESSION_IDLE_MINUTES"] = settings.session_idle_minutes
    app.config["INFORA_LOCKOUT_POLICY"] = LockoutPolicy(
        max_failures=settings.lockout_attempts,
        window=timedelta(minutes=settings.lockout_window_minutes),
        lock_period=timedelta(minutes=settings.lockout_minutes),
    )
    app.before_request(_load_actor)
