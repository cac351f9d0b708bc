"""PDSA learning loops: a case's cycles, one cycle's whole record, a unit's ramp (its cycles and the
measures it moves), and the learning library's search across every case.

Cycles, records and ramps are for the case's participants and admins; the library is for every
signed-in person (it holds improvement work, not patient data — see engine.services.learning), and
each hit says whether the caller may open the cycle record.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate

from engine.services.learning import STEPS, search_learning
from engine.services.pdsa import case_cycles, cycle_record, ramp_view
from web.api.schemas import ID, PageArgs, errors, id_field, page_schema, paginate
from web.db import get_session

blp = Blueprint("api_pdsa", __name__, description="PDSA-cykler, ramper och lärandebiblioteket")

STAGES = ("plan", "do", "study", "act", "done")
DECISIONS = ("adopt", "adapt", "abandon")


class CycleSummarySchema(ma.Schema):
    """A cycle as lists show it; ``stage`` is the step it waits for next (done when acted on)."""

    id = fields.Integer(required=True)
    ramp_id = fields.Integer(required=True)
    number = fields.Integer(required=True)
    stage = fields.String(required=True, metadata={"enum": list(STAGES)})
    unit_id = fields.Integer(allow_none=True, required=True)
    unit = fields.String(allow_none=True, required=True)
    objective = fields.String(required=True)
    started_on = fields.Date(required=True)
    ends_on = fields.Date(required=True)
    act_decision = fields.String(allow_none=True, required=True, metadata={"enum": [*DECISIONS, None]})


class CycleRecordSchema(ma.Schema):
    """A cycle's whole record: the Plan, what was done, the Study's results and the Act's decision."""

    id = fields.Integer(required=True)
    ramp_id = fields.Integer(required=True)
    case_id = fields.Integer(required=True)
    unit_id = fields.Integer(allow_none=True, required=True)
    number = fields.Integer(required=True)
    stage = fields.String(required=True, metadata={"enum": list(STAGES)})
    objective = fields.String(required=True)
    purpose = fields.String(required=True)
    change_idea = fields.String(required=True)
    questions = fields.List(fields.Dict(), required=True, metadata={"description": "question and prediction"})
    plan_tasks = fields.List(fields.Dict(), required=True, metadata={"description": "who does what, when, where"})
    data_collection = fields.List(fields.Dict(), required=True)
    carried_out_as_planned = fields.Boolean(allow_none=True, required=True)
    observations = fields.String(required=True)
    problems = fields.String(required=True)
    unexpected_findings = fields.String(required=True)
    results = fields.List(fields.Dict(), required=True, metadata={"description": "question, prediction, result"})
    learnt = fields.String(required=True)
    act_decision = fields.String(allow_none=True, required=True, metadata={"enum": [*DECISIONS, None]})
    next_cycle_plan = fields.String(required=True)
    scale_up = fields.Boolean(required=True)
    started_on = fields.Date(required=True)
    ends_on = fields.Date(required=True)
    completed_at = fields.DateTime(allow_none=True, required=True)
    updated_at = fields.DateTime(required=True)


class RampSchema(ma.Schema):
    """A unit's ramp: its cycles (oldest first) on one change idea and the measures it moves."""

    id = fields.Integer(required=True)
    case_id = fields.Integer(required=True)
    case_title = fields.String(required=True)
    unit_id = fields.Integer(allow_none=True, required=True)
    unit = fields.String(allow_none=True, required=True)
    aim = fields.String(required=True)
    change_idea = fields.String(required=True)
    status = fields.String(required=True, metadata={"enum": ["active", "adopted", "abandoned"]})
    started_on = fields.Date(required=True)
    ended_on = fields.Date(allow_none=True, required=True)
    cycles = fields.List(fields.Nested(CycleRecordSchema), required=True)
    measure_ids = fields.List(fields.Integer(), required=True)


class CycleArgs(PageArgs):
    unit_id = id_field(load_default=None, metadata={"description": "only this unit's cycles"})


class LearningArgs(PageArgs):
    text = fields.String(load_default="", validate=validate.Length(max=1000),
                         metadata={"description": "every word must occur in the conclusions"})  # fmt: skip
    pathway_id = id_field(load_default=None)
    region_id = id_field(load_default=None)
    step = fields.String(load_default=None, validate=validate.OneOf(STEPS),
                         metadata={"description": "study: the Study is done; act: an Act decision is taken"})  # fmt: skip
    decision = fields.String(load_default=None, validate=validate.OneOf(DECISIONS))


class LearningHitSchema(ma.Schema):
    """One cycle's conclusions."""

    cycle_id = fields.Integer(required=True)
    ramp_id = fields.Integer(required=True)
    case_id = fields.Integer(required=True)
    case_title = fields.String(required=True)
    may_open = fields.Boolean(required=True, metadata={"description": "whether you may open the cycle and case"})
    pathway = fields.String(allow_none=True, required=True)
    region = fields.String(allow_none=True, required=True)
    unit = fields.String(allow_none=True, required=True)
    number = fields.Integer(required=True)
    stage = fields.String(required=True, metadata={"enum": list(STAGES)})
    objective = fields.String(required=True)
    change_idea = fields.String(required=True)
    started_on = fields.Date(required=True)
    ends_on = fields.Date(required=True)
    completed_at = fields.DateTime(allow_none=True, required=True)
    results = fields.List(fields.Dict(), required=True)
    learnt = fields.String(required=True)
    act_decision = fields.String(allow_none=True, required=True, metadata={"enum": [*DECISIONS, None]})
    next_cycle_plan = fields.String(required=True)
    scale_up = fields.Boolean(required=True)


class LearningPageSchema(page_schema(LearningHitSchema, "LearningHitPage")):  # type: ignore[misc]
    terms = fields.List(fields.String(), required=True, metadata={"description": "the search words used"})


CyclePage = page_schema(CycleSummarySchema, "CyclePage")


@blp.route(f"/cases/<{ID}:case_id>/cycles")
class CaseCycles(MethodView):
    @blp.arguments(CycleArgs(), location="query")
    @blp.response(200, CyclePage)
    @errors(blp, 403, 404)
    def get(self, args: dict[str, Any], case_id: int) -> Any:
        """The case's PDSA cycles (or one unit's), newest first."""
        cycles = case_cycles(get_session(), g.actor, case_id, args["unit_id"])
        start = (args["page"] - 1) * args["page_size"]
        return paginate(cycles[start : start + args["page_size"]], len(cycles), args)


@blp.route(f"/cycles/<{ID}:cycle_id>")
class CycleRecord(MethodView):
    @blp.response(200, CycleRecordSchema)
    @errors(blp, 403, 404)
    def get(self, cycle_id: int) -> Any:
        """One cycle's whole record."""
        return cycle_record(get_session(), g.actor, cycle_id)


@blp.route(f"/ramps/<{ID}:ramp_id>")
class Ramp(MethodView):
    @blp.response(200, RampSchema)
    @errors(blp, 403, 404)
    def get(self, ramp_id: int) -> Any:
        """A ramp with every cycle's record and the ids of the measures it moves."""
        return ramp_view(get_session(), g.actor, ramp_id)


@blp.route("/learning")
class Learning(MethodView):
    @blp.arguments(LearningArgs(), location="query")
    @blp.response(200, LearningPageSchema)
    @errors(blp)
    def get(self, args: dict[str, Any]) -> Any:
        """Search the Study and Act conclusions of every case's cycles, newest first (a page past the
        last answers the last page)."""
        result = search_learning(
            get_session(), g.actor, text=args["text"], pathway_id=args["pathway_id"], region_id=args["region_id"],
            step=args["step"], decision=args["decision"], page=args["page"], per_page=args["page_size"],
        )  # fmt: skip
        return {"items": result.hits, "total": result.total, "page": result.page, "page_size": result.per_page,
                "terms": result.terms}  # fmt: skip
