"""Plausible, valid values for a JSON Schema form: used for demo data and by tests that need to
get past a task without caring about its fields."""

from __future__ import annotations

from datetime import date
from typing import Any


def sample_value(schema: dict[str, Any], name: str = "") -> Any:
    """A value that satisfies ``schema`` (the subset of JSON Schema Infora's forms use)."""
    if "const" in schema:
        return schema["const"]
    if "oneOf" in schema:
        return sample_value(schema["oneOf"][0], name)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        props = schema.get("properties", {})
        return {key: sample_value(sub, key) for key, sub in props.items() if key in schema.get("required", props)}
    if kind == "array":
        count = max(1, schema.get("minItems", 1))
        return [sample_value(schema.get("items", {"type": "string"}), name) for _ in range(count)]
    if kind == "boolean":
        return False
    if kind == "integer":
        return int(schema.get("minimum", 1))
    if kind == "number":
        return float(schema.get("minimum", 1))
    if kind == "string":
        fmt = schema.get("format")
        if fmt == "date":
            return date.today().isoformat()
        if fmt == "date-time":
            return date.today().isoformat() + "T09:00:00+01:00"
        if fmt == "uri":
            return "https://intra.example.se/dokument/1"
        if fmt == "email":
            return "namn@example.se"
        text = f"Exempel: {schema.get('title', name) or 'text'}"
        return text[: schema.get("maxLength", len(text))].ljust(schema.get("minLength", 0), ".")
    return None


def sample_form_data(schema: dict[str, Any], overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Values for every property of a form (required or not), with ``overrides`` applied."""
    props = schema.get("properties", {})
    data = {key: sample_value(sub, key) for key, sub in props.items()}
    data = {k: v for k, v in data.items() if v is not None}
    data.update(overrides or {})
    return data
