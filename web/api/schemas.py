"""Marshmallow schemas shared by the API resources: errors, pagination, and the small building
blocks (people, units). Resource-specific schemas live beside their resource."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

MAX_PAGE_SIZE = 200


class ErrorSchema(ma.Schema):
    """Every error answer: the HTTP status, a stable code, a message for people, field errors."""

    status = fields.Integer(required=True, metadata={"description": "HTTP status"})
    code = fields.String(required=True, metadata={"description": "stable error code, e.g. not_found"})
    message = fields.String(required=True, metadata={"description": "what went wrong (Swedish)"})
    errors = fields.Dict(
        keys=fields.String(), values=fields.List(fields.String()), required=True,
        metadata={"description": "field -> messages (empty when the error is not about a field)"},
    )  # fmt: skip


class PageArgs(ma.Schema):
    """Pagination arguments of a list."""

    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    page_size = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_PAGE_SIZE))


def page_schema(item: type[ma.Schema], name: str) -> type[ma.Schema]:
    """A page of ``item``s with the total count."""
    attrs: dict[str, Any] = {
        "items": fields.List(fields.Nested(item), required=True),
        "total": fields.Integer(required=True, metadata={"description": "items in all pages"}),
        "page": fields.Integer(required=True),
        "page_size": fields.Integer(required=True),
    }
    return type(name, (ma.Schema,), attrs)


def paginate(items: list[Any], total: int, args: dict[str, Any]) -> dict[str, Any]:
    """The page envelope."""
    return {"items": items, "total": total, "page": args["page"], "page_size": args["page_size"]}


class ChoiceSchema(ma.Schema):
    """An id with its name (pathways, regions, units, roles, people)."""

    id = fields.Raw(required=True, metadata={"description": "id (a number; a code for roles)"})
    name = fields.String(required=True)


ID_MAX = 2**31 - 1
"""The largest id: ids are 32-bit integer columns on PostgreSQL, so a larger number in a path or a
parameter can name nothing (and would overflow the database's parameter type)."""
ID = f"int(max={ID_MAX})"
"""The path converter of an id: ``/cases/<{ID}:case_id>`` (larger numbers are a plain 404)."""


def id_field(**kwargs: Any) -> fields.Integer:
    """An id in a query or a body: a positive 32-bit integer."""
    return fields.Integer(validate=validate.Range(min=1, max=ID_MAX), **kwargs)


WRITES = frozenset({"post", "put", "patch", "delete"})


def errors(blp: Any, *statuses: int) -> Any:
    """Document the error answers an operation can give (each in :class:`ErrorSchema`): always 401
    (no or a bad token), and 400 for writes (a malformed body, or a cookie-authenticated write
    without its CSRF token). 422 of the arguments is documented by ``@blp.arguments``."""

    def decorate(func: Any) -> Any:
        always = {401, 400} if func.__name__ in WRITES else {401}
        for status in sorted(always | set(statuses), reverse=True):
            func = blp.alt_response(status, response=HTTPStatus(status).name)(func)
        return func

    return decorate
