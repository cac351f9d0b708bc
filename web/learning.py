"""The learning library: Study and Act conclusions of every PDSA cycle, searchable across cases."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("learning", __name__)
