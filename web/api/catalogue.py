"""The catalogue: national pathways, regions, units, case roles, people and published processes
(what the other resources' ids refer to)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields

from engine.services import lookups
from web.api.schemas import errors
from web.db import get_session

blp = Blueprint("api_catalogue", __name__, description="Katalog: vårdförlopp, regioner, enheter, roller")


class ChoiceSchema(ma.Schema):
    id = fields.Raw(required=True, metadata={"description": "a number (a code for roles and processes)"})
    label = fields.String(required=True)
    group = fields.String(required=True, metadata={"description": "units: administration, region"})


def _list(name: str, source: Any, doc: str) -> None:
    def get(self: MethodView) -> Any:
        return source(get_session())

    get.__doc__ = doc
    view = type(
        f"Catalogue{name.title()}", (MethodView,), {"get": blp.response(200, ChoiceSchema(many=True))(errors(blp)(get))}
    )
    blp.route(f"/catalogue/{name}")(view)


_list("pathways", lookups.pathways, "The national care pathways.")
_list("regions", lookups.regions, "The regions.")
_list("units", lookups.units, "The units, with their administration and region.")
_list("roles", lookups.roles, "The case roles (a lane's name is one of them).")
_list("people", lookups.people, "Active people (for participants and reassignment).")
_list("processes", lookups.processes, "The published process models.")
