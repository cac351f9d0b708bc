"""The learning library ("Lärande"): the Study and Act conclusions of every PDSA cycle, searchable
across cases by pathway, region, PDSA step, decision and text, with the search words marked.
Every signed-in person may search (see :mod:`engine.services.learning`)."""

from __future__ import annotations

from collections.abc import Sequence

from flask import Blueprint, g, render_template, request
from flask.typing import ResponseReturnValue
from markupsafe import Markup, escape

from engine.services import lookups
from engine.services.learning import match_spans, search_learning
from web.auth import login_required
from web.db import get_session
from web.params import int_or_none

bp = Blueprint("learning", __name__)

# The filters' values in the address are Swedish words, like the rest of the site's parameters.
STEP_PARAMS = {"studera": "study", "agera": "act"}
DECISION_PARAMS = {"infora": "adopt", "anpassa": "adapt", "overge": "abandon"}
FILTER_PARAMS = ("sok", "vardforlopp", "region", "steg", "beslut")


@bp.app_template_filter("highlight")
def highlight(text: str | None, terms: Sequence[str]) -> Markup:
    """``text`` escaped, with every occurrence of the search words wrapped in ``<mark>`` (the text
    is escaped piece by piece, so a search word can never open a tag)."""
    text = text or ""
    out: list[Markup] = []
    position = 0
    for start, end in match_spans(text, terms):
        out.append(escape(text[position:start]))
        out.append(Markup("<mark>{}</mark>").format(text[start:end]))
        position = end
    out.append(escape(text[position:]))
    return Markup("").join(out)


@bp.get("/larande")
@login_required
def library() -> ResponseReturnValue:
    db = get_session()
    args = request.args
    result = search_learning(
        db,
        g.actor,
        text=args.get("sok", ""),
        pathway_id=int_or_none(args.get("vardforlopp")),
        region_id=int_or_none(args.get("region")),
        step=STEP_PARAMS.get(args.get("steg", "")),
        decision=DECISION_PARAMS.get(args.get("beslut", "")),
        page=int_or_none(args.get("sida")) or 1,
    )
    # Only the filters themselves go back into the page links (never url_for's own "_" options).
    filters = {k: v for k, v in args.items() if k in FILTER_PARAMS and v}
    return render_template(
        "learning/library.html",
        result=result,
        filters=filters,
        pathways=lookups.pathways(db),
        regions=lookups.regions(db),
    )
