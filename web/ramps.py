"""PDSA ramps and cycle records: a unit's ramp with its cycles and measures, printable."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("ramps", __name__)
