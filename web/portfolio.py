"""The portfolio ("Översikt") of every introduction, and the national pathway catalogue."""

from __future__ import annotations

from flask import Blueprint, g, render_template, request
from flask.typing import ResponseReturnValue

from engine.services import lookups
from engine.services.overview import overview
from engine.services.portfolio import portfolio
from web.auth import login_required
from web.db import get_session
from web.params import int_or_none

bp = Blueprint("portfolio", __name__)


@bp.get("/oversikt")
@login_required
def overview_page() -> ResponseReturnValue:
    db = get_session()
    data = portfolio(
        db,
        g.actor,
        pathway_id=int_or_none(request.args.get("vardforlopp")),
        region_id=int_or_none(request.args.get("region")),
        attention_only=request.args.get("atgard") == "1",
        page=int_or_none(request.args.get("sida")) or 1,
    )
    return render_template(
        "portfolio/overview.html",
        data=data,
        pathways=lookups.pathways(db),
        regions=lookups.regions(db),
        args=request.args,
    )


@bp.get("/vardforlopp")
def catalogue() -> ResponseReturnValue:
    return render_template("portfolio/catalogue.html", data=overview(get_session()))
