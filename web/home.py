"""The start page and the health check."""

from __future__ import annotations

from flask import Blueprint, g, jsonify, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import text

from engine.services.overview import overview
from web.db import get_session

bp = Blueprint("home", __name__)


@bp.get("/")
def index() -> ResponseReturnValue:
    if g.get("actor") is not None:
        return redirect(url_for("tasks.inbox"))
    return render_template("index.html", data=overview(get_session()))


@bp.get("/health")
def health() -> ResponseReturnValue:
    get_session().execute(text("SELECT 1"))
    return jsonify({"status": "ok"})
