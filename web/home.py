"""The start page and the health check."""

from __future__ import annotations

import logging
from functools import cache
from importlib.metadata import PackageNotFoundError, version

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from flask import Blueprint, current_app, g, jsonify, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from engine.persistence.schema import MIGRATIONS_DIR
from engine.services.overview import overview
from web.db import get_session

bp = Blueprint("home", __name__)
log = logging.getLogger("infora.health")
# A health probe must answer quickly even when the database is overloaded: a probe that hangs is
# worse than one that says "not ready".
STATEMENT_TIMEOUT_MS = 2000


@bp.get("/")
def index() -> ResponseReturnValue:
    if g.get("actor") is not None:
        return redirect(url_for("tasks.inbox"))
    return render_template("index.html", data=overview(get_session()))


@cache
def _code_heads() -> frozenset[str]:
    """The newest migrations the running code knows (read once per process)."""
    return frozenset(ScriptDirectory(str(MIGRATIONS_DIR)).get_heads())


@cache
def _app_version() -> str:
    try:
        return version("infora")
    except PackageNotFoundError:
        return "okänd"


def _schema_state(current: set[str]) -> str:
    """ok, empty (no schema yet), outdated (run ``infora db upgrade``) or newer (the database was
    upgraded by newer code than this)."""
    heads = _code_heads()
    if current == heads:
        return "ok"
    if not current:
        return "empty"
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    try:
        for revision in current:
            script.get_revision(revision)
    except CommandError:
        return "newer"
    return "outdated"


@bp.get("/health")
def health() -> ResponseReturnValue:
    """Readiness for a load balancer or systemd: the database answers and its schema is the one
    this code expects. 200 when ready, 503 otherwise; no sign-in needed, no session opened."""
    engine: Engine = current_app.extensions["infora.engine"]
    report = {"status": "ok", "database": "ok", "schema": "ok", "version": _app_version()}
    try:
        with engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}"))
            connection.execute(text("SELECT 1"))
            current = set(MigrationContext.configure(connection).get_current_heads())
    except SQLAlchemyError as err:
        log.warning("health check: database unreachable: %s", err.__class__.__name__)
        report.update(status="unavailable", database="unreachable", schema="unknown")
    else:
        report["schema"] = _schema_state(current)
        if report["schema"] != "ok":
            report["status"] = "unavailable"
    response = jsonify(report)
    response.status_code = 200 if report["status"] == "ok" else 503
    response.headers["Cache-Control"] = "no-store"
    return response
