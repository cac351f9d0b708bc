"""The caller's personal access tokens: list, create (the secret is in this one answer only),
revoke."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate

from engine.services.tokens import MAX_DAYS, create_token, list_tokens, revoke_token
from web.api.schemas import ID, errors
from web.db import get_session

blp = Blueprint("api_tokens", __name__, description="API-nycklar")


class TokenSchema(ma.Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    prefix = fields.String(required=True, metadata={"description": "the secret's first characters"})
    created_at = fields.DateTime(required=True)
    expires_at = fields.DateTime(allow_none=True)
    last_used_at = fields.DateTime(allow_none=True)
    revoked_at = fields.DateTime(allow_none=True)
    active = fields.Boolean(required=True)


class NewTokenSchema(ma.Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    # Always an end date over the API: a token without one is for the infora command (an operator's choice).
    days = fields.Integer(load_default=90, validate=validate.Range(min=1, max=MAX_DAYS))


class CreatedTokenSchema(TokenSchema):
    secret = fields.String(required=True, metadata={"description": "shown once; store it safely"})


@blp.route("/tokens")
class Tokens(MethodView):
    @blp.response(200, TokenSchema(many=True))
    @errors(blp)
    def get(self) -> Any:
        """Your tokens, newest first (never their secrets)."""
        return list_tokens(get_session(), g.actor)

    @blp.arguments(NewTokenSchema())
    @blp.response(201, CreatedTokenSchema)
    @errors(blp, 403)
    def post(self, body: dict[str, Any]) -> Any:
        """Create a token; the answer holds its secret, this once."""
        info, secret = create_token(get_session(), g.actor, body["name"], body["days"])
        return {**info.__dict__, "active": info.active, "secret": secret}


@blp.route(f"/tokens/<{ID}:token_id>")
class TokenResource(MethodView):
    @blp.response(200, TokenSchema)
    @errors(blp, 404)
    def delete(self, token_id: int) -> Any:
        """Revoke a token."""
        return revoke_token(get_session(), g.actor, token_id)
