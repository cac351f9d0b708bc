"""Who calls the API: a personal access token (``Authorization: Bearer inf_…``) or, for a browser
already signed in, the session cookie — but a cookie never authorises a write without the CSRF
token (header ``X-CSRFToken``), so another site cannot make a signed-in person's browser act."""

from __future__ import annotations

from flask import Flask, g, request
from flask_wtf.csrf import CSRFError, validate_csrf
from wtforms import ValidationError as WTFValidationError

from engine.errors import NotAuthenticatedError
from engine.services.tokens import authenticate
from web.api import PREFIX
from web.db import WRITE_METHODS, get_session

OPEN_PATHS = frozenset({f"{PREFIX}/openapi.json", f"{PREFIX}/docs"})


def _authenticate() -> None:
    if not request.path.startswith(PREFIX + "/") or request.path in OPEN_PATHS:
        return
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, secret = header.partition(" ")
        actor = authenticate(get_session(), secret.strip()) if scheme.lower() == "bearer" else None
        if actor is None:
            raise NotAuthenticatedError("API-nyckeln är ogiltig, återkallad eller har gått ut.")
        g.actor, g.api_token = actor, True
        return
    if g.get("actor") is None:
        raise NotAuthenticatedError("Logga in eller skicka en API-nyckel: Authorization: Bearer inf_…")
    if request.method in WRITE_METHODS:
        try:
            validate_csrf(request.headers.get("X-CSRFToken", ""))
        except WTFValidationError as err:
            raise CSRFError(str(err)) from err


def init_app(app: Flask) -> None:
    """Authenticate API requests after the page session's person is loaded."""
    app.before_request(_authenticate)
