"""Rendering a task's JSON Schema form as accessible server-side HTML (WCAG 2.1 AA).

Every input has a ``<label for>``; radio groups, nested objects, arrays and array rows are fieldsets with a
legend; help and error texts are linked with ``aria-describedby``; an invalid field gets
``aria-invalid="true"`` and its error text (after a visually hidden "Fel:") right before the input.
There is no JavaScript: rows are added and removed with submit buttons (see ``web.forms.parse``).

CSS classes: ``form-fields``, ``form-field``, ``form-field--error``, ``form-label``, ``form-help``,
``form-error``, ``form-required``, ``form-group``, ``form-legend``, ``form-radios``, ``form-radio``,
``form-checkbox``, ``form-array``, ``form-row``, ``form-row-add``, ``form-row-remove``,
``form-error-summary`` and ``visually-hidden`` (hidden on screen, read by screen readers).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from flask_babel import gettext as _t
from markupsafe import Markup, escape

from web.forms.parse import (
    Choice,
    action_field_name,
    boolean_is_checkbox,
    choices,
    displayed_rows,
    field_name,
    is_object,
    item_schema,
    ordered_properties,
    required_names,
    schema_type,
    ui_child,
    ui_option,
)

__all__ = ["error_summary", "field_id", "render_form"]

RADIO_LIMIT: Final = 5
"""Enums with at most this many options are radio groups; more options make a ``<select>``."""
TEXTAREA_FROM: Final = 200
"""Strings with a maxLength above this (or none) are ``<textarea>``s."""


def _required_marker() -> Markup:
    return Markup(' <span class="form-required">({})</span>').format(_t("obligatoriskt"))


def _error_prefix() -> Markup:
    return Markup('<span class="visually-hidden">{}</span> ').format(_t("Fel:"))


_FORMAT_INPUT: Final = {"date": "date", "uri": "url", "email": "email"}

Path = tuple[str | int, ...]


# --------------------------------------------------------------------------------------------------------------------
# Ids, attributes


def _id_part(part: str) -> str:
    """Letters, digits and ``_`` as they are; anything else (``-`` too) as ``~hex~``: the mapping is
    one-to-one, so ids of different paths never clash, and ``--`` is left for suffixes."""
    if part == "":
        return "~~"
    return "".join(ch if ch.isalnum() or ch == "_" else f"~{ord(ch):x}~" for ch in part)


def field_id(prefix: str, path: Path) -> str:
    """The ``id`` of the field (or fieldset) at ``path``: ``f-areas-0-name``; unique by construction."""
    return "-".join([_id_part(prefix), *(_id_part(str(p)) for p in path)])


def _error_key(path: Path) -> str:
    return "/".join(map(str, path))


def _attrs(pairs: Iterable[tuple[str, Any]]) -> Markup:
    """`` name="value"`` pairs, escaped; ``True`` gives a bare attribute, ``None``/``False`` none."""
    out = []
    for name, value in pairs:
        if value is None or value is False:
            continue
        if value is True:
            out.append(Markup(" ") + name)
        else:
            out.append(Markup(' {}="{}"').format(Markup(name), value))
    return Markup("").join(out)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _number_text(value: Any) -> tuple[str, bool]:
    """The value of a number input and whether it is a valid number (junk is shown as typed)."""
    if isinstance(value, bool) or value is None:
        return "", True
    if isinstance(value, int):
        return str(value), True
    if isinstance(value, float):
        return (repr(value), True) if math.isfinite(value) else ("", True)
    if isinstance(value, str):
        return value, False
    return "", True


# --------------------------------------------------------------------------------------------------------------------
# The renderer


@dataclass
class _Field:
    """What every field needs: where it is, its texts, and its state."""

    path: Path
    schema: Mapping[str, Any]
    ui: Mapping[str, Any] | None
    label: str
    required: bool  # required by its parent (the widget of a boolean depends on it)
    enforce: bool  # present for sure (all ancestors too): the HTML ``required`` attribute
    value: Any
    id: str = ""
    name: str = ""
    help: str = ""
    messages: list[str] = field(default_factory=list)
    marker: bool = True  # show "(obligatoriskt)" when required


class _Renderer:
    def __init__(self, prefix: str, errors: Mapping[str, list[str]] | None) -> None:
        self.prefix = prefix
        self.errors = {k: [str(m) for m in v] for k, v in (errors or {}).items() if v}
        self.shown: set[str] = set()
        self.row_buttons = False

    # -- pieces ------------------------------------------------------------------------------------------------------

    def field(
        self,
        path: Path,
        schema: Mapping[str, Any],
        ui: Mapping[str, Any] | None,
        label: str,
        required: bool,
        enforce: bool,
        value: Any,
        marker: bool = True,
    ) -> _Field:
        help_parts = [str(schema.get("description") or ""), str(ui_option(ui, "help") or "")]
        key = _error_key(path)
        self.shown.add(key)
        return _Field(
            path=path,
            schema=schema,
            ui=ui,
            label=str(ui_option(ui, "title") or label),
            required=required,
            enforce=enforce,
            value=value,
            id=field_id(self.prefix, path),
            name=field_name(self.prefix, path),
            help=" ".join(p for p in help_parts if p),
            messages=self.errors.get(key, []),
            marker=marker,
        )

    @staticmethod
    def help(f: _Field) -> Markup:
        if not f.help:
            return Markup("")
        return Markup('<p class="form-help" id="{}--help">{}</p>').format(f.id, f.help)

    @staticmethod
    def error(f: _Field) -> Markup:
        if not f.messages:
            return Markup("")
        body = Markup("<br>").join(_error_prefix() + escape(m) for m in f.messages)
        return Markup('<p class="form-error" id="{}--error">{}</p>').format(f.id, body)

    @staticmethod
    def described(f: _Field) -> str | None:
        ids = [f"{f.id}--help"] if f.help else []
        ids += [f"{f.id}--error"] if f.messages else []
        return " ".join(ids) or None

    @staticmethod
    def wrapper_class(f: _Field, extra: str = "") -> str:
        return " ".join(c for c in ("form-field", extra, "form-field--error" if f.messages else "") if c)

    @staticmethod
    def label(f: _Field) -> Markup:
        marker = _required_marker() if f.required and f.marker else Markup("")
        return Markup('<label class="form-label" for="{}">{}{}</label>').format(f.id, f.label, marker)

    @staticmethod
    def legend(f: _Field) -> Markup:
        marker = _required_marker() if f.required and f.marker else Markup("")
        return Markup('<legend class="form-legend">{}{}</legend>').format(f.label, marker)

    # -- dispatch ----------------------------------------------------------------------------------------------------

    def render(
        self,
        path: Path,
        schema: Mapping[str, Any],
        ui: Mapping[str, Any] | None,
        label: str,
        required: bool,
        enforce: bool,
        value: Any,
        marker: bool = True,
    ) -> Markup:
        f = self.field(path, schema, ui, label, required, enforce, value, marker)
        widget = ui_option(ui, "widget")
        options = choices(schema)
        kind = schema_type(schema)
        if options is not None:
            if widget == "select" or (widget != "radio" and len(options) > RADIO_LIMIT):
                return self.select(f, options)
            return self.radios(f, [(o.encoded, o.label) for o in options], encode_or_none(value, options))
        if is_object(schema):
            return self.object(f)
        if kind == "array":
            return self.array(f)
        if kind == "boolean":
            if boolean_is_checkbox(required, ui):
                return self.checkbox(f)
            current = "ja" if value is True else "nej" if value is False else None
            return self.radios(f, [("ja", _t("Ja")), ("nej", _t("Nej"))], current, allow_none=False)
        if kind in ("integer", "number"):
            return self.number(f, kind == "integer")
        if kind == "string" and widget != "text":
            fmt = schema.get("format")
            max_length = schema.get("maxLength")
            long = not isinstance(max_length, int) or max_length > TEXTAREA_FROM
            if widget == "textarea" or (fmt not in _FORMAT_INPUT and long):
                return self.textarea(f)
            return self.input(f, _FORMAT_INPUT.get(str(fmt), "text"))
        return self.input(f, "text")

    # -- widgets -----------------------------------------------------------------------------------------------------

    def common(self, f: _Field, *, required_attr: bool = True) -> list[tuple[str, Any]]:
        return [
            ("id", f.id),
            ("name", f.name),
            ("required", required_attr and f.enforce and f.required),
            ("aria-describedby", self.described(f)),
            ("aria-invalid", "true" if f.messages else None),
        ]

    def lengths(self, f: _Field) -> list[tuple[str, Any]]:
        max_length = f.schema.get("maxLength")
        min_length = f.schema.get("minLength")
        return [
            ("maxlength", max_length if isinstance(max_length, int) and not isinstance(max_length, bool) else None),
            ("minlength", min_length if isinstance(min_length, int) and min_length > 1 else None),
        ]

    def wrap(self, f: _Field, control: Markup) -> Markup:
        return Markup('<div class="{}">{}{}{}{}</div>').format(
            self.wrapper_class(f), self.label(f), self.help(f), self.error(f), control
        )

    def input(self, f: _Field, input_type: str) -> Markup:
        attrs: list[tuple[str, Any]] = [("type", input_type), ("class", "form-input"), *self.common(f)]
        if input_type in ("text", "url", "email"):
            attrs += self.lengths(f)
        autocomplete = ui_option(f.ui, "autocomplete")
        attrs += [("value", _text(f.value)), ("autocomplete", autocomplete if isinstance(autocomplete, str) else None)]
        return self.wrap(f, Markup("<input{}>").format(_attrs(attrs)))

    def textarea(self, f: _Field) -> Markup:
        rows = ui_option(f.ui, "rows")
        if not isinstance(rows, int) or isinstance(rows, bool) or rows < 1:
            max_length = f.schema.get("maxLength")
            rows = 4 if isinstance(max_length, int) and max_length <= 1000 else 8
        attrs = [("class", "form-textarea"), ("rows", rows), *self.common(f), *self.lengths(f)]
        # The newline after the start tag is eaten by the HTML parser, so a value's own leading newline survives.
        return self.wrap(f, Markup("<textarea{}>\n{}</textarea>").format(_attrs(attrs), _text(f.value)))

    def number(self, f: _Field, integer: bool) -> Markup:
        text, valid = _number_text(f.value)
        if valid:
            minimum, maximum = f.schema.get("minimum"), f.schema.get("maximum")
            attrs: list[tuple[str, Any]] = [
                ("type", "number"),
                ("class", "form-input form-input--number"),
                ("step", "1" if integer else "any"),
                ("min", minimum if _is_number(minimum) else None),
                ("max", maximum if _is_number(maximum) else None),
            ]
        else:
            # A type=number input would drop the junk value; show it as typed next to its error.
            attrs = [("type", "text"), ("class", "form-input form-input--number")]
            attrs.append(("inputmode", "numeric" if integer else "decimal"))
        attrs += [*self.common(f), ("value", text)]
        return self.wrap(f, Markup("<input{}>").format(_attrs(attrs)))

    def checkbox(self, f: _Field) -> Markup:
        attrs: list[tuple[str, Any]] = [
            ("type", "checkbox"),
            ("class", "form-checkbox-input"),
            *self.common(f, required_attr=False),
        ]
        attrs += [("value", "ja"), ("checked", f.value is True)]
        return Markup('<div class="{}">{}<div class="form-checkbox"><input{}>{}</div>{}</div>').format(
            self.wrapper_class(f, "form-field--checkbox"), self.error(f), _attrs(attrs), self.label(f), self.help(f)
        )

    def radios(
        self, f: _Field, options: list[tuple[str, str]], current: str | None, *, allow_none: bool | None = None
    ) -> Markup:
        if allow_none is None:
            allow_none = not f.required
        if allow_none:
            # Without JavaScript a chosen radio button cannot be unchosen: offer "no choice" for optional ones.
            options = [*options, ("", _t("Inget val"))]
            current = current if current is not None else ""
        items = []
        for index, (encoded, text) in enumerate(options):
            option_id = f.id if index == 0 else f"{f.id}--{index}"
            attrs = [
                ("type", "radio"),
                ("class", "form-radio-input"),
                ("id", option_id),
                ("name", f.name),
                ("value", encoded),
                ("checked", current is not None and encoded == current),
                ("aria-invalid", "true" if f.messages else None),
            ]
            items.append(
                Markup(
                    '<div class="form-radio"><input{}><label class="form-radio-label" for="{}">{}</label></div>'
                ).format(_attrs(attrs), option_id, text)
            )
        group: list[tuple[str, Any]] = [
            ("class", "form-group form-group--radios"),
            ("aria-describedby", self.described(f)),
        ]
        return Markup('<div class="{}"><fieldset{}>{}{}{}<div class="form-radios">{}</div></fieldset></div>').format(
            self.wrapper_class(f),
            _attrs(group),
            self.legend(f),
            self.help(f),
            self.error(f),
            Markup("").join(items),
        )

    def select(self, f: _Field, options: list[Choice]) -> Markup:
        current = encode_or_none(f.value, options)
        rendered = [
            Markup('<option value=""{}>{}</option>').format(_attrs([("selected", current is None)]), _t("Välj…"))
        ]
        rendered += [
            Markup("<option{}>{}</option>").format(
                _attrs([("value", o.encoded), ("selected", current == o.encoded)]), o.label
            )
            for o in options
        ]
        attrs = [("class", "form-select"), *self.common(f)]
        return self.wrap(f, Markup("<select{}>{}</select>").format(_attrs(attrs), Markup("").join(rendered)))

    # -- groups ------------------------------------------------------------------------------------------------------

    def properties(self, f: _Field) -> Markup:
        value = f.value if isinstance(f.value, dict) else {}
        req = required_names(f.schema)
        parts = []
        for key, prop in ordered_properties(f.schema, f.ui):
            title = prop.get("title")
            parts.append(
                self.render(
                    (*f.path, key),
                    prop,
                    ui_child(f.ui, key),
                    str(title) if title else key,
                    key in req,
                    f.enforce and key in req,
                    value.get(key),
                )
            )
        return Markup("").join(parts)

    def object(self, f: _Field) -> Markup:
        group: list[tuple[str, Any]] = [("class", self.wrapper_class(f, "form-group form-object")), ("id", f.id)]
        group.append(("aria-describedby", self.described(f)))
        return Markup("<fieldset{}>{}{}{}{}</fieldset>").format(
            _attrs(group), self.legend(f), self.help(f), self.error(f), self.properties(f)
        )

    def array(self, f: _Field) -> Markup:
        items = item_schema(f.schema)
        item_ui = ui_child(f.ui, "items")
        data = f.value if isinstance(f.value, list) else []
        shown = displayed_rows(f.schema, len(data))
        min_items = f.schema.get("minItems")
        min_items = min_items if isinstance(min_items, int) else 0
        max_items = f.schema.get("maxItems")
        action = action_field_name(self.prefix)
        self.row_buttons = True
        rows = []
        for index in range(shown):
            value = data[index] if index < len(data) else None
            row_path = (*f.path, index)
            enforce = f.enforce and f.required and index < min_items
            removable = index < len(data) and len(data) > min_items
            remove = Markup("")
            if removable:
                remove = Markup(
                    '<button type="submit" class="form-row-remove" name="{}" value="remove:{}" formnovalidate>'
                    '{}<span class="visually-hidden"> ({})</span></button>'
                ).format(action, ".".join(map(str, row_path)), _t("Ta bort rad %(n)d", n=index + 1), f.label)
            if is_object(items):
                row = self.field(row_path, items, item_ui, _t("Rad %(n)d", n=index + 1), True, enforce, value)
                attrs: list[tuple[str, Any]] = [("class", self.wrapper_class(row, "form-row")), ("id", row.id)]
                attrs.append(("aria-describedby", self.described(row)))
                rows.append(
                    Markup('<fieldset{}><legend class="form-legend">{}</legend>{}{}{}</fieldset>').format(
                        _attrs(attrs), _t("Rad %(n)d", n=index + 1), self.error(row), self.properties(row), remove
                    )
                )
            else:
                control = self.render(
                    row_path, items, item_ui, _t("Rad %(n)d", n=index + 1), True, enforce, value, False
                )
                rows.append(Markup('<div class="form-row">{}{}</div>').format(control, remove))
        add = Markup("")
        if not isinstance(max_items, int) or shown < max_items:
            add = Markup(
                '<button type="submit" class="form-row-add" name="{}" value="add:{}" formnovalidate>'
                '{}<span class="visually-hidden"> ({})</span></button>'
            ).format(action, ".".join(map(str, f.path)), _t("Lägg till rad"), f.label)
        group: list[tuple[str, Any]] = [("class", self.wrapper_class(f, "form-group form-array")), ("id", f.id)]
        group.append(("aria-describedby", self.described(f)))
        return Markup("<fieldset{}>{}{}{}{}{}</fieldset>").format(
            _attrs(group), self.legend(f), self.help(f), self.error(f), Markup("").join(rows), add
        )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def encode_or_none(value: Any, options: list[Choice]) -> str | None:
    """The encoded option that ``value`` selects, if any (a junk value selects nothing)."""
    if value is None:
        return None
    for option in options:
        if option.value == value and type(option.value) is type(value):
            return option.encoded
    return None


# --------------------------------------------------------------------------------------------------------------------
# Public API


def render_form(
    schema: dict[str, Any],
    values: dict[str, Any] | None = None,
    errors: dict[str, list[str]] | None = None,
    *,
    prefix: str = "f",
    ui_schema: dict[str, Any] | None = None,
) -> Markup:
    """Render the fields of a form for ``schema`` as accessible HTML.

    Args:
        schema: the form's JSON Schema (an object schema; the subset of docs/README of ``web.forms``).
        values: data to show (a saved draft, or what was submitted when it had errors).
        errors: messages per field path (``ValidationError.field_errors``: ``"areas/0/name"``, ``""`` for the
            whole form). Each is shown beside its field; messages for paths without a field at the top.
        prefix: the start of every field name (``f.areas.0.name``) and id (``f-areas-0-name``).
        ui_schema: optional presentation hints, mirroring the schema (``{"areas": {"items": {"name": {...}}}}``):
            ``ui:widget`` (text, textarea, radio, select, checkbox), ``ui:order``, ``ui:title``, ``ui:help``,
            ``ui:rows`` and ``ui:autocomplete``.

    Returns:
        The ``<div class="form-fields">`` block; the caller writes ``<form>``, the CSRF token and buttons.
    """
    renderer = _Renderer(prefix, errors)
    root = renderer.field((), schema, ui_schema, "", True, True, values if isinstance(values, dict) else {})
    body = renderer.properties(root)
    general: list[tuple[str, str]] = [("", m) for m in renderer.errors.get("", [])]
    general += [(key, m) for key, messages in renderer.errors.items() if key not in renderer.shown for m in messages]
    top = Markup("")
    if general:
        lines = [
            _error_prefix() + (Markup("{}: {}").format(_label_for(schema, key.split("/"))[0], m) if key else escape(m))
            for key, m in general
        ]
        top = Markup('<p class="form-error" id="{}--error">{}</p>').format(root.id, Markup("<br>").join(lines))
    guard = Markup("")
    if renderer.row_buttons:
        # Enter in a field "clicks" the form's first submit button: make that one a plain submit (the form's
        # default action, as in a form without rows) and not "Ta bort rad 1".
        guard = Markup('<button type="submit" class="visually-hidden" tabindex="-1" aria-hidden="true">Skicka</button>')
    return Markup('<div class="form-fields" id="{}">{}{}{}</div>').format(root.id, guard, top, body)


def _label_for(schema: Mapping[str, Any], parts: list[str]) -> tuple[str, bool, tuple[int, ...]]:
    """The label of the field at ``parts`` with its context ("Namn (Medlemmar, rad 2)"), whether the schema
    has a field there, and a key that sorts paths in form order."""
    node: Mapping[str, Any] | None = schema
    names: list[str] = []
    order: list[int] = []
    known = True
    for part in parts:
        if node is not None and schema_type(node) == "array" and part.isdigit():
            names.append(f"rad {int(part) + 1}")
            order.append(int(part))
            node = item_schema(node)
            continue
        props = node.get("properties") if node is not None else None
        if isinstance(props, dict) and part in props and isinstance(props[part], dict):
            child: Mapping[str, Any] = props[part]
            names.append(str(child.get("title") or part))
            order.append(list(props).index(part))
            node = child
        else:
            names.append(part)
            order.append(1 << 30)
            known = False
            node = None
    if not names:
        return _t("Formuläret"), True, ()
    label = names[-1]
    if len(names) > 1:
        context = ", ".join(names[:-1])
        label = f"{label} ({context[0].upper()}{context[1:]})"
    if label:
        label = label[0].upper() + label[1:]
    return label, known, tuple(order)


def error_summary(errors: dict[str, list[str]], schema: dict[str, Any], *, prefix: str = "f") -> Markup:
    """A GOV.UK-style error summary to put above the form: ``role="alert"``, ``tabindex="-1"``, the heading
    "Formuläret har fel" and a link to each field ("#<field id>") with its label and message.

    Returns:
        The ``<div class="form-error-summary">``, or empty Markup when there are no errors.
    """
    entries = []
    root_id = field_id(prefix, ())
    for key, messages in errors.items():
        if not messages:
            continue
        parts = key.split("/") if key else []
        label, known, order = _label_for(schema, parts)
        target = field_id(prefix, tuple(parts)) if known else root_id
        entries += [(order, target, label, str(m)) for m in messages]
    if not entries:
        return Markup("")
    entries.sort(key=lambda e: e[0])
    items = Markup("").join(
        Markup('<li><a href="#{}">{}: {}</a></li>').format(target, label, message)
        for _, target, label, message in entries
    )
    return Markup(
        '<div class="form-error-summary" role="alert" tabindex="-1" aria-labelledby="{0}--summary-title">'
        '<h2 class="form-error-summary__title" id="{0}--summary-title">{2}</h2>'
        '<ul class="form-error-summary__list">{1}</ul></div>'
    ).format(root_id, items, _t("Formuläret har fel"))
