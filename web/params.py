"""Reading request parameters: malformed values count as absent (filters, ids from select lists)."""

from __future__ import annotations


def int_or_none(value: str | None) -> int | None:
    """``value`` as an int, or None when it is empty or not a whole number."""
    try:
        return int(value) if value else None
    except ValueError:
        return None
