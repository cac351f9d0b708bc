"""Tasks: the caller's inbox with filters, one task with its form schema, claim, unclaim, reassign,
complete with data, comment. Completing may name the case version it was based on (``If-Match``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import marshmallow as ma
from flask import g, jsonify, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate
from werkzeug.exceptions import PreconditionFailed

from engine.errors import ConflictError
from engine.services import claim_task, complete_task, get_case, get_task, reassign_task, unclaim_task
from engine.services.inbox import DUE_FILTERS, InboxFilters, inbox_page
from engine.services.task_view import add_comment, task_detail
from web.api.schemas import PageArgs, errors, id_field, page_schema, paginate
from web.db import get_session

blp = Blueprint("api_tasks", __name__, description="Uppgifter")
TASK_ID = "string(maxlength=64)"
"""A task id is a UUID; anything longer names no task."""


class TaskSchema(ma.Schema):
    """A ready task."""

    task_id = fields.String(required=True)
    case_id = fields.Integer(required=True)
    case_title = fields.String(required=True)
    bpmn_id = fields.String(required=True)
    name = fields.String(required=True)
    lane = fields.String(allow_none=True, metadata={"description": "the role code of the task's lane"})
    unit_id = fields.Integer(allow_none=True)
    assignee_id = fields.Integer(allow_none=True)
    form = fields.String(allow_none=True)
    ready_at = fields.DateTime(required=True)
    due_at = fields.DateTime(allow_none=True)


class InboxItemSchema(ma.Schema):
    """A task in the caller's inbox."""

    task_id = fields.String(required=True)
    case_id = fields.Integer(required=True)
    case_title = fields.String(required=True)
    pathway = fields.String(allow_none=True)
    region = fields.String(allow_none=True)
    unit = fields.String(allow_none=True)
    step = fields.String(required=True)
    role = fields.String(allow_none=True)
    due_at = fields.DateTime(allow_none=True)
    overdue = fields.Boolean(required=True)
    assignee_id = fields.Integer(allow_none=True)
    assignee_name = fields.String(allow_none=True)


class InboxArgs(PageArgs):
    pathway_id = id_field(load_default=None)
    region_id = id_field(load_default=None)
    step = fields.String(load_default=None, validate=validate.Length(max=200))
    due = fields.String(load_default="all", validate=validate.OneOf(DUE_FILTERS))
    mine = fields.Boolean(load_default=False, metadata={"description": "only tasks assigned to me"})


class PersonSchema(ma.Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)


class CommentSchema(ma.Schema):
    at = fields.DateTime(required=True)
    author = fields.String(allow_none=True)
    text = fields.String(required=True)
    task_id = fields.String(allow_none=True)


class TaskDetailSchema(ma.Schema):
    """A task with its form (JSON Schema) and what the caller may do."""

    task_id = fields.String(required=True)
    name = fields.String(required=True)
    case_id = fields.Integer(required=True)
    case_title = fields.String(required=True)
    case_version = fields.Integer(required=True)
    unit = fields.String(allow_none=True)
    role = fields.String(allow_none=True)
    instructions = fields.String(required=True)
    form = fields.Dict(allow_none=True, metadata={"description": "the form's JSON Schema"})
    due_at = fields.DateTime(allow_none=True)
    overdue = fields.Boolean(required=True)
    assignee = fields.Nested(PersonSchema, allow_none=True)
    can_act = fields.Boolean(required=True)
    prefill = fields.Dict(required=True, metadata={"description": "starting values (PDSA steps)"})
    comments = fields.List(fields.Nested(CommentSchema), required=True)


class CompleteSchema(ma.Schema):
    data = fields.Dict(load_default=dict, metadata={"description": "the form's values"})


class CompletedSchema(ma.Schema):
    case_id = fields.Integer(required=True)
    case_version = fields.Integer(required=True)


class ReassignSchema(ma.Schema):
    user_id = id_field(required=True)


class CommentInSchema(ma.Schema):
    text = fields.String(required=True, validate=validate.Length(min=1, max=5000))


InboxPage = page_schema(InboxItemSchema, "InboxPage")
INBOX_FIELDS = tuple(InboxItemSchema().fields)


def _inbox_json(item: Any) -> dict[str, Any]:
    """An inbox item as InboxItemSchema dumps it (datetimes in ISO 8601, as marshmallow writes them)."""
    values = item.__dict__
    return {k: values[k].isoformat() if isinstance(values[k], datetime) else values[k] for k in INBOX_FIELDS}


def _expected_version() -> int | None:
    header = request.headers.get("If-Match")
    if not header:
        return None
    try:
        return int(header.strip().removeprefix("W/").strip('"'))
    except ValueError as err:
        raise PreconditionFailed('If-Match ska vara ärendets version, t.ex. "7".') from err


@blp.route("/tasks")
class Inbox(MethodView):
    @blp.arguments(InboxArgs(), location="query")
    @blp.response(200, InboxPage)
    @errors(blp)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Your inbox: the ready tasks you may do, soonest due first."""
        filters = InboxFilters(args["pathway_id"], args["region_id"], args["step"], args["due"], args["mine"])
        db = get_session()
        offset = (args["page"] - 1) * args["page_size"]
        items, total = inbox_page(db, g.actor, filters, limit=args["page_size"], offset=offset)
        page = paginate([_inbox_json(i) for i in items], total, args)
        # The busiest read of the API: its items are plain values already, so they go out as JSON
        # without a marshmallow pass (a page of 200 took milliseconds). The documented schema is
        # still InboxPage; the contract test holds the two together.
        return jsonify(page)


@blp.route(f"/tasks/<{TASK_ID}:task_id>")
class TaskResource(MethodView):
    @blp.response(200, TaskDetailSchema)
    @errors(blp, 403, 404)
    def get(self, task_id: str) -> Any:
        """A task with its form schema."""
        detail = task_detail(get_session(), g.actor, task_id)
        return {**detail.__dict__, "form": detail.form}


@blp.route(f"/tasks/<{TASK_ID}:task_id>/complete")
class TaskComplete(MethodView):
    @blp.arguments(CompleteSchema())
    @blp.response(200, CompletedSchema)
    @errors(blp, 403, 404, 409, 412)
    def post(self, body: dict[str, Any], task_id: str) -> Any:
        """Complete the task with its form's values (validated against the form). With ``If-Match``
        naming another case version than the stored one: 412, nothing done."""
        db = get_session()
        expected = _expected_version()
        try:
            case_id, version = complete_task(db, g.actor, task_id, body["data"], expected_version=expected)
        except ConflictError:
            # The service refuses a stale version as a conflict; for a client's If-Match it is 412,
            # like the case resources answer (a task that is not ready stays 409).
            case_id = get_task(db, g.actor, task_id).case_id
            if expected is not None and get_case(db, g.actor, case_id).version != expected:
                raise PreconditionFailed("Ärendet har ändrats sedan du läste det (If-Match stämmer inte).") from None
            raise
        return {"case_id": case_id, "case_version": version}, 200, {"ETag": f'"{version}"'}


@blp.route(f"/tasks/<{TASK_ID}:task_id>/claim")
class TaskClaim(MethodView):
    @blp.response(200, TaskSchema)
    @errors(blp, 403, 404, 409)
    def post(self, task_id: str) -> Any:
        """Take the task, so others see you work on it."""
        return claim_task(get_session(), g.actor, task_id)


@blp.route(f"/tasks/<{TASK_ID}:task_id>/unclaim")
class TaskUnclaim(MethodView):
    @blp.response(200, TaskSchema)
    @errors(blp, 403, 404, 409)
    def post(self, task_id: str) -> Any:
        """Give the task back to everyone with its role."""
        return unclaim_task(get_session(), g.actor, task_id)


@blp.route(f"/tasks/<{TASK_ID}:task_id>/reassign")
class TaskReassign(MethodView):
    @blp.arguments(ReassignSchema())
    @blp.response(200, TaskSchema)
    @errors(blp, 403, 404, 409)
    def post(self, body: dict[str, Any], task_id: str) -> Any:
        """Assign the task to a person (the case's coordinator)."""
        return reassign_task(get_session(), g.actor, task_id, body["user_id"])


@blp.route(f"/tasks/<{TASK_ID}:task_id>/comments")
class TaskComments(MethodView):
    @blp.arguments(CommentInSchema())
    @blp.response(201, CommentSchema)
    @errors(blp, 403, 404)
    def post(self, body: dict[str, Any], task_id: str) -> Any:
        """Comment on the task."""
        db = get_session()
        return add_comment(db, g.actor, get_task(db, g.actor, task_id).case_id, body["text"], task_id)
