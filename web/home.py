"""The start page: an overview of introductions and the national pathway catalogue, and a health
check. (The inbox, task pages and case pages come with the web issue.)"""

from __future__ import annotations

from flask import Blueprint, jsonify, render_template
from flask.typing import ResponseReturnValue
from sqlalchemy import text

from engine.services.overview import overview
from web.db import get_session

bp = Blueprint("home", __name__)


@bp.get("/")
def index() -> ResponseReturnValue:
    return render_template("index.html", data=overview(get_session()))


@bp.get("/health")
def health() -> ResponseReturnValue:
    get_session().execute(text("SELECT 1"))
    return jsonify({"status": "ok"})
