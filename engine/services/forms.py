"""Validating form data against a task's JSON Schema, with field-level messages in Swedish."""

from __future__ import annotations

import re
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError as SchemaValidationError
from jsonschema.validators import validator_for

from engine.errors import ValidationError

_FORMAT_CHECKER = FormatChecker()


def form_validator(schema: dict[str, Any]) -> Any:
    """A validator for one form schema; build it once and reuse it (see LoadedVersion)."""
    cls = validator_for(schema, default=Draft202012Validator)
    return cls(schema, format_checker=_FORMAT_CHECKER)


def _path(error: SchemaValidationError) -> str:
    parts = [str(p) for p in error.absolute_path]
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else ""
        parts.append(missing)
    return "/".join(parts)


def _message(error: SchemaValidationError) -> str:
    v = error.validator
    schema = error.schema if isinstance(error.schema, dict) else {}
    if v == "required":
        return "Fältet är obligatoriskt."
    if v == "type":
        names = {
            "string": "text",
            "integer": "ett heltal",
            "number": "ett tal",
            "boolean": "ja eller nej",
            "array": "en lista",
            "object": "ett objekt",
            "null": "tomt",
        }
        wanted = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        return "Värdet ska vara " + " eller ".join(names.get(str(w), str(w)) for w in wanted) + "."
    if v == "minLength":
        return (
            "Fältet är obligatoriskt." if error.validator_value == 1 else f"Skriv minst {error.validator_value} tecken."
        )
    if v == "maxLength":
        return f"Högst {error.validator_value} tecken."
    if v == "minItems":
        return f"Lägg till minst {error.validator_value} rad(er)."
    if v == "maxItems":
        return f"Högst {error.validator_value} rader."
    if v in ("minimum", "exclusiveMinimum"):
        return f"Värdet ska vara minst {error.validator_value}."
    if v in ("maximum", "exclusiveMaximum"):
        return f"Värdet ska vara högst {error.validator_value}."
    if v in ("enum", "const", "oneOf", "anyOf"):
        return "Välj ett av de tillåtna alternativen."
    if v == "format":
        formats = {
            "date": "ett datum (ÅÅÅÅ-MM-DD)",
            "uri": "en fullständig länk (https://…)",
            "email": "en e-postadress",
            "date-time": "en tidpunkt",
        }
        return f"Värdet ska vara {formats.get(str(error.validator_value), str(error.validator_value))}."
    if v == "pattern":
        return "Värdet har fel format."
    if v == "additionalProperties":
        # The names themselves, not jsonschema's English sentence ("'x' was unexpected").
        known = schema.get("properties") or {}
        patterns = list(schema.get("patternProperties") or {})
        instance = error.instance if isinstance(error.instance, dict) else {}
        extra = [str(k) for k in instance if k not in known and not any(re.search(p, str(k)) for p in patterns)]
        return "Formuläret innehåller fält som inte finns: " + ", ".join(f"'{k}'" for k in sorted(extra)) + "."
    return schema.get("errorMessage") or f"Ogiltigt värde ({v})."


def validate_form_data(validator: Any, data: Any) -> None:
    """Raise ValidationError with messages per field unless ``data`` satisfies the validator's schema."""
    if not isinstance(data, dict):
        raise ValidationError("Formulärdata ska vara ett objekt.", {"": ["Formulärdata ska vara ett objekt."]})
    errors: dict[str, list[str]] = {}
    for error in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path))):
        errors.setdefault(_path(error), []).append(_message(error))
    if errors:
        count = sum(len(v) for v in errors.values())
        raise ValidationError(f"Formuläret har {count} fel. Rätta fälten som är markerade.", errors)
