"""The private calendar feed (``/kalender/<token>.ics``): no login, the token is the key."""

from __future__ import annotations

from flask import Blueprint, Response, current_app

from engine.services.calendar_feed import calendar_feed
from web.db import get_session

bp = Blueprint("calendar", __name__)


@bp.get("/kalender/<token>.ics")
def feed(token: str) -> Response:
    body = calendar_feed(get_session(), token, current_app.config["BASE_URL"])
    response = Response(body, mimetype="text/calendar")
    response.headers["Cache-Control"] = "private, max-age=300"
    response.headers["Content-Disposition"] = 'inline; filename="infora.ics"'
    return response
