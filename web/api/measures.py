"""Measures of a case and their data points: list and define a case's measures, read and change one
measure, its chart for a unit, the case or the region (the rules applied, the PDSA cycles on the
axis, the current signal), list and enter data points, bulk CSV import (all or nothing, with a
report naming every bad row) and CSV export in the format the import reads.

The case's participants read and enter data; its coordinators (and admins) define and change
measures. The rules are the services' (engine.services.measures, engine.services.chart_data).
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response, g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate

from engine.errors import NotFoundError
from engine.services.chart_data import REGION, chart_view
from engine.services.measures import (
    AGGREGATIONS,
    CHART_TYPES,
    DIRECTIONS,
    FREQUENCIES,
    LEVELS,
    MAX_ANNOTATION,
    MAX_CSV_BYTES,
    MEASURE_KINDS,
    RULE_SETS,
    create_measure,
    export_data_points_csv,
    import_data_points_csv,
    list_measures,
    measure_detail,
    save_data_point,
    update_measure,
)
from web.api.schemas import ID, ID_MAX, PageArgs, errors, id_field, page_schema, paginate
from web.db import get_session

blp = Blueprint("api_measures", __name__, description="Mätetal och datapunkter")

CASE = "case"
SCOPE_DOC = "a unit id, `case` (data entered for the case as a whole) or `region` (the units added up)"


class MeasureSchema(ma.Schema):
    """What a case measures, how it is charted and which way is better."""

    id = fields.Integer(required=True)
    case_id = fields.Integer(required=True)
    name = fields.String(required=True)
    kind = fields.String(required=True, metadata={"enum": list(MEASURE_KINDS)})
    definition = fields.String(required=True)
    unit_label = fields.String(required=True)
    direction = fields.String(required=True, metadata={"enum": list(DIRECTIONS)})
    target = fields.Float(allow_none=True, required=True)
    frequency = fields.String(required=True)
    level = fields.String(required=True)
    chart_type = fields.String(required=True, metadata={"enum": list(CHART_TYPES)})
    rules = fields.String(required=True, metadata={"enum": list(RULE_SETS)})
    baseline_points = fields.Integer(allow_none=True, required=True)
    shift_points = fields.Integer(allow_none=True, required=True)
    trend_points = fields.Integer(allow_none=True, required=True)
    screen_outliers = fields.Boolean(required=True)
    recalculations = fields.List(fields.String(), required=True, metadata={"description": "ISO dates"})
    aggregation = fields.String(required=True, metadata={"enum": list(AGGREGATIONS)})
    created_at = fields.DateTime(required=True)


class MeasureSummarySchema(MeasureSchema):
    """A measure in its case's list, with how much data it has."""

    points = fields.Integer(required=True)
    units = fields.Integer(required=True, metadata={"description": "series with data (units, or the case)"})
    latest = fields.Date(allow_none=True, required=True, metadata={"description": "the latest period"})


class UnitChoiceSchema(ma.Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    points = fields.Integer(required=True)


class MeasureDetailSchema(MeasureSchema):
    """A measure with its case's units (each with its number of points) and what the caller may do."""

    case_title = fields.String(required=True)
    can_manage = fields.Boolean(required=True, metadata={"description": "may change the measure"})
    unit_choices = fields.List(fields.Nested(UnitChoiceSchema), required=True)
    case_points = fields.Integer(required=True, metadata={"description": "points of the case as a whole"})


class MeasureInSchema(ma.Schema):
    """A measure's fields; ``name`` is required when defining one. Thresholds are checked against
    the chart type (run: 5–10, XmR: 6–8); empty (null) takes the rule set's default."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    kind = fields.String(validate=validate.OneOf(MEASURE_KINDS))
    definition = fields.String(validate=validate.Length(max=5000))
    unit_label = fields.String(validate=validate.Length(max=60))
    direction = fields.String(validate=validate.OneOf(DIRECTIONS))
    target = fields.Float(allow_none=True)
    frequency = fields.String(validate=validate.OneOf(FREQUENCIES))
    level = fields.String(validate=validate.OneOf(LEVELS))
    chart_type = fields.String(validate=validate.OneOf(CHART_TYPES))
    rules = fields.String(validate=validate.OneOf(RULE_SETS))
    baseline_points = fields.Integer(allow_none=True, validate=validate.Range(min=1, max=1000))
    shift_points = fields.Integer(allow_none=True, validate=validate.Range(min=5, max=10))
    trend_points = fields.Integer(allow_none=True, validate=validate.Range(min=5, max=10))
    screen_outliers = fields.Boolean()
    recalculations = fields.List(fields.Date(), validate=validate.Length(max=100),
                                 metadata={"description": "periods where the centre line is recalculated"})  # fmt: skip
    aggregation = fields.String(validate=validate.OneOf(AGGREGATIONS))


class MeasureChangeSchema(MeasureInSchema):
    """The fields to change (any of them)."""

    name = fields.String(validate=validate.Length(min=1, max=200))


class ScopeArgs(ma.Schema):
    unit = fields.String(
        load_default=CASE, validate=validate.Regexp(r"^([1-9][0-9]{0,9}|case|region)$"),
        metadata={"description": SCOPE_DOC},
    )  # fmt: skip


class DataPointArgs(PageArgs):
    unit = fields.String(
        load_default=CASE, validate=validate.Regexp(r"^([1-9][0-9]{0,9}|case)$"),
        metadata={"description": "a unit id or `case`"},
    )  # fmt: skip


class ExportArgs(ma.Schema):
    unit = fields.String(
        load_default="all", validate=validate.Regexp(r"^([1-9][0-9]{0,9}|case|all)$"),
        metadata={"description": "a unit id, `case` or `all`"},
    )  # fmt: skip


class SegmentSchema(ma.Schema):
    first = fields.String(required=True)
    last = fields.String(required=True)
    centre = fields.Float(allow_none=True, required=True)
    upper = fields.Float(allow_none=True, required=True)
    lower = fields.Float(allow_none=True, required=True)
    trial = fields.Boolean(required=True, metadata={"description": "limits from fewer points than wanted"})


class CycleMarkSchema(ma.Schema):
    number = fields.Integer(required=True)
    start = fields.String(required=True)
    end = fields.String(required=True)
    decision = fields.String(allow_none=True, required=True)


class ChartSignalSchema(ma.Schema):
    kind = fields.String(required=True, metadata={"description": "shift, trend, beyond_limit, …"})
    variation = fields.String(required=True, metadata={"enum": ["improvement", "concern", "neutral"]})
    direction = fields.String(allow_none=True, required=True)
    periods = fields.List(fields.String(), required=True)


def _numbers() -> fields.List:
    return fields.List(fields.Float(allow_none=True), required=True)


class ChartSchema(ma.Schema):
    """A measure's chart for one scope: one entry per period in every list, the segments (baseline
    and recalculations), the PDSA cycles on the axis, the signals and the current one."""

    measure = fields.Dict(required=True, metadata={"description": "id, name, unit, direction, target, chart, rules"})
    scope = fields.String(required=True, metadata={"enum": ["unit", "case", "region"]})
    labels = fields.List(fields.String(), required=True, metadata={"description": "the periods (ISO dates)"})
    values = _numbers()
    excluded = fields.List(fields.Boolean(), required=True)
    astronomical = fields.List(fields.Boolean(), required=True)
    centre = _numbers()
    upper = _numbers()
    lower = _numbers()
    variation = fields.List(fields.String(allow_none=True), required=True)
    segments = fields.List(fields.Nested(SegmentSchema), required=True)
    cycles = fields.List(fields.Nested(CycleMarkSchema), required=True)
    signals = fields.List(fields.Nested(ChartSignalSchema), required=True)
    current = fields.String(allow_none=True, required=True, metadata={"description": "the latest point's signal"})


class DataPointSchema(ma.Schema):
    """A data point of one series, as its chart reads it."""

    id = fields.Integer(allow_none=True, required=True, attribute="data_point_id")
    period = fields.Date(required=True)
    value = fields.Float(allow_none=True, required=True)
    excluded = fields.Boolean(required=True)
    astronomical = fields.Boolean(required=True)
    annotation = fields.String(required=True)
    cycle_number = fields.Integer(allow_none=True, required=True, metadata={"description": "PDSA cycle in force"})


class DataPointInSchema(ma.Schema):
    """One period's value for a unit (``unit_id`` null: the case as a whole); a stored point of the
    same unit and period is corrected."""

    unit_id = id_field(load_default=None, allow_none=True)
    period = fields.Date(required=True)
    value = fields.Float(required=True)
    numerator = fields.Float(load_default=None, allow_none=True)
    denominator = fields.Float(load_default=None, allow_none=True)
    annotation = fields.String(load_default="", validate=validate.Length(max=MAX_ANNOTATION))
    excluded = fields.Boolean(load_default=False)
    astronomical = fields.Boolean(load_default=False)


class SavedPointSchema(ma.Schema):
    id = fields.Integer(required=True)
    measure_id = fields.Integer(required=True)
    unit_id = fields.Integer(allow_none=True, required=True)
    period = fields.Date(required=True)
    value = fields.Float(required=True)
    numerator = fields.Float(allow_none=True, required=True)
    denominator = fields.Float(allow_none=True, required=True)
    annotation = fields.String(required=True)
    excluded = fields.Boolean(required=True)
    astronomical = fields.Boolean(required=True)
    cycle_id = fields.Integer(allow_none=True, required=True)


class ImportInSchema(ma.Schema):
    csv = fields.String(
        required=True, validate=validate.Length(min=1, max=MAX_CSV_BYTES),
        metadata={"description": "columns period, value (värde); optional unit (enhet), numerator, denominator, "
                  "annotation, excluded, astronomical; comma, semicolon or tab separated; decimal comma accepted"},
    )  # fmt: skip
    unit_id = id_field(load_default=None, allow_none=True, metadata={"description": "for rows without a unit"})


class ImportResultSchema(ma.Schema):
    created = fields.Integer(required=True)
    updated = fields.Integer(required=True)
    unchanged = fields.Integer(required=True)


DataPointPage = page_schema(DataPointSchema, "DataPointPage")


def _scope(text: str) -> int | str | None:
    """The chart scope of a ``unit`` argument: an id, None for the case, or REGION."""
    if text == CASE:
        return None
    if text == REGION:
        return REGION
    unit_id = int(text)
    if unit_id > ID_MAX:
        raise NotFoundError("Enheten ingår inte i ärendet.")
    return unit_id


MEASURE_ATTRIBUTES = tuple(MeasureSchema().fields)


def _measure(measure: Any) -> dict[str, Any]:
    """A measure's attributes as the schemas read them (not yet serialized)."""
    return {name: getattr(measure, name) for name in MEASURE_ATTRIBUTES}


def _detail(measure_id: int) -> dict[str, Any]:
    detail = measure_detail(get_session(), g.actor, measure_id)
    return {**_measure(detail.measure), "case_title": detail.case_title, "can_manage": detail.can_manage, "unit_choices": detail.units,
            "case_points": detail.case_points}  # fmt: skip


@blp.route(f"/cases/<{ID}:case_id>/measures")
class CaseMeasures(MethodView):
    @blp.response(200, MeasureSummarySchema(many=True))
    @errors(blp, 403, 404)
    def get(self, case_id: int) -> Any:
        """The case's measures by name, each with its number of data points and latest period."""
        return [
            {**_measure(s.measure), "points": s.points, "units": s.units, "latest": s.latest}
            for s in list_measures(get_session(), g.actor, case_id)
        ]

    @blp.arguments(MeasureInSchema())
    @blp.response(201, MeasureSchema)
    @errors(blp, 403, 404)
    def post(self, body: dict[str, Any], case_id: int) -> Any:
        """Define a measure of the case (its coordinators and admins)."""
        return create_measure(get_session(), g.actor, case_id, **body), 201


@blp.route(f"/measures/<{ID}:measure_id>")
class MeasureResource(MethodView):
    @blp.response(200, MeasureDetailSchema)
    @errors(blp, 403, 404)
    def get(self, measure_id: int) -> Any:
        """A measure with its case's units and whether you may change it."""
        return _detail(measure_id)

    @blp.arguments(MeasureChangeSchema())
    @blp.response(200, MeasureDetailSchema)
    @errors(blp, 403, 404)
    def patch(self, body: dict[str, Any], measure_id: int) -> Any:
        """Change some of a measure's fields (its case's coordinators and admins); the changed ones
        are audited with before and after."""
        update_measure(get_session(), g.actor, measure_id, **body)
        return _detail(measure_id)


@blp.route(f"/measures/<{ID}:measure_id>/chart")
class MeasureChart(MethodView):
    @blp.arguments(ScopeArgs(), location="query")
    @blp.response(200, ChartSchema)
    @errors(blp, 403, 404)
    def get(self, args: dict[str, Any], measure_id: int) -> Any:
        """The measure's chart for a unit, the case as a whole or the region (422 for the region
        when the measure does not add up)."""
        return chart_view(get_session(), g.actor, measure_id, _scope(args["unit"])).as_json()


@blp.route(f"/measures/<{ID}:measure_id>/data-points")
class DataPoints(MethodView):
    @blp.arguments(DataPointArgs(), location="query")
    @blp.response(200, DataPointPage)
    @errors(blp, 403, 404)
    def get(self, args: dict[str, Any], measure_id: int) -> Any:
        """One series' data points (a unit's, or the case's as a whole) in period order."""
        points = chart_view(get_session(), g.actor, measure_id, _scope(args["unit"])).points
        start = (args["page"] - 1) * args["page_size"]
        return paginate(points[start : start + args["page_size"]], len(points), args)

    @blp.arguments(DataPointInSchema())
    @blp.response(200, SavedPointSchema)
    @errors(blp, 403, 404)
    def post(self, body: dict[str, Any], measure_id: int) -> Any:
        """Enter or correct one period's value (the case's participants); tied to the PDSA cycle in
        force for the unit and period."""
        unit_id = body.pop("unit_id")
        return save_data_point(get_session(), g.actor, measure_id, unit_id=unit_id, **body)


@blp.route(f"/measures/<{ID}:measure_id>/data-points/import")
class DataPointImport(MethodView):
    @blp.arguments(ImportInSchema())
    @blp.response(200, ImportResultSchema)
    @errors(blp, 403, 404)
    def post(self, body: dict[str, Any], measure_id: int) -> Any:
        """Import data points from CSV, all or nothing: any bad row answers 422 with a field error per
        bad row (``rad N``, the header being row 1) and nothing is stored."""
        return import_data_points_csv(get_session(), g.actor, measure_id, body["csv"], unit_id=body["unit_id"])


@blp.route(f"/measures/<{ID}:measure_id>/data-points.csv")
class DataPointExport(MethodView):
    @blp.arguments(ExportArgs(), location="query")
    @blp.response(200, {"type": "string"}, content_type="text/csv", description="semicolon separated, UTF-8")
    @errors(blp, 403, 404)
    def get(self, args: dict[str, Any], measure_id: int) -> Response:
        """The data points as CSV in the format the import reads (semicolon separated, decimal comma)."""
        unit: int | str | None = "all" if args["unit"] == "all" else _scope(args["unit"])
        text = export_data_points_csv(get_session(), g.actor, measure_id, unit)  # type: ignore[arg-type]
        response = Response(text, mimetype="text/csv")
        response.headers["Content-Disposition"] = f'attachment; filename="matetal-{measure_id}.csv"'
        return response
