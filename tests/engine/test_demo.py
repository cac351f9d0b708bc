"""The demo data `make run` loads: it goes through the real services without error, and the PDSA
demo shows what it promises (a running cycle and a signal on Lerum's chart)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.catalogue.demo import STROKE_MEASURE, load_demo_data
from engine.persistence import Measure, PdsaCycle, Unit, User
from engine.services.actors import actor_for_user
from engine.services.chart_data import REGION, chart_view


def test_demo_data_loads_and_shows_a_pdsa_cycle_with_a_signal(published: Session) -> None:
    load_demo_data(published)
    published.flush()
    measure = published.scalars(select(Measure).where(Measure.name == STROKE_MEASURE)).one()
    lerum = published.scalar(select(Unit.id).where(Unit.name == "Närhälsan Lerum vårdcentral"))
    cycle = published.scalars(select(PdsaCycle).where(PdsaCycle.unit_id == lerum)).one()
    assert (cycle.number, cycle.stage) == (1, "study")
    anna = published.scalar(select(User.id).where(User.username == "anna.koordinator"))
    assert anna is not None
    chart = chart_view(published, actor_for_user(published, anna), measure.id, lerum)
    assert len(chart.points) == 20 and [c.number for c in chart.cycles] == [1]
    assert any(p.cycle_number == 1 for p in chart.points)
    assert chart.current == "improvement"
    region = chart_view(published, actor_for_user(published, anna), measure.id, REGION)
    assert region.scope == "region" and len(region.points) == 20
