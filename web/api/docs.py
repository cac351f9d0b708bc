"""The browsable API documentation at ``/api/v1/docs``: Swagger UI (from npm, served from our own
static files, no CDN) reading the generated ``/api/v1/openapi.json``."""

from __future__ import annotations

from flask import Blueprint, Flask, render_template
from flask.typing import ResponseReturnValue

from web.api import PREFIX

bp = Blueprint("api_docs", __name__)


@bp.get(f"{PREFIX}/docs")
def docs() -> ResponseReturnValue:
    return render_template("api/docs.html", spec_url=f"{PREFIX}/openapi.json")


def init_app(app: Flask) -> None:
    """Register the docs page."""
    app.register_blueprint(bp)
