"""Cases: start, list with filters, show with current tasks and units, history, signals and
messages, suspend / resume / cancel. Writes may name the case version they were based on
(``If-Match: "<version>"``); a newer case answers 412 so a client never overwrites a newer state."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import g, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate
from werkzeug.exceptions import PreconditionFailed

from engine.services import (
    ParticipantSpec,
    cancel_case,
    case_history,
    get_case,
    list_tasks,
    resume_case,
    send_signal,
    start_case,
    suspend_case,
)
from engine.services.case_list import CASE_STATUSES, list_cases
from web.api.schemas import ID, PageArgs, errors, id_field, page_schema, paginate
from web.api.tasks import TaskSchema
from web.db import get_session

blp = Blueprint("api_cases", __name__, description="Ärenden (införanden)")


class ParticipantSchema(ma.Schema):
    user_id = id_field(required=True)
    role = fields.String(required=True, validate=validate.Length(min=1, max=40))
    unit_id = id_field(load_default=None, allow_none=True)


class CaseStartSchema(ma.Schema):
    process_id = fields.String(required=True, validate=validate.Length(min=1, max=120))
    title = fields.String(required=True, validate=validate.Length(min=1, max=300))
    pathway_id = id_field(load_default=None, allow_none=True)
    region_id = id_field(load_default=None, allow_none=True)
    unit_ids = fields.List(id_field(), load_default=list, validate=validate.Length(max=500))
    participants = fields.List(fields.Nested(ParticipantSchema), load_default=list, validate=validate.Length(max=500))
    cycle_duration = fields.String(load_default="P3M", validate=validate.Length(min=2, max=20))
    follow_up_interval = fields.String(load_default="P6M", validate=validate.Length(min=2, max=20))


class CaseSchema(ma.Schema):
    id = fields.Integer(required=True)
    title = fields.String(required=True)
    process_id = fields.String(required=True)
    model_version_id = fields.Integer(required=True)
    pathway_id = fields.Integer(allow_none=True)
    region_id = fields.Integer(allow_none=True)
    status = fields.String(required=True, metadata={"enum": list(CASE_STATUSES)})
    phase = fields.String(allow_none=True)
    version = fields.Integer(required=True, metadata={"description": "bumped by every change; send as If-Match"})
    next_timer_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime(required=True)
    unit_ids = fields.List(fields.Integer(), required=True)


class CaseDetailSchema(CaseSchema):
    tasks = fields.List(fields.Nested(TaskSchema), required=True, metadata={"description": "ready tasks"})


class CaseListArgs(PageArgs):
    status = fields.String(load_default=None, validate=validate.OneOf(CASE_STATUSES))
    process_id = fields.String(load_default=None, validate=validate.Length(max=120))
    pathway_id = id_field(load_default=None)
    region_id = id_field(load_default=None)


class HistorySchema(ma.Schema):
    at = fields.DateTime(required=True)
    action = fields.String(required=True)
    actor_id = fields.Integer(allow_none=True)
    actor_name = fields.String(allow_none=True)
    task_id = fields.String(allow_none=True)
    before = fields.Dict(allow_none=True)
    after = fields.Dict(allow_none=True)
    details = fields.Dict(allow_none=True)


class SignalSchema(ma.Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    payload = fields.Dict(load_default=None, allow_none=True)


class SignalResultSchema(ma.Schema):
    caught = fields.Boolean(required=True, metadata={"description": "whether the case waited for it"})
    case = fields.Nested(CaseSchema, required=True)


class ReasonSchema(ma.Schema):
    reason = fields.String(load_default="", validate=validate.Length(max=1000))


CasePage = page_schema(CaseSchema, "CasePage")


def check_if_match(version: int) -> None:
    """412 when the client's ``If-Match`` names another case version than the stored one."""
    header = request.headers.get("If-Match")
    if header and header.strip().removeprefix("W/").strip('"') != str(version):
        raise PreconditionFailed("Ärendet har ändrats sedan du läste det (If-Match stämmer inte). Läs om det.")


def _with_etag(info: Any) -> tuple[Any, int, dict[str, str]]:
    return info, 200, {"ETag": f'"{info.version}"'}


@blp.route("/cases")
class Cases(MethodView):
    @blp.arguments(CaseListArgs(), location="query")
    @blp.response(200, CasePage)
    @errors(blp)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """The cases you take part in (admins: all), newest first."""
        items, total = list_cases(
            get_session(), g.actor, status=args["status"], process_id=args["process_id"],
            pathway_id=args["pathway_id"], region_id=args["region_id"], page=args["page"],
            page_size=args["page_size"],
        )  # fmt: skip
        return paginate(items, total, args)

    @blp.arguments(CaseStartSchema())
    @blp.response(201, CaseSchema)
    @errors(blp, 403, 404)
    def post(self, body: dict[str, Any]) -> Any:
        """Start a case of the newest published version of a process (coordinators)."""
        participants = [ParticipantSpec(p["user_id"], p["role"], p["unit_id"]) for p in body.pop("participants")]
        info = start_case(get_session(), g.actor, participants=participants, **body)
        return info, 201, {"ETag": f'"{info.version}"', "Location": f"{request.script_root}/api/v1/cases/{info.id}"}


@blp.route(f"/cases/<{ID}:case_id>")
class CaseResource(MethodView):
    @blp.response(200, CaseDetailSchema)
    @errors(blp, 403, 404)
    def get(self, case_id: int) -> Any:
        """A case with its ready tasks and units (its ETag is its version)."""
        db = get_session()
        info = get_case(db, g.actor, case_id)
        detail = {**info.__dict__, "tasks": list_tasks(db, g.actor, case_id=case_id)}
        return detail, 200, {"ETag": f'"{info.version}"'}


@blp.route(f"/cases/<{ID}:case_id>/history")
class CaseHistory(MethodView):
    @blp.response(200, HistorySchema(many=True))
    @errors(blp, 403, 404)
    def get(self, case_id: int) -> Any:
        """Everything that happened in the case, oldest first."""
        return case_history(get_session(), g.actor, case_id)


@blp.route(f"/cases/<{ID}:case_id>/signals")
class CaseSignals(MethodView):
    @blp.arguments(SignalSchema())
    @blp.response(200, SignalResultSchema)
    @errors(blp, 403, 404, 409, 412)
    def post(self, body: dict[str, Any], case_id: int) -> Any:
        """Send a signal or message the case may wait for (e.g. godkand_nationellt)."""
        db = get_session()
        check_if_match(get_case(db, g.actor, case_id).version)
        caught = send_signal(db, g.actor, case_id, body["name"], body["payload"])
        return {"caught": caught, "case": get_case(db, g.actor, case_id)}


def _status_route(action: str, change: Any, doc: str) -> None:
    def post(self: MethodView, body: dict[str, Any], case_id: int) -> Any:
        db = get_session()
        check_if_match(get_case(db, g.actor, case_id).version)
        return _with_etag(change(db, g.actor, case_id, body["reason"]))

    post.__doc__ = doc
    view = type(
        f"Case{action.title()}",
        (MethodView,),
        {"post": blp.response(200, CaseSchema)(blp.arguments(ReasonSchema())(errors(blp, 403, 404, 409, 412)(post)))},
    )
    blp.route(f"/cases/<{ID}:case_id>/{action}")(view)


_status_route("suspend", suspend_case, "Pause a running case (its coordinator).")
_status_route("resume", resume_case, "Resume a paused case (its coordinator).")
_status_route("cancel", cancel_case, "Cancel a case for good (its coordinator).")
