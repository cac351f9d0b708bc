"""Reading a task's JSON Schema for forms, and turning a submitted HTML form back into JSON data.

The names the renderer gives its fields are the prefix and the data path joined with dots
(``f.areas.0.name``); :func:`parse_form` walks the schema, looks those names up and converts the strings
to the types the schema asks for. It never raises on junk: a value it cannot convert is kept as the
submitted string so that server-side validation reports it beside its field.

The no-JavaScript row buttons submit ``<prefix>-row-action`` with a value like ``add:areas`` or
``remove:areas.2``; :func:`form_actions` recognises them and :func:`apply_action` adds or removes the row.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "MISSING",
    "Choice",
    "action_field_name",
    "apply_action",
    "boolean_is_checkbox",
    "choices",
    "displayed_rows",
    "encode_choice",
    "field_name",
    "form_actions",
    "is_object",
    "item_schema",
    "ordered_properties",
    "parse_form",
    "required_names",
    "schema_type",
    "ui_child",
    "ui_option",
]

TRUE_WORDS: Final = frozenset({"ja", "on", "true", "1", "yes"})
FALSE_WORDS: Final = frozenset({"nej", "off", "false", "0", "no"})

_INDEX = re.compile(r"0|[1-9][0-9]{0,8}")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_SPACES = re.compile(r"[\s\u00a0\u202f]+")


class _Missing:
    """The marker for "no value": the key is left out of the parsed data."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()


# --------------------------------------------------------------------------------------------------------------------
# Reading the schema (shared with the renderer)


@dataclass(frozen=True)
class Choice:
    """One option of an enum: the JSON value, its label and the string the HTML form carries."""

    value: Any
    label: str
    encoded: str


def encode_choice(value: Any) -> str:
    """The form value of an enum option: strings as they are, anything else as JSON-ish text."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def schema_type(schema: Mapping[str, Any]) -> str | None:
    """The schema's ``type``; of a list of types the first that is not ``null``."""
    t = schema.get("type")
    if isinstance(t, str):
        return t
    if isinstance(t, list):
        for name in t:
            if isinstance(name, str) and name != "null":
                return name
    return None


def choices(schema: Mapping[str, Any]) -> list[Choice] | None:
    """The options of an enum (``oneOf`` of ``const`` with ``title``, or plain ``enum``), else None."""
    one_of = schema.get("oneOf")
    if isinstance(one_of, list) and one_of and all(isinstance(o, dict) and "const" in o for o in one_of):
        return [
            Choice(o["const"], str(o.get("title") or encode_choice(o["const"])), encode_choice(o["const"]))
            for o in one_of
        ]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return [Choice(v, encode_choice(v), encode_choice(v)) for v in enum]
    return None


def ui_child(ui: Mapping[str, Any] | None, key: str) -> Mapping[str, Any] | None:
    """The UI schema of a property (``ui[key]``) or of array items (``ui["items"]``)."""
    if not ui:
        return None
    child = ui.get(key)
    return child if isinstance(child, Mapping) else None


def ui_option(ui: Mapping[str, Any] | None, name: str) -> Any:
    """One option from a UI schema node, e.g. ``ui_option(ui, "widget")`` reads ``"ui:widget"``."""
    return ui.get("ui:" + name) if ui else None


def ordered_properties(schema: Mapping[str, Any], ui: Mapping[str, Any] | None) -> list[tuple[str, dict[str, Any]]]:
    """The object's properties in schema order, or as ``ui:order`` says (``"*"`` stands for the rest)."""
    props = schema.get("properties")
    if not isinstance(props, dict):
        return []
    items = [(k, v if isinstance(v, dict) else {}) for k, v in props.items()]
    order = ui_option(ui, "order")
    if not isinstance(order, list):
        return items
    named = [k for k in order if isinstance(k, str) and k != "*" and k in props]
    rest = [k for k, _ in items if k not in named]
    keys: list[str] = []
    for k in order if "*" in order else [*order, "*"]:
        if k == "*":
            keys += rest
        elif k in named and k not in keys:
            keys.append(k)
    return [(k, props[k] if isinstance(props[k], dict) else {}) for k in keys]


def required_names(schema: Mapping[str, Any]) -> frozenset[str]:
    """The object's ``required`` property names."""
    req = schema.get("required")
    return frozenset(r for r in req if isinstance(r, str)) if isinstance(req, list) else frozenset()


def is_object(schema: Mapping[str, Any]) -> bool:
    """An object with properties (``type`` may be left out): rendered as its fields."""
    return schema_type(schema) in ("object", None) and isinstance(schema.get("properties"), dict)


def item_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The schema of an array's items (``{}`` when missing or a tuple form)."""
    items = schema.get("items")
    return items if isinstance(items, dict) else {}


def boolean_is_checkbox(required: bool, ui: Mapping[str, Any] | None) -> bool:
    """A required boolean is a Ja/Nej radio group, an optional one a checkbox (``ui:widget`` overrides)."""
    widget = ui_option(ui, "widget")
    if widget == "checkbox":
        return True
    if widget == "radio":
        return False
    return not required


def _int_or(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else default


def displayed_rows(schema: Mapping[str, Any], count: int) -> int:
    """How many rows the renderer shows for an array with ``count`` items: at least minItems and at least
    one (an empty row costs nothing: entirely empty rows are dropped when parsing), at most maxItems."""
    min_items = _int_or(schema.get("minItems"), 0)
    max_items = _int_or(schema.get("maxItems"), -1)
    rows = max(count, min_items, 1)
    if max_items >= 0:
        rows = min(rows, max(max_items, count))
    return rows


def field_name(prefix: str, path: tuple[str | int, ...]) -> str:
    """The HTML ``name`` of the field at ``path``: ``f.areas.0.name``."""
    return ".".join([prefix, *map(str, path)])


def action_field_name(prefix: str) -> str:
    """The ``name`` of the row buttons (add/remove) of the form with this prefix."""
    return f"{prefix}-row-action"


# --------------------------------------------------------------------------------------------------------------------
# Parsing


class _Submitted:
    """The submitted pairs, with the row indices under each array name found once."""

    def __init__(self, form: Mapping[str, Any], prefix: str) -> None:
        getlist = getattr(form, "getlist", None)
        self._lists: dict[str, list[str]] = {}
        self._indices: dict[str, set[str]] = {}
        head = prefix + "."
        for key in form:
            if not isinstance(key, str) or not key.startswith(head):
                continue
            raw = getlist(key) if callable(getlist) else [form[key]]
            self._lists[key] = [v if isinstance(v, str) else str(v) for v in raw if v is not None]
            parts = key.split(".")
            for i in range(1, len(parts)):
                if _INDEX.fullmatch(parts[i]):
                    self._indices.setdefault(".".join(parts[:i]), set()).add(parts[i])

    def values(self, name: str) -> list[str]:
        return self._lists.get(name, [])

    def first(self, name: str) -> str | None:
        values = self._lists.get(name)
        return values[0] if values else None

    def indices(self, name: str) -> list[str]:
        return sorted(self._indices.get(name, ()), key=int)


def _clean(raw: str) -> str:
    return raw.replace("\r\n", "\n").replace("\r", "\n").strip()


def _parse_number(text: str, integer: bool) -> Any:
    compact = _SPACES.sub("", text).replace(",", ".").replace("\u2212", "-")
    if _INTEGER.fullmatch(compact):
        try:
            return int(compact)
        except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits): not a number
            return text
    if _NUMBER.fullmatch(compact):
        value = float(compact)
        if math.isfinite(value):
            if integer and value.is_integer():
                return int(value)
            return value
    return text


def _parse(
    schema: Mapping[str, Any], name: str, sub: _Submitted, required: bool, ui: Mapping[str, Any] | None, keep: bool
) -> tuple[Any, bool]:
    """The value at ``name`` (or MISSING) and whether the person filled in anything there."""
    options = choices(schema)
    kind = schema_type(schema)
    if options is not None:
        raw = sub.first(name)
        text = _clean(raw) if raw is not None else ""
        if not text:
            return MISSING, False
        for option in options:
            if option.encoded == text or option.encoded == raw:
                return option.value, True
        return text, True
    if is_object(schema):
        data: dict[str, Any] = {}
        filled = False
        req = required_names(schema)
        for key, prop in ordered_properties(schema, ui):
            value, f = _parse(prop, f"{name}.{key}", sub, key in req, ui_child(ui, key), keep)
            if value is MISSING or (isinstance(value, dict) and not f):
                continue  # a nested object left empty is left out, like any empty field
            data[key] = value
            filled = filled or f
        return data, filled
    if kind == "array":
        items = item_schema(schema)
        item_ui = ui_child(ui, "items")
        rows: list[Any] = []
        any_filled = False
        for index in sub.indices(name):
            value, f = _parse(items, f"{name}.{index}", sub, True, item_ui, keep)
            if f or keep:
                rows.append(_empty_item(items) if value is MISSING else value)
            any_filled = any_filled or f
        if not rows or not (any_filled or keep):
            return MISSING, False
        return rows, any_filled
    if kind == "boolean":
        values = [_clean(v).lower() for v in sub.values(name)]
        checkbox = boolean_is_checkbox(required, ui)
        if any(v in TRUE_WORDS for v in values):
            return True, True
        if any(v in FALSE_WORDS for v in values):
            return False, True
        junk = [v for v in sub.values(name) if _clean(v)]
        if junk:
            return _clean(junk[0]), True
        # An unchecked checkbox sends nothing: that is "no". An unanswered radio group is "no answer".
        return (False, False) if checkbox else (MISSING, False)
    raw = sub.first(name)
    text = _clean(raw) if raw is not None else ""
    if not text:
        return MISSING, False
    if kind in ("integer", "number"):
        return _parse_number(text, kind == "integer"), True
    return text, True


def _empty_item(items: Mapping[str, Any]) -> Any:
    return {} if is_object(items) or schema_type(items) == "object" else ""


def parse_form(
    schema: dict[str, Any],
    form: Mapping[str, Any],
    *,
    prefix: str = "f",
    ui_schema: dict[str, Any] | None = None,
    keep_empty_rows: bool | None = None,
) -> dict[str, Any]:
    """Turn a submitted form back into JSON data for ``schema`` (the inverse of ``render_form``).

    Args:
        schema: the form's JSON Schema (an object schema).
        form: the submitted pairs: a werkzeug ``MultiDict`` (``request.form``) or a plain mapping.
        prefix: the prefix the form was rendered with.
        ui_schema: the UI schema it was rendered with (only ``ui:widget`` of booleans matters here).
        keep_empty_rows: keep entirely empty array rows (as ``{}`` or ``""``), so that the row indices of a
            row button still match the rows on screen. By default (None) they are kept exactly when a row
            button submitted the form (:func:`form_actions` is not None), and dropped otherwise.

    Returns:
        The data: numbers converted, booleans from ``ja``/``nej``/``on`` (an optional boolean is a
        checkbox, so its absence is ``False``), enum options mapped back to their values, empty fields
        left out, arrays rebuilt from the indices in order (gaps closed, entirely empty rows dropped).
        Names that are not in the schema are ignored. A value that cannot be converted is kept as the
        submitted string, for validation to report beside its field.
    """
    if keep_empty_rows is None:
        keep_empty_rows = form_actions(form, prefix=prefix) is not None
    sub = _Submitted(form, prefix)
    value, _ = _parse(schema, prefix, sub, True, ui_schema, keep_empty_rows)
    return value if isinstance(value, dict) else {}


# --------------------------------------------------------------------------------------------------------------------
# Row buttons


def _segments(path: str) -> list[str] | None:
    parts = path.split(".")
    return parts if path and all(parts) else None


def form_actions(form: Mapping[str, Any], *, prefix: str = "f") -> tuple[str, str] | None:
    """The row button that submitted the form, if it was one.

    Returns:
        ``("add", "areas")`` for "Lägg till rad", ``("remove", "areas.2")`` for "Ta bort rad 3", None when
        the form was submitted some other way (or the value is junk).
    """
    raw = form.get(action_field_name(prefix))
    if not isinstance(raw, str):
        return None
    verb, _, path = raw.partition(":")
    parts = _segments(path)
    if parts is None:
        return None
    if verb == "add":
        return ("add", path)
    if verb == "remove" and len(parts) > 1 and _INDEX.fullmatch(parts[-1]):
        return ("remove", path)
    return None


def _schema_at(schema: Mapping[str, Any] | None, parts: list[str]) -> Mapping[str, Any] | None:
    node = schema
    for part in parts:
        if node is None:
            return None
        if schema_type(node) == "array" and _INDEX.fullmatch(part):
            node = item_schema(node)
        else:
            props = node.get("properties")
            child = props.get(part) if isinstance(props, dict) else None
            node = child if isinstance(child, dict) else None
    return node


def _walk(data: Any, parts: list[str]) -> Iterator[Any]:
    node = data
    for part in parts:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and _INDEX.fullmatch(part) and int(part) < len(node):
            node = node[int(part)]
        else:
            return
    yield node


def _container(data: dict[str, Any], parts: list[str]) -> Any:
    """The dict or list that holds the last part of ``parts``, made on the way where missing."""
    node: Any = data
    for part in parts[:-1]:
        if isinstance(node, dict):
            nxt = node.get(part)
            if not isinstance(nxt, (dict, list)):
                nxt = {}
                node[part] = nxt
            node = nxt
        elif isinstance(node, list) and _INDEX.fullmatch(part) and int(part) < len(node):
            if not isinstance(node[int(part)], (dict, list)):
                node[int(part)] = {}
            node = node[int(part)]
        else:
            return None
    return node


def apply_action(
    data: Mapping[str, Any], action: tuple[str, str], *, schema: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A copy of ``data`` with the row added or removed that :func:`form_actions` reported.

    ``data`` is what :func:`parse_form` gave for the same submission (it keeps the empty rows then, so that
    the indices match the rows on screen). Unknown verbs and paths leave the data as it is.
    With ``schema`` the new row is of the right kind (``{}`` or ``""``), an array shown with more rows
    than it holds (minItems, the one empty row) is padded first, and maxItems is respected.
    """
    result: dict[str, Any] = copy.deepcopy(dict(data))
    verb, path = action
    parts = _segments(path)
    if parts is None:
        return result
    if verb == "add":
        array_schema = _schema_at(schema, parts)
        holder = _container(result, parts)
        key = parts[-1]
        if isinstance(holder, dict):
            rows = holder.get(key)
            if not isinstance(rows, list):
                rows = []
                holder[key] = rows
        elif isinstance(holder, list) and _INDEX.fullmatch(key) and int(key) < len(holder):
            rows = holder[int(key)]
            if not isinstance(rows, list):
                rows = []
                holder[int(key)] = rows
        else:
            return result
        if array_schema is not None:
            items = item_schema(array_schema)
            while len(rows) < displayed_rows(array_schema, len(rows)):
                rows.append(_empty_item(items))
            max_items = _int_or(array_schema.get("maxItems"), -1)
            if max_items < 0 or len(rows) < max_items:
                rows.append(_empty_item(items))
        else:
            rows.append("" if rows and all(isinstance(r, str) for r in rows) else {})
        return result
    if verb == "remove" and len(parts) > 1 and _INDEX.fullmatch(parts[-1]):
        for rows in _walk(result, parts[:-1]):
            if isinstance(rows, list) and int(parts[-1]) < len(rows):
                del rows[int(parts[-1])]
    return result
