"""Task forms (web.forms): every real form schema renders as accessible HTML and round-trips through a
simulated browser submission; errors sit beside their fields; the no-JavaScript row buttons work; junk input
parses without exceptions; everything is escaped."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from markupsafe import Markup
from werkzeug.datastructures import MultiDict

from engine.errors import ValidationError
from engine.services.forms import form_validator, validate_form_data
from web.forms import apply_action, error_summary, field_id, form_actions, parse_form, render_form

FORMS_DIR = Path(__file__).resolve().parents[2] / "bpmn" / "forms"
SCHEMAS = {
    p.name.removesuffix(".schema.json"): json.loads(p.read_text("utf-8")) for p in sorted(FORMS_DIR.glob("*.json"))
}

OPTIONS7 = [{"const": f"c{i}", "title": f"Län {i}"} for i in range(7)]
KITCHEN: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "title": "Namn", "minLength": 1, "maxLength": 200, "description": "För- och efternamn."},
        "notes": {"type": "string", "title": "Anteckningar", "maxLength": 5000},
        "free": {"type": "string", "title": "Fritext"},
        "day": {"type": "string", "format": "date", "title": "Dag"},
        "link": {"type": "string", "format": "uri", "title": "Länk", "maxLength": 2000},
        "mail": {"type": "string", "format": "email", "title": "E-post", "maxLength": 200},
        "count": {"type": "integer", "title": "Antal", "minimum": 0, "maximum": 10},
        "ratio": {"type": "number", "title": "Andel"},
        "agree": {"type": "boolean", "title": "Godkänt?"},
        "extra": {"type": "boolean", "title": "Extra?", "default": False},
        "level": {"type": "string", "title": "Nivå", "oneOf": [{"const": "a", "title": "Låg"}, {"const": "b", "title": "Hög"}]},
        "county": {"type": "string", "title": "Län", "oneOf": OPTIONS7},
        "color": {"type": "string", "title": "Färg", "enum": ["röd", "grön", "blå"]},
        "size": {"type": "integer", "title": "Storlek", "enum": [1, 2, 3, 4, 5, 6]},
        "tags": {"type": "array", "title": "Etiketter", "items": {"type": "string", "maxLength": 50}, "maxItems": 3},
        "areas": {
            "type": "array",
            "title": "Områden",
            "items": {
                "type": "object",
                "title": "Område",
                "properties": {"name": {"type": "string", "title": "Område", "minLength": 1, "maxLength": 200},
                               "weight": {"type": "number", "title": "Vikt"}},
                "required": ["name"],
                "additionalProperties": False,
            },
            "minItems": 1,
            "maxItems": 4,
        },
        "address": {
            "type": "object",
            "title": "Adress",
            "properties": {"street": {"type": "string", "title": "Gata", "maxLength": 100},
                           "city": {"type": "string", "title": "Ort", "minLength": 1, "maxLength": 100}},
            "required": ["city"],
            "additionalProperties": False,
        },
        "weird": {"title": "Vad som helst", "anyOf": [{"type": "string"}, {"type": "integer"}]},
    },
    "required": ["name", "count", "agree", "level", "county", "areas"],
    "additionalProperties": False,
}  # fmt: skip
ALL_SCHEMAS = {**SCHEMAS, "kitchen_sink": KITCHEN}


# --------------------------------------------------------------------------------------------------------------------
# A tiny DOM and a simulated browser


VOID = {"input", "br", "img", "hr", "meta", "link", "area", "base", "col", "embed", "source", "track", "wbr"}


@dataclass(eq=False)
class Node:
    tag: str
    attrs: dict[str, str | None]
    parent: Node | None = None
    children: list[Node | str] = field(default_factory=list)

    def get(self, name: str) -> str:
        return self.attrs.get(name) or ""

    def classes(self) -> set[str]:
        return set(self.get("class").split())


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, dict(attrs), self.stack[-1])
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, dict(attrs), self.stack[-1]))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return
        raise AssertionError(f"stray </{tag}>")

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def dom(html: str) -> Node:
    builder = _Builder()
    builder.feed(html)
    builder.close()
    assert builder.stack == [builder.root], "unclosed elements"
    return builder.root


def walk(node: Node) -> Iterator[Node]:
    for child in node.children:
        if isinstance(child, Node):
            yield child
            yield from walk(child)


def text(node: Node) -> str:
    return "".join(c if isinstance(c, str) else text(c) for c in node.children)


def by_id(root: Node) -> dict[str, Node]:
    return {n.get("id"): n for n in walk(root) if n.get("id")}


def ancestors(node: Node) -> Iterator[Node]:
    while node.parent is not None:
        node = node.parent
        yield node


def submit(root: Node, click: Node | None = None) -> MultiDict[str, str]:
    """What a browser sends: named inputs (checked radios and checkboxes only), selected options, textareas
    (the newline after the start tag dropped, line breaks as CRLF), and the button clicked, if any."""
    pairs: list[tuple[str, str]] = []
    for n in walk(root):
        name = n.attrs.get("name")
        if not name or "disabled" in n.attrs:
            continue
        if n.tag == "input":
            kind = n.get("type").lower() or "text"
            value = n.attrs.get("value")
            if kind in ("submit", "button", "image", "reset"):
                continue
            if kind in ("checkbox", "radio"):
                if "checked" in n.attrs:
                    pairs.append((name, "on" if value is None else value))
            else:
                pairs.append((name, value or ""))
        elif n.tag == "select":
            options = [o for o in walk(n) if o.tag == "option"]
            chosen = [o for o in options if "selected" in o.attrs] or options[:1]
            for o in chosen:
                pairs.append((name, o.get("value") if o.attrs.get("value") is not None else text(o)))
        elif n.tag == "textarea":
            content = text(n)
            content = content.replace("\r\n", "\n").replace("\r", "\n")  # the HTML parser's newline normalisation
            content = content[1:] if content.startswith("\n") else content
            pairs.append((name, content.replace("\n", "\r\n")))
        elif n.tag == "button" and n is click:
            pairs.append((name, n.get("value")))
    return MultiDict(pairs)


def controls(root: Node) -> list[Node]:
    """Inputs a person fills in (not hidden inputs or buttons)."""
    return [
        n
        for n in walk(root)
        if (n.tag == "input" and n.get("type") not in ("hidden", "submit", "button", "reset", "image"))
        or n.tag in ("select", "textarea")
    ]


def buttons(root: Node, value_prefix: str = "") -> list[Node]:
    return [n for n in walk(root) if n.tag == "button" and n.get("value").startswith(value_prefix) and n.get("name")]


# --------------------------------------------------------------------------------------------------------------------
# Sample data from a schema


def _options(schema: dict[str, Any]) -> list[Any] | None:
    if "oneOf" in schema:
        return [o["const"] for o in schema["oneOf"]]
    return list(schema["enum"]) if "enum" in schema else None


def sample(schema: dict[str, Any], n: int = 0, *, minimal: bool = False, required: bool = True) -> Any:
    """Valid-looking data for ``schema``; ``minimal`` leaves out what is optional (but an optional boolean is a
    checkbox: unchecked it is False, so it is False and not left out)."""
    options = _options(schema)
    if options is not None:
        return options[(n + 1) % len(options)] if minimal else options[-1]
    kind = schema.get("type")
    if kind == "object":
        req = set(schema.get("required", []))
        out = {}
        for i, (key, prop) in enumerate(schema["properties"].items()):
            if minimal and key not in req and prop.get("type") != "boolean":
                continue
            value = sample(prop, n + i, minimal=minimal, required=key in req)
            if value is not None:
                out[key] = value
        return out
    if kind == "array":
        count = max(schema.get("minItems", 0), 1) if minimal else 2
        return [sample(schema["items"], n + i, minimal=minimal) for i in range(count)]
    if kind == "boolean":
        return False if minimal and not required else n % 2 == 0
    if kind == "integer":
        return min(7 + n, schema.get("maximum", 100))
    if kind == "number":
        return 3.5 + n
    fmt = schema.get("format")
    if fmt == "date":
        return f"2025-03-{10 + n % 18:02d}"
    if fmt == "uri":
        return f"https://example.se/dokument/{n}?a=1&b=<2>"
    if fmt == "email":
        return f"person{n}@example.se"
    if kind == "string" and schema.get("maxLength", 10_000) > 200:
        return f"Första raden {n} <b>&amp;</b>\n\nTredje raden \"citat\" 'apostrof' åäö"
    return f'Värde {n} <&> "citat" åäö'


def html_of(schema: dict[str, Any], values: Any = None, errors: Any = None, **kw: Any) -> tuple[str, Node]:
    markup = render_form(schema, values, errors, **kw)
    assert isinstance(markup, Markup)
    return str(markup), dom(str(markup))


def errors_of(schema: dict[str, Any], data: dict[str, Any]) -> dict[str, list[str]]:
    try:
        validate_form_data(form_validator(schema), data)
    except ValidationError as e:
        return e.field_errors
    return {}


def field_paths(root: Node) -> list[str]:
    """The error path of every field on the page: every named control, every array (from its add button)."""
    paths = {n.get("name")[2:].replace(".", "/") for n in controls(root)}
    paths |= {b.get("value")[4:].replace(".", "/") for b in buttons(root, "add:")}
    return sorted(paths)


# --------------------------------------------------------------------------------------------------------------------
# Every real form


def test_all_the_real_forms_are_here() -> None:
    assert len(SCHEMAS) >= 20


@pytest.mark.parametrize("name", sorted(ALL_SCHEMAS))
def test_a_form_round_trips_through_a_browser(name: str) -> None:
    schema = ALL_SCHEMAS[name]
    values = sample(schema)
    _, root = html_of(schema, values)
    parsed = parse_form(schema, submit(root))
    assert parsed == values
    assert errors_of(schema, parsed) == {}


@pytest.mark.parametrize("name", sorted(ALL_SCHEMAS))
def test_a_form_with_only_the_required_fields_round_trips(name: str) -> None:
    schema = ALL_SCHEMAS[name]
    values = sample(schema, minimal=True)
    _, root = html_of(schema, values)
    assert parse_form(schema, submit(root)) == values


@pytest.mark.parametrize("name", sorted(ALL_SCHEMAS))
def test_a_form_is_accessible(name: str) -> None:
    schema = ALL_SCHEMAS[name]
    html, root = html_of(schema, sample(schema))
    ids = [n.get("id") for n in walk(root) if "id" in n.attrs]
    assert len(ids) == len(set(ids)), "ids are unique"
    labels = {n.get("for"): n for n in walk(root) if n.tag == "label"}
    known = set(ids)
    for control in controls(root):
        assert control.get("id") in labels, f"{control.get('name')} has a <label for>"
        assert text(labels[control.get("id")]).strip()
        for ref in control.get("aria-describedby").split():
            assert ref in known
        if control.get("type") == "radio":
            group = next(a for a in ancestors(control) if a.tag == "fieldset")
            assert group.children and isinstance(group.children[0], Node) and group.children[0].tag == "legend"
    for n in walk(root):
        if n.tag == "fieldset":
            legend = next(c for c in n.children if isinstance(c, Node))
            assert legend.tag == "legend" and text(legend).strip()
        for ref in n.get("aria-describedby").split():
            assert ref in known
    rows = [n for n in walk(root) if n.tag == "fieldset" and "form-row" in n.classes()]
    assert all(text(r.children[0]).startswith("Rad ") for r in rows if isinstance(r.children[0], Node))
    assert root.children[0].tag == "div" and "form-fields" in root.children[0].classes()  # type: ignore[union-attr]
    _assert_no_script(html)


def _assert_no_script(html: str) -> None:
    assert "<script" not in html.lower()
    assert not re.search(r"\son[a-z]+\s*=", html, re.IGNORECASE), "no inline event handlers"
    assert " style=" not in html and "javascript:" not in html.lower()


@pytest.mark.parametrize("name", sorted(ALL_SCHEMAS))
def test_every_field_shows_its_error_beside_it(name: str) -> None:
    schema = ALL_SCHEMAS[name]
    values = sample(schema)
    _, plain = html_of(schema, values)
    paths = field_paths(plain)
    html, root = html_of(schema, values, {p: [f"Fel i {p} <b>!", "Andra felet."] for p in paths})
    nodes = by_id(root)
    order = {id(n): i for i, n in enumerate(walk(root))}
    one_per_kind: dict[str, str] = {}
    for path in paths:
        target = nodes[field_id("f", tuple(path.split("/")))]
        one_per_kind.setdefault(f"{target.tag}:{target.get('type')}", path)
        error = nodes[f"{target.get('id')}--error"]
        assert "form-error" in error.classes()
        assert text(error) == f"Fel: Fel i {path} <b>!Fel: Andra felet."  # <br> between the two
        if target.tag == "fieldset":  # an array: the error is in the group, before the rows
            assert error in walk(target) and f"{target.get('id')}--error" in target.get("aria-describedby").split()
            assert "form-field--error" in target.classes()
            continue
        wrapper = next(a for a in ancestors(target) if "form-field" in a.classes())
        assert "form-field--error" in wrapper.classes()
        assert error in walk(wrapper) and order[id(error)] < order[id(target)], "the error comes before the input"
        assert target.get("aria-invalid") == "true"
        if target.get("type") == "radio":
            group = next(a for a in ancestors(target) if a.tag == "fieldset")
            assert error.get("id") in group.get("aria-describedby").split()
            assert all(r.get("aria-invalid") == "true" for r in walk(group) if r.tag == "input")
        else:
            assert error.get("id") in target.get("aria-describedby").split()
    assert "&lt;b&gt;!" in html and "<b>" not in html
    for path in one_per_kind.values():  # one field of each kind alone: only that field is marked
        _, root = html_of(schema, values, {path: ["Fel."]})
        invalid = {n.get("name") for n in walk(root) if n.get("aria-invalid") == "true"}
        marked = [n for n in walk(root) if "form-field--error" in n.classes()]
        assert invalid <= {"f." + path.replace("/", ".")} and len(marked) == 1


@pytest.mark.parametrize("name", sorted(ALL_SCHEMAS))
def test_an_empty_submission_shows_every_validation_error(name: str) -> None:
    schema = ALL_SCHEMAS[name]
    _, root = html_of(schema)
    data = parse_form(schema, submit(root))
    errors = errors_of(schema, data)
    assert errors, "every form requires something"
    _, root = html_of(schema, data, errors)
    nodes = by_id(root)
    for path, messages in errors.items():
        error = nodes.get(field_id("f", tuple(path.split("/"))) + "--error") if path else None
        shown = text(error) if error else text(nodes["f--error"])
        assert all(m in shown for m in messages)
    summary = dom(str(error_summary(errors, schema)))
    links = [a for a in walk(summary) if a.tag == "a"]
    assert len(links) == sum(len(m) for m in errors.values())
    assert all(a.get("href")[1:] in nodes for a in links), "the summary links to fields on the page"


# --------------------------------------------------------------------------------------------------------------------
# Widgets


def _control(root: Node, name: str) -> Node:
    return next(n for n in controls(root) if n.get("name") == name)


def _label(root: Node, control: Node) -> str:
    return next(text(n) for n in walk(root) if n.tag == "label" and n.get("for") == control.get("id"))


def test_each_type_gets_its_widget() -> None:
    html, root = html_of(KITCHEN, {})
    name = _control(root, "f.name")
    assert (name.tag, name.get("type"), name.get("maxlength")) == ("input", "text", "200")
    assert "required" in name.attrs and "(obligatoriskt)" in _label(root, name)
    assert name.get("aria-describedby") == "f-name--help"
    assert text(by_id(root)["f-name--help"]) == "För- och efternamn."
    assert _control(root, "f.notes").tag == "textarea" and _control(root, "f.notes").get("maxlength") == "5000"
    assert _control(root, "f.free").tag == "textarea"
    assert "required" not in _control(root, "f.notes").attrs and "(obligatoriskt)" not in _label(
        root, _control(root, "f.notes")
    )
    assert _control(root, "f.day").get("type") == "date"
    assert _control(root, "f.link").get("type") == "url"
    assert _control(root, "f.mail").get("type") == "email"
    count = _control(root, "f.count")
    assert (count.get("type"), count.get("step"), count.get("min"), count.get("max")) == ("number", "1", "0", "10")
    assert "required" in count.attrs
    assert (_control(root, "f.ratio").get("type"), _control(root, "f.ratio").get("step")) == ("number", "any")
    # a required boolean: a Ja/Nej radio group in a fieldset, nothing chosen, no required attribute on radios
    agree = [n for n in controls(root) if n.get("name") == "f.agree"]
    assert [(r.get("type"), r.get("value"), _label(root, r)) for r in agree] == [
        ("radio", "ja", "Ja"),
        ("radio", "nej", "Nej"),
    ]
    assert not any("checked" in r.attrs or "required" in r.attrs for r in agree)
    group = next(a for a in ancestors(agree[0]) if a.tag == "fieldset")
    assert text(group.children[0]) == "Godkänt? (obligatoriskt)"  # type: ignore[arg-type]
    # an optional boolean: a checkbox
    extra = _control(root, "f.extra")
    assert (extra.get("type"), extra.get("value")) == ("checkbox", "ja") and "required" not in extra.attrs
    # oneOf with at most five options: radios; more: a select starting with "Välj…"
    level = [n for n in controls(root) if n.get("name") == "f.level"]
    assert [_label(root, r) for r in level] == ["Låg", "Hög"] and all(r.get("type") == "radio" for r in level)
    county = _control(root, "f.county")
    options = [(o.get("value"), text(o)) for o in walk(county) if o.tag == "option"]
    assert options[0] == ("", "Välj…") and options[1:] == [(f"c{i}", f"Län {i}") for i in range(7)]
    assert "required" in county.attrs
    # plain enum: values are the labels; an optional radio group can be set back to "Inget val"
    color = [n for n in controls(root) if n.get("name") == "f.color"]
    assert [_label(root, r) for r in color] == ["röd", "grön", "blå", "Inget val"]
    assert "checked" in color[-1].attrs
    assert [text(o) for o in walk(_control(root, "f.size")) if o.tag == "option"] == [
        "Välj…",
        "1",
        "2",
        "3",
        "4",
        "5",
        "6",
    ]
    # arrays: rows in fieldsets "Rad N", string items with the label "Rad N"; nested objects in a fieldset
    assert _label(root, _control(root, "f.tags.0")) == "Rad 1"
    row = by_id(root)["f-areas-0"]
    assert row.tag == "fieldset" and text(row.children[0]) == "Rad 1"  # type: ignore[arg-type]
    address = by_id(root)["f-address"]
    assert address.tag == "fieldset" and text(address.children[0]) == "Adress"  # type: ignore[arg-type]
    assert "(obligatoriskt)" in _label(root, _control(root, "f.address.city"))
    assert "required" not in _control(root, "f.address.city").attrs, "the object is optional: so is its content"
    assert _control(root, "f.weird").get("type") == "text"
    _assert_no_script(html)


def test_required_attributes_only_where_the_field_must_be_filled() -> None:
    _, root = html_of(KITCHEN, {"areas": [{"name": "a"}, {"name": "b"}]})
    assert "required" in _control(root, "f.areas.0.name").attrs, "within minItems"
    assert "required" not in _control(root, "f.areas.1.name").attrs, "an extra row may be left empty"
    assert "(obligatoriskt)" in _label(root, _control(root, "f.areas.1.name"))


def test_values_are_shown() -> None:
    values = sample(KITCHEN)
    _, root = html_of(KITCHEN, values)
    assert _control(root, "f.name").get("value") == values["name"]
    assert "checked" in next(n for n in controls(root) if n.get("name") == "f.agree" and n.get("value") == "ja").attrs
    selected = [o for o in walk(_control(root, "f.county")) if o.tag == "option" and "selected" in o.attrs]
    assert [o.get("value") for o in selected] == ["c6"]
    assert _control(root, "f.count").get("value") == str(values["count"])
    assert _control(root, "f.areas.1.weight").get("value") == str(values["areas"][1]["weight"])


def test_a_value_that_is_not_a_number_is_shown_as_typed() -> None:
    _, root = html_of(KITCHEN, {"count": "tolv"}, {"count": ["Värdet ska vara ett heltal."]})
    count = _control(root, "f.count")
    assert (count.get("type"), count.get("value"), count.get("inputmode")) == ("text", "tolv", "numeric")


def test_textareas_keep_leading_newlines_and_line_breaks() -> None:
    schema = {"type": "object", "properties": {"t": {"type": "string", "maxLength": 5000}}}
    _, root = html_of(schema, {"t": "\nfrån andra raden\r\nslut"})
    assert parse_form(schema, submit(root)) == {"t": "från andra raden\nslut"}, "trimmed, CRLF as LF"
    _, root = html_of(schema, {"t": "a\n\nb"})
    assert parse_form(schema, submit(root)) == {"t": "a\n\nb"}


def test_ui_schema_hints() -> None:
    ui = {
        "ui:order": ["mail", "*", "name"],
        "name": {"ui:widget": "textarea", "ui:rows": 2, "ui:help": "Som i HSA-katalogen."},
        "mail": {"ui:autocomplete": "email", "ui:title": "Din e-post"},
        "level": {"ui:widget": "select"},
        "agree": {"ui:widget": "checkbox"},
    }
    _, root = html_of(KITCHEN, {}, ui_schema=ui)
    names = [n.get("name") for n in controls(root)]
    assert names[0] == "f.mail" and names[-1] == "f.name"
    name = _control(root, "f.name")
    assert (name.tag, name.get("rows")) == ("textarea", "2")
    assert text(by_id(root)["f-name--help"]) == "För- och efternamn. Som i HSA-katalogen."
    assert (
        _control(root, "f.mail").get("autocomplete") == "email"
        and _label(root, _control(root, "f.mail")) == "Din e-post"
    )
    assert _control(root, "f.level").tag == "select"
    assert _control(root, "f.agree").get("type") == "checkbox"
    assert parse_form(KITCHEN, MultiDict(), ui_schema=ui)["agree"] is False


def test_everything_is_escaped() -> None:
    evil = "<script>alert('x')</script>"
    schema = {
        "type": "object",
        "properties": {
            "a": {"type": "string", "title": evil, "description": evil, "maxLength": 10},
            "b": {"type": "string", "title": "B", "oneOf": [{"const": '"><script>', "title": evil}]},
            "c": {"type": "array", "title": evil, "items": {"type": "object", "properties": {"d": {"type": "string", "title": evil}}}},
            "e": {"type": "string", "title": "E", "oneOf": [{"const": f"v{i}", "title": evil} for i in range(6)]},
        },
        "required": ["a"],
    }  # fmt: skip
    values = {"a": '"><script>alert(1)</script>', "b": '"><script>', "c": [{"d": evil}]}
    errors = {"a": [evil], "": [evil], "nope": [evil]}
    html, root = html_of(schema, values, errors)
    summary = str(error_summary(errors, schema))
    for out in (html, summary):
        assert "<script" not in out and "&lt;script&gt;" in out
    assert _control(root, "f.a").get("value") == values["a"]
    assert parse_form(schema, submit(root)) == values
    assert _label(root, _control(root, "f.a")).startswith(evil)


# --------------------------------------------------------------------------------------------------------------------
# Parsing


def test_types_are_converted() -> None:
    form = MultiDict(
        [("f.name", "  Anna  "), ("f.count", "3"), ("f.ratio", "2,5"), ("f.agree", "nej"), ("f.extra", "on"),
         ("f.level", "b"), ("f.size", "4"), ("f.notes", ""), ("f.areas.0.name", "x"), ("f.areas.0.weight", "1e3"),
         ("f.address.street", ""), ("f.address.city", "")]
    )  # fmt: skip
    assert parse_form(KITCHEN, form) == {
        "name": "Anna",
        "count": 3,
        "ratio": 2.5,
        "agree": False,
        "extra": True,
        "level": "b",
        "size": 4,
        "areas": [{"name": "x", "weight": 1000.0}],
    }
    assert parse_form(KITCHEN, {"f.agree": "ja", "f.count": "5.0"}) == {"agree": True, "count": 5, "extra": False}


def test_junk_is_kept_for_validation_to_report_beside_the_field() -> None:
    form = MultiDict(
        [("f.count", "tolv"), ("f.ratio", "nan"), ("f.agree", "maybe"), ("f.level", "zzz"), ("f.size", "x"),
         ("f.areas.0.weight", "1e999"), ("f.areas.0.name", "n")]
    )  # fmt: skip
    data = parse_form(KITCHEN, form)
    assert data["count"] == "tolv" and data["ratio"] == "nan" and data["agree"] == "maybe" and data["level"] == "zzz"
    assert data["areas"] == [{"name": "n", "weight": "1e999"}]
    errors = errors_of(KITCHEN, data)
    assert errors["ratio"] == ["Värdet ska vara ett tal."]
    assert errors["areas/0/weight"] == ["Värdet ska vara ett tal."]
    assert errors["agree"] == ["Värdet ska vara ja eller nej."]
    _, root = html_of(KITCHEN, data, errors)
    assert "Fel: Värdet ska vara ett tal." in text(by_id(root)["f-ratio--error"])
    assert _control(root, "f.ratio").get("value") == "nan"


def test_arrays_are_rebuilt_from_the_indices() -> None:
    form = MultiDict(
        [("f.areas.5.name", "sexan"), ("f.areas.12.name", "tolvan"), ("f.areas.2.name", "tvåan"),
         ("f.areas.7.name", ""), ("f.areas.7.weight", " "), ("f.areas.x.name", "junk"), ("f.areas.-1.name", "junk"),
         ("f.areas.007.name", "junk"), ("f.areas.99999999999999999999.name", "junk"), ("f.unknown", "x"),
         ("f.tags.3", "c"), ("f.tags.1", "a"), ("f.tags.2", ""), ("g.name", "other form"), ("f.name.0", "x")]
    )  # fmt: skip
    data = parse_form(KITCHEN, form)
    assert data["areas"] == [{"name": "tvåan"}, {"name": "sexan"}, {"name": "tolvan"}]
    assert data["tags"] == ["a", "c"]
    assert "unknown" not in data and "name" not in data
    assert parse_form(KITCHEN, {"f.areas.5.name": "bara"}) == {"areas": [{"name": "bara"}], "extra": False}


def test_parsing_never_raises() -> None:
    rng = random.Random(1)
    pieces = ["f", "areas", "0", "5", "name", "weight", "tags", "address", "city", "", "x", "-1", "agree", "count"]
    junk = ["", " ", "ja", "maybe", "3", "1e999", "nan", "\x00", "<b>", "9" * 400, "-", "on", "2025-13-45"]
    for schema in ALL_SCHEMAS.values():
        for _ in range(30):
            form = MultiDict(
                [(".".join(rng.choice(pieces) for _ in range(rng.randint(1, 5))), rng.choice(junk)) for _ in range(20)]
            )
            assert isinstance(parse_form(schema, form), dict)
            form_actions(form)
    assert parse_form({"type": "object"}, {"f.x": "1"}) == {}
    untyped = {"properties": {"o": {"properties": {"x": {"type": "integer", "title": "X"}}}}}
    _, root = html_of(untyped, {"o": {"x": 1}})
    assert parse_form(untyped, submit(root)) == {"o": {"x": 1}}, "type may be left out of objects"
    assert parse_form({}, {}) == {}


# --------------------------------------------------------------------------------------------------------------------
# Row buttons


def test_form_actions_are_recognised() -> None:
    assert form_actions({"f-row-action": "add:areas"}) == ("add", "areas")
    assert form_actions({"f-row-action": "remove:areas.2"}) == ("remove", "areas.2")
    assert form_actions({"x-row-action": "add:areas.0.sub"}, prefix="x") == ("add", "areas.0.sub")
    for junk in ("", "add:", "remove:areas", "remove:areas.x", "drop:areas.1", "add:a..b", "remove:.1"):
        assert form_actions({"f-row-action": junk}) is None
    assert form_actions({"action": "complete"}) is None
    assert form_actions(MultiDict([("f-row-action", "add:areas"), ("f-row-action", "x")])) == ("add", "areas")


def _click(schema: dict[str, Any], html_root: Node, value: str) -> tuple[dict[str, Any], Node]:
    button = next(b for b in buttons(html_root) if b.get("value") == value)
    form = submit(html_root, click=button)
    action = form_actions(form)
    assert action is not None
    data = apply_action(parse_form(schema, form), action)
    return data, dom(str(render_form(schema, data)))


def test_adding_and_removing_rows_without_javascript() -> None:
    schema = SCHEMAS["vgr_gap_analysis"]
    _, root = html_of(schema, {})
    assert len([n for n in walk(root) if "form-row" in n.classes() and n.get("id").startswith("f-actions-")]) == 1
    assert not buttons(root, "remove:"), "a single required row cannot be removed"
    add = next(b for b in buttons(root) if b.get("value") == "add:actions")
    assert text(add).startswith("Lägg till rad") and "formnovalidate" in add.attrs and add.get("type") == "submit"
    data, root = _click(schema, root, "add:actions")  # the empty row on screen is kept: now there are two
    assert data["actions"] == [{}, {}]
    assert "f-actions-1" in by_id(root)
    # fill rows 1 and 3, leave 2 empty, remove row 3: the right row goes
    data, root = _click(schema, root, "add:actions")
    nodes = by_id(root)
    nodes["f-actions-0-responsible"].attrs["value"] = "första"
    nodes["f-actions-2-responsible"].attrs["value"] = "tredje"
    remove = next(b for b in buttons(root) if b.get("value") == "remove:actions.2")
    assert text(remove).startswith("Ta bort rad 3")
    data, root = _click(schema, root, "remove:actions.2")
    assert data["actions"] == [{"responsible": "första"}, {}]
    # when the form is sent for real, the empty row is dropped
    assert parse_form(schema, submit(root))["actions"] == [{"responsible": "första"}]


def test_max_items_hides_the_add_button() -> None:
    _, root = html_of(KITCHEN, {"tags": ["a", "b", "c"], "areas": [{"name": str(i)} for i in range(4)]})
    values = {b.get("value") for b in buttons(root)}
    assert "add:tags" not in values and "add:areas" not in values
    assert {"remove:tags.0", "remove:tags.2", "remove:areas.3"} <= values
    assert apply_action({"tags": ["a", "b", "c"]}, ("add", "tags"), schema=KITCHEN) == {"tags": ["a", "b", "c"]}


def test_apply_action() -> None:
    data = {"areas": [{"name": "a"}, {"name": "b"}], "tags": ["x"]}
    assert apply_action(data, ("remove", "areas.0")) == {"areas": [{"name": "b"}], "tags": ["x"]}
    assert apply_action(data, ("add", "areas")) == {"areas": [{"name": "a"}, {"name": "b"}, {}], "tags": ["x"]}
    assert apply_action(data, ("add", "tags")) == {"areas": data["areas"], "tags": ["x", ""]}
    assert data == {"areas": [{"name": "a"}, {"name": "b"}], "tags": ["x"]}, "not changed in place"
    assert apply_action({}, ("add", "areas"), schema=KITCHEN) == {"areas": [{}, {}]}, "the row on screen, and one more"
    assert apply_action({}, ("add", "tags"), schema=KITCHEN) == {"tags": ["", ""]}
    assert apply_action(data, ("remove", "areas.9")) == data
    assert apply_action(data, ("remove", "nope.0")) == data
    assert apply_action({"a": [{"b": []}]}, ("add", "a.0.b")) == {"a": [{"b": [{}]}]}
    assert apply_action(data, ("explode", "areas")) == data


def test_enter_in_a_field_does_not_press_a_row_button() -> None:
    _, root = html_of(KITCHEN, {"tags": ["a", "b"]})
    first = next(n for n in walk(root) if n.tag == "button")
    assert "name" not in first.attrs and first.get("aria-hidden") == "true" and first.get("tabindex") == "-1"
    _, plain = html_of(SCHEMAS["pdsa_do"], {})
    assert not [n for n in walk(plain) if n.tag == "button"]


# --------------------------------------------------------------------------------------------------------------------
# Error summary and errors without a field


def test_error_summary() -> None:
    schema = SCHEMAS["skane_appoint_lag"]
    errors = {"members/1/name": ["Fältet är obligatoriskt."], "chair": ["Högst 200 tecken."], "": ["Hela formuläret."],
              "ghost": ["Okänt fält."]}  # fmt: skip
    summary = dom(str(error_summary(errors, schema)))
    box = next(walk(summary))
    assert (box.get("role"), box.get("tabindex")) == ("alert", "-1")
    heading = next(n for n in walk(box) if n.tag == "h2")
    assert text(heading) == "Formuläret har fel" and box.get("aria-labelledby") == heading.get("id")
    links = [(a.get("href"), text(a)) for a in walk(box) if a.tag == "a"]
    assert links == [
        ("#f", "Formuläret: Hela formuläret."),
        ("#f-chair", "Ordförande: Högst 200 tecken."),
        ("#f-members-1-name", "Namn (Medlemmar, rad 2): Fältet är obligatoriskt."),
        ("#f", "Ghost: Okänt fält."),
    ]
    assert error_summary({}, schema) == Markup("") and error_summary({"chair": []}, schema) == Markup("")
    _, root = html_of(schema, {"members": [{}, {}]}, errors)
    top = text(by_id(root)["f--error"])
    assert "Fel: Hela formuläret." in top and "Ghost: Okänt fält." in top
    assert "Fel: Fältet är obligatoriskt." in text(by_id(root)["f-members-1-name--error"])


def test_prefix() -> None:
    schema = SCHEMAS["vgr_preparation"]
    values = sample(schema)
    _, root = html_of(schema, values, {"chair": ["x"]}, prefix="task7")
    assert all(n.get("name").startswith("task7.") for n in controls(root))
    assert "f-" not in " ".join(by_id(root)) and "task7-chair--error" in by_id(root)
    assert parse_form(schema, submit(root), prefix="task7") == values
    assert parse_form(schema, submit(root)) == {}
    assert "#task7-chair" in str(error_summary({"chair": ["x"]}, schema, prefix="task7"))
    assert {b.get("name") for b in buttons(root)} == {"task7-row-action"}


def test_ids_never_clash() -> None:
    schema = {
        "type": "object",
        "properties": {
            "a-b": {"type": "string", "title": "1"},
            "a": {"type": "object", "title": "2", "properties": {"b": {"type": "string", "title": "3"}}},
            "a_b": {"type": "string", "title": "4"},
            "c": {"type": "boolean", "title": "5"},
            "c--1": {"type": "string", "title": "6"},
            "x": {"type": "array", "title": "7", "items": {"type": "string"}},
            "x-0": {"type": "string", "title": "8"},
        },
        "required": ["c"],
    }
    _, root = html_of(schema, {}, {"a-b": ["e"], "a/b": ["e"], "c": ["e"], "c--1": ["e"]})
    ids = [n.get("id") for n in walk(root) if "id" in n.attrs]
    assert len(ids) == len(set(ids))
