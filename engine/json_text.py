"""The JSON codec for documents Infora stores as text: case states, form values, audit details.

orjson writes and reads them several times faster than the standard library; a completion writes
a case state of some 25 kB and reads it back on the next one. What orjson refuses is handed to the
standard library, which then behaves as it always did: integers beyond 64 bits are written, a
value that is not JSON (a date, an object) raises ``TypeError``, and a stored document with the
standard library's non-standard ``NaN`` is still read. One difference remains, and is wanted: a
float NaN or infinity is written as ``null`` (valid JSON) instead of ``NaN``.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

# Dates, dataclasses and subclasses of the JSON types go to the standard library, as before
# (orjson would write the first two itself); keys that are not text become text, as json does.
_OPTIONS = (
    orjson.OPT_NON_STR_KEYS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


def dumps(value: Any) -> str:
    """Compact JSON text of ``value`` (no spaces, non-ASCII kept as it is)."""
    try:
        return orjson.dumps(value, option=_OPTIONS).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def loads(text: str | bytes) -> Any:
    """The value of a JSON text."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
