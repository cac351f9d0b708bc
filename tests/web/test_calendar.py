"""The private calendar feed: parses with the icalendar library, holds the person's deadlines and
loop ends only, and answers 404 for a wrong or revoked token."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from icalendar import Calendar
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from engine.persistence import Unit
from engine.services.calendar_feed import create_calendar_token, revoke_calendar_tokens
from engine.workdays import STOCKHOLM
from tests.factories import do, start_vgr, walk_vgr_to_units
from web import create_app


@pytest.fixture()
def client(published: Session, db_engine: Engine) -> Iterator[FlaskClient]:
    app: Flask = create_app(
        {"TESTING": True, "DATABASE_URL": db_engine.url.render_as_string(hide_password=False), "SECRET_KEY": "t",
         "BASE_URL": "https://infora.example.se"}
    )  # fmt: skip
    yield app.test_client()
    app.extensions["infora.engine"].dispose()


def _events(body: bytes) -> dict[str, str]:
    calendar = Calendar.from_ical(body)
    return {str(e["uid"]): str(e["summary"]) for e in calendar.walk("VEVENT")}


def test_feed_holds_my_deadlines_and_loop_ends_only(published: Session, client: FlaskClient) -> None:
    s = published
    with time_machine.travel(datetime(2026, 3, 2, 9, 0, tzinfo=STOCKHOLM), tick=False):
        case_id, team, (a, b) = start_vgr(s, units=2)
        s.commit()
        walk_vgr_to_units(s, team, case_id)
        for unit in (a, b):
            do(s, team, case_id, "step_06_local_anchoring", unit=unit)
        do(s, team, case_id, "step_07_implementation_plan", {"already_compliant": False}, unit=a)
        do(s, team, case_id, "pdsa_plan", unit=a)
        do(s, team, case_id, "pdsa_do", unit=a)  # unit a's learning loop is now running
        staff_a, staff_b = team.by_unit[a], team.by_unit[b]
        token_a = create_calendar_token(s, staff_a)
        token_b = create_calendar_token(s, staff_b)
        outsider_token = create_calendar_token(s, team.outsider)  # type: ignore[arg-type]
        s.commit()

    response = client.get(f"/kalender/{token_a}.ics")
    assert response.status_code == 200 and response.mimetype == "text/calendar"
    summaries = sorted(_events(response.data).values())
    assert summaries == [f"Lärandeloopen slutar: Hjärtsvikt – VGR ({name})" for name in [_unit_name(s, a)]]
    b_events = sorted(_events(client.get(f"/kalender/{token_b}.ics").data).values())
    assert b_events == [f"Förfaller: Införandeplan – Hjärtsvikt – VGR ({_unit_name(s, b)})"]
    assert _events(client.get(f"/kalender/{outsider_token}.ics").data) == {}

    assert client.get("/kalender/fel-token.ics").status_code == 404
    revoke_calendar_tokens(s, staff_b)
    s.commit()
    assert client.get(f"/kalender/{token_b}.ics").status_code == 404
    assert client.get(f"/kalender/{token_a}.ics").status_code == 200


def _unit_name(s: Session, unit_id: int) -> str:
    unit = s.get(Unit, unit_id)
    assert unit is not None
    return unit.name
