"""The model workshop: the models page, the bpmn-js editor with validation pinned to shapes,
publishing, diffs between versions, moving running cases, import and export."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("models", __name__)
