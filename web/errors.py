"""Domain errors to HTTP statuses, in one place: JSON for clients that ask for it, a page
otherwise."""

from __future__ import annotations

import logging

from flask import Flask, Response, g, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from engine.errors import (
    ConflictError,
    InforaError,
    InvalidModelError,
    NotAuthenticatedError,
    NotFoundError,
    PermissionDeniedError,
    TooManyAttemptsError,
    ValidationError,
)

log = logging.getLogger("infora.web")
STATUS: list[tuple[type[InforaError], int]] = [
    (NotAuthenticatedError, 401),
    (NotFoundError, 404),
    (PermissionDeniedError, 403),
    (ConflictError, 409),
    (TooManyAttemptsError, 429),
    (ValidationError, 422),
    (InvalidModelError, 422),
    (InforaError, 400),
]


def _wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return request.path.startswith("/api/") or best == "application/json"


def _respond(
    status: int, code: str, message: str, fields: dict[str, list[str]] | None = None
) -> tuple[Response | str, int]:
    # An error answer changes nothing: the request's session is rolled back here, because an error
    # a handler turned into a response reaches the teardown as a success and would be committed.
    session = g.get("db_session")
    if session is not None:
        session.rollback()
    if _wants_json():
        return jsonify({"status": status, "code": code, "message": message, "errors": fields or {}}), status
    return render_template("error.html", status=status, message=message), status


def _domain(err: InforaError) -> tuple[Response | str, int]:
    status = next(code for cls, code in STATUS if isinstance(err, cls))
    fields = err.field_errors if isinstance(err, ValidationError) else None
    if isinstance(err, InvalidModelError):
        # A model's issues as field errors, keyed by the element they are pinned to ("" for the file).
        fields = {}
        for issue in err.issues:
            fields.setdefault(issue.element_id or "", []).append(f"{issue.code}: {issue.message}")
    return _respond(status, err.code, err.message, fields)


def _flat(messages: object, path: str = "") -> dict[str, list[str]]:
    """webargs' nested messages ({"json": {"units": {"0": ["…"]}}}) as field path -> messages."""
    if isinstance(messages, dict):
        found: dict[str, list[str]] = {}
        for key, value in messages.items():
            inner = "" if not path and key in ("json", "query", "form", "files", "headers") else str(key)
            found.update(_flat(value, f"{path}/{inner}".strip("/") if inner else path))
        return found
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return {path: list(messages)}
    if isinstance(messages, list):
        return {k: v for i, m in enumerate(messages) for k, v in _flat(m, f"{path}/{i}".strip("/")).items()}
    return {path: [str(messages)]}


def _http(err: HTTPException) -> tuple[Response | str, int]:
    data = getattr(err, "data", None)
    if err.code == 422 and isinstance(data, dict) and "messages" in data:
        # flask-smorest/webargs refused the request's parameters or body
        return _respond(422, "validation", _("Felaktiga värden i begäran."), _flat(data["messages"]))
    messages = {
        404: _("Sidan finns inte."),
        403: _("Du har inte behörighet till sidan."),
        405: _("Metoden är inte tillåten."),
        400: _("Felaktig begäran."),
    }
    status = err.code or 500
    return _respond(status, "http_error", messages.get(status, err.description or _("Fel.")))


def _csrf(err: CSRFError) -> tuple[Response | str, int]:
    return _respond(
        400, "csrf", _("Formuläret har gått ut eller kom från en annan sida. Ladda om sidan och försök igen.")
    )


def _crash(err: Exception) -> tuple[Response | str, int]:
    log.exception("unhandled error", exc_info=err)
    return _respond(500, "internal_error", _("Något gick fel hos oss. Ingenting sparades; försök igen."))


def init_app(app: Flask) -> None:
    """Register the error handlers."""
    app.register_error_handler(CSRFError, _csrf)
    app.register_error_handler(InforaError, _domain)
    app.register_error_handler(HTTPException, _http)
    app.register_error_handler(Exception, _crash)
