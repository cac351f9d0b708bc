"""The caller's in-app notifications: list, mark one or all read."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate

from engine.services.notifications import list_notifications, mark_read
from web.api.schemas import ID, errors
from web.db import get_session

blp = Blueprint("api_notifications", __name__, description="Notiser")


class NotificationSchema(ma.Schema):
    id = fields.Integer(required=True)
    created_at = fields.DateTime(required=True)
    kind = fields.String(required=True)
    title = fields.String(required=True)
    body = fields.String(required=True)
    link = fields.String(allow_none=True)
    case_id = fields.Integer(allow_none=True)
    task_id = fields.String(allow_none=True)
    read_at = fields.DateTime(allow_none=True)


class ListArgs(ma.Schema):
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))


class MarkedSchema(ma.Schema):
    marked = fields.Integer(required=True, metadata={"description": "how many became read"})


@blp.route("/notifications")
class Notifications(MethodView):
    @blp.arguments(ListArgs(), location="query")
    @blp.response(200, NotificationSchema(many=True))
    @errors(blp)
    def get(self, args: dict[str, Any]) -> Any:
        """Your notifications, newest first."""
        return list_notifications(get_session(), g.actor, limit=args["limit"])


@blp.route("/notifications/read")
class ReadAll(MethodView):
    @blp.response(200, MarkedSchema)
    @errors(blp)
    def post(self) -> Any:
        """Mark all your notifications read."""
        return {"marked": mark_read(get_session(), g.actor)}


@blp.route(f"/notifications/<{ID}:notification_id>/read")
class ReadOne(MethodView):
    @blp.response(200, MarkedSchema)
    @errors(blp)
    def post(self, notification_id: int) -> Any:
        """Mark one of your notifications read (0 when it is not yours or already read)."""
        return {"marked": mark_read(get_session(), g.actor, notification_id)}
