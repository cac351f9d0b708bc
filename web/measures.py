"""Measures of a case: the measure page with its run or control chart, data entry and CSV import/export."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("measures", __name__)
