"""Infora's web layer: the Flask application factory. Views open a session, call the services and
commit at the edge; domain errors map to HTTP statuses in ``web.errors``."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask, session
from flask_babel import Babel
from flask_wtf.csrf import CSRFProtect

from engine import workdays
from engine.config import Settings, load_settings
from engine.persistence.database import database_url_from_env, make_engine, make_session_factory

LANGUAGES = ("sv", "en")
csrf = CSRFProtect()


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Create the application; ``test_config`` overrides the configuration (tests).

    The environment is checked first (``engine.config``): bad settings stop the start with a
    ``ConfigurationError`` naming every bad variable. ``INFORA_*`` keys of ``test_config`` are
    read as if they were in the environment, through the same checks."""
    overrides = {k: str(v) for k, v in (test_config or {}).items() if k.startswith("INFORA_")}
    settings = load_settings({**os.environ, **overrides} if overrides else None)
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(
        DATABASE_URL=database_url_from_env(),
        SECRET_KEY=settings.secret_key or _instance_secret(Path(app.instance_path)),
        MODELS_DIR=str(settings.models_dir),
        BASE_URL=settings.base_url,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        SESSION_COOKIE_NAME="infora_session",
        PERMANENT_SESSION_LIFETIME=settings.session_hours * 3600,
        BABEL_DEFAULT_LOCALE="sv",
        BABEL_DEFAULT_TIMEZONE="Europe/Stockholm",
        BABEL_TRANSLATION_DIRECTORIES=str(Path(__file__).with_name("translations")),
        WTF_CSRF_TIME_LIMIT=None,  # the session's own lifetime limits the token
    )
    if test_config:
        app.config.update(test_config)
    _operations(app, settings)
    engine = make_engine(app.config["DATABASE_URL"])
    app.extensions["infora.engine"] = engine
    app.extensions["infora.sessions"] = make_session_factory(engine)
    csrf.init_app(app)
    Babel(app, locale_selector=_locale)

    from web import (
        account,
        admin,
        api,
        auth,
        calendar,
        cases,
        db,
        errors,
        filters,
        home,
        learning,
        measures,
        models,
        notifications,
        portfolio,
        ramps,
        tasks,
    )

    db.init_app(app)
    errors.init_app(app)
    filters.init_app(app)
    auth.init_app(app)
    for blueprint in (
        home.bp,
        auth.bp,
        tasks.bp,
        cases.bp,
        portfolio.bp,
        notifications.bp,
        admin.bp,
        calendar.bp,
        account.bp,
        measures.bp,
        learning.bp,
        ramps.bp,
        models.bp,
    ):
        app.register_blueprint(blueprint)
    api.init_app(app)
    _hardening(app)
    workdays.warm_up()
    return app


def _hardening(app: Flask) -> None:
    """Security headers on every response, and single sign-on when a provider is configured."""
    from web import security, sso

    security.init_app(app)
    sso.init_app(app)


def _operations(app: Flask, settings: Settings) -> None:
    """Logs (format and level from the settings, one access line per request) and the settings
    for the views that need them."""
    from web import request_log

    app.extensions["infora.settings"] = settings
    request_log.init_app(app, settings)


def _locale() -> str:
    """Swedish unless the person chose English with the language switch."""
    chosen = session.get("lang")
    return str(chosen) if chosen in LANGUAGES else "sv"


def _instance_secret(instance: Path) -> str:
    """A per-installation secret key kept in the instance folder, made on first start."""
    instance.mkdir(parents=True, exist_ok=True)
    path = instance / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()
