"""Fixtures of the API tests: the app on the test database, a client per person that sends their
own bearer token, and a VGR case with its team (each with a token), one unit in its first PDSA
cycle and a measure with data."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from engine.persistence import PdsaCycle, Unit
from engine.services import Actor
from engine.services.measures import create_measure, import_data_points_csv
from engine.services.tokens import create_token
from tests.factories import Team, do, make_actor, start_vgr, walk_vgr_to_units
from tests.live_server import serve
from web import create_app

PREFIX = "/api/v1"


def make_app(db_engine: Engine) -> Flask:
    return create_app(
        {"TESTING": True, "DATABASE_URL": db_engine.url.render_as_string(hide_password=False), "SECRET_KEY": "api"}
    )


@pytest.fixture()
def app(published: Session, db_engine: Engine) -> Iterator[Flask]:
    app = make_app(db_engine)
    yield app
    app.extensions["infora.engine"].dispose()


class ApiClient:
    """The test client with one person's bearer token on every request, paths under /api/v1."""

    def __init__(self, client: FlaskClient, token: str | None) -> None:
        self.client = client
        self.token = token

    def _headers(self, headers: dict[str, str] | None) -> dict[str, str]:
        out = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return {**out, **(headers or {})}

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self.client.get(PREFIX + path, headers=self._headers(kwargs.pop("headers", None)), **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> TestResponse:
        if json is None and "data" not in kwargs:
            json = {}
        return self.client.post(PREFIX + path, json=json, headers=self._headers(kwargs.pop("headers", None)), **kwargs)

    def put(self, path: str, json: Any = None, **kwargs: Any) -> TestResponse:
        return self.client.put(PREFIX + path, json=json, headers=self._headers(kwargs.pop("headers", None)), **kwargs)

    def patch(self, path: str, json: Any = None, **kwargs: Any) -> TestResponse:
        return self.client.patch(PREFIX + path, json=json, headers=self._headers(kwargs.pop("headers", None)), **kwargs)

    def delete(self, path: str, **kwargs: Any) -> TestResponse:
        return self.client.delete(PREFIX + path, headers=self._headers(kwargs.pop("headers", None)), **kwargs)


def token_for(session: Session, actor: Actor, name: str = "tester") -> str:
    _info, secret = create_token(session, actor, name, 30)
    session.commit()
    return secret


def error(response: TestResponse, status: int, code: str | None = None) -> dict[str, Any]:
    """The body of an error answer, checked to be in the one error format with this status."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:500])
    body = response.get_json()
    assert isinstance(body, dict) and set(body) == {"status", "code", "message", "errors"}, body
    assert body["status"] == status and body["message"]
    if code is not None:
        assert body["code"] == code, body
    return body


@dataclass
class World:
    """A VGR case (two units) with its team; unit ``unit`` is in its first PDSA cycle (Plan done)."""

    session: Session
    app: Flask
    case_id: int
    team: Team
    units: list[int]
    unit: int
    other_unit: int
    admin: Actor
    coordinator_elsewhere: Actor
    measure_id: int
    cycle_id: int
    ramp_id: int
    tokens: dict[str, str] = field(default_factory=dict)

    def client(self, who: str) -> ApiClient:
        """who: coordinator, admin, outsider, elsewhere (a coordinator of no case here), a role code
        (kunskapsstyrning, rpt, …) or ``unit`` / ``other_unit`` (the units' local staff)."""
        if who not in self.tokens:
            # A new transaction first: on SQLite a read snapshot older than the app's last commit
            # cannot become a write transaction.
            self.session.commit()
            self.tokens[who] = token_for(self.session, self.actor(who), who)
        return ApiClient(self.app.test_client(), self.tokens[who])

    def actor(self, who: str) -> Actor:
        named = {
            "coordinator": self.team.coordinator,
            "admin": self.admin,
            "outsider": self.team.outsider,
            "elsewhere": self.coordinator_elsewhere,
            "unit": self.team.by_unit[self.unit],
            "other_unit": self.team.by_unit[self.other_unit],
        }
        found = named.get(who) or self.team.by_role.get(who)
        assert found is not None, who
        return found

    def unit_name(self, unit_id: int) -> str:
        name = self.session.scalar(select(Unit.name).where(Unit.id == unit_id))
        self.session.commit()  # end the read transaction (see client())
        assert name is not None
        return name


PLAN = {
    "aim": "Alla patienter med hjärtsvikt har en vårdplan vid utskrivning.",
    "objective": "Testa en checklista vid inskrivning.",
    "purpose": "test",
    "change_idea": "Checklista vid inskrivning",
    "questions": [{"question": "Används checklistan?", "prediction": "Ja, i 8 av 10."}],
    "data_collection": [{"measure": "Andel med vårdplan", "who": "Undersköterska", "when": "Varje vecka"}],
}


def build_world(session: Session, app: Flask) -> World:
    """The case, its team and data, made through the services (the API is what the tests try)."""
    case_id, team, units = start_vgr(session, units=2)
    session.commit()
    admin = make_actor(session, "api.admin", "admin")
    elsewhere = make_actor(session, "api.coordinator", "coordinator")
    session.commit()
    measure = create_measure(session, team.coordinator, case_id, name="Andel med vårdplan", direction="higher",
                             aggregation="mean")  # fmt: skip
    session.commit()
    walk_vgr_to_units(session, team, case_id)
    unit, other = units
    do(session, team, case_id, "step_06_local_anchoring", unit=unit)
    do(session, team, case_id, "step_07_implementation_plan", {"already_compliant": False}, unit=unit)
    do(session, team, case_id, "pdsa_plan", PLAN, unit=unit)
    cycle = session.scalars(select(PdsaCycle).where(PdsaCycle.case_id == case_id)).one()
    name = session.scalar(select(Unit.name).where(Unit.id == unit))
    rows = ["period;value;unit"] + [f"2025-{m:02d}-01;{50 + m % 3};{name}" for m in range(1, 13)]
    import_data_points_csv(session, team.coordinator, measure.id, "\n".join(rows) + "\n")
    session.commit()
    return World(session, app, case_id, team, units, unit, other, admin, elsewhere, measure.id, cycle.id,
                 cycle.ramp_id)  # fmt: skip


@pytest.fixture()
def world(published: Session, app: Flask) -> World:
    return build_world(published, app)


@pytest.fixture()
def live_server(app: Flask) -> Iterator[str]:
    """The app on a real server on 127.0.0.1 (a free port, threaded); yields its base URL."""
    with serve(app, "api-live-server") as base:
        yield base
