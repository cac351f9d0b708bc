"""The JSON API, version 1 (``/api/v1``): flask-smorest resources on marshmallow schemas; the
OpenAPI document is generated from the code and served at ``/api/v1/openapi.json``, with a
browsable page at ``/api/v1/docs``.

Every resource calls the same services as the pages, so permissions are the UI's. Errors come out
of web/errors.py in one format (status, code, message, field errors) like every other JSON answer.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask, request
from flask_smorest import Api

from engine.errors import ValidationError
from web.api.schemas import ErrorSchema

PREFIX = "/api/v1"


class InforaApi(Api):  # type: ignore[misc]
    """flask-smorest's Api without its own HTTP error handler: web/errors.py answers every error
    (pages and API alike), so one format holds everywhere."""

    ERROR_SCHEMA = ErrorSchema

    def _register_error_handlers(self) -> None:
        """Leave error handling to web/errors.py."""


def init_app(app: Flask) -> InforaApi:
    """Register the API resources, the OpenAPI document and the docs page."""
    from web import csrf
    from web.api import auth, cases, catalogue, docs, measures, models, notifications, pdsa, tasks, tokens

    config: dict[str, Any] = {
        "API_TITLE": "Infora API",
        "API_VERSION": "1",
        "OPENAPI_VERSION": "3.1.0",
        "OPENAPI_URL_PREFIX": PREFIX,
        "OPENAPI_JSON_PATH": "openapi.json",
    }
    for key, value in config.items():
        app.config.setdefault(key, value)
    api = InforaApi(
        app,
        spec_kwargs={
            "info": {
                "description": "Infora's JSON API: process models, cases, tasks, PDSA cycles, measures, "
                "notifications and the pathway catalogue. Authenticate with a personal access token "
                "(`Authorization: Bearer inf_…`), created on the account page or with `infora token create`.",
            },
        },
    )
    api.spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    api.spec.options["security"] = [{"bearer": []}]
    for module in (catalogue, cases, tasks, models, pdsa, measures, notifications, tokens):
        api.register_blueprint(module.blp, url_prefix=PREFIX)
        csrf.exempt(module.blp)  # checked in web/api/auth.py instead: only cookie-authenticated writes need it
    auth.init_app(app)
    app.before_request(_refuse_unstorable_text)
    docs.init_app(app)
    return api


# In JSON text a NUL or a lone surrogate can only be written as an escape (\u0000, \ud800-\udfff):
# a body without one needs no walk through its values (most bodies, the walk was ~2% of a worker's
# CPU). A match may be harmless (a surrogate pair, an escaped backslash): the walk then decides.
_MAY_HOLD_UNSTORABLE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


def _unstorable(value: Any) -> bool:
    """Whether a JSON value holds text no database stores: a NUL character (PostgreSQL's text
    refuses it) or a lone surrogate (not encodable as UTF-8)."""
    if isinstance(value, str):
        if "\x00" in value:
            return True
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_unstorable(k) or _unstorable(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_unstorable(v) for v in value)
    return False


def _refuse_unstorable_text() -> None:
    """422 for a request (the API's, and a page's form too) whose parameters or JSON body hold text
    that cannot be stored, before any view sees it: otherwise the database would fail half-way (a
    500) on PostgreSQL."""
    bad = b"%00" in request.query_string or any(_unstorable(v) for v in request.args.values())
    if request.is_json:  # (its form is empty: werkzeug parses only form encodings)
        if not bad and _MAY_HOLD_UNSTORABLE.search(request.get_data(cache=True)):
            bad = _unstorable(request.get_json(silent=True))
    elif not bad and request.method != "GET" and request.form:  # a GET's body is never read
        bad = any(_unstorable(v) for v in request.form.values())
    if bad:
        raise ValidationError(
            "Begäran innehåller tecken som inte kan sparas (NUL eller ensamma surrogattecken).",
            {"": ["Ta bort NUL-tecken (\\u0000) och ensamma surrogattecken ur texten."]},
        )
