"""The authorization matrix: every route of the application × every kind of person × the objects of
their own team and of another team, with the status each must answer.

The people (columns, in this order):

- ``anon``    nobody signed in (no session cookie, no API token);
- ``member``  a signed-in member who takes part in no case;
- ``rpt``     case 1's RPT: a role holder of case 1 without the lane of its open tasks;
- ``staff``   case 1's Lokal verksamhet for unit A (its open unit-A task is theirs, unit B's is not);
- ``coord``   case 1's coordinator;
- ``coord2``  case 2's coordinator (another team; a coordinator by system role);
- ``admin``   an administrator.

Case 1 is the first team's case, case 2 the second team's: for ``coord2`` case 2 is the own team
and case 1 the other, for the first team the other way round. Every path parameter names a real
object (a case, unit, task, measure, PDSA cycle and ramp of each case, a model version, a draft,
API and calendar tokens, a notification), or one that does not exist (``missing``). Case 1's open
tasks are unit A's and unit B's Lokal verksamhet tasks, nobody's yet; case 2's open task is
claimed by its Kunskapsstyrning, so taking and giving back a task are tried both ways.

Every request is sent as a person would send it: pages with the session cookie of their sign-in on
the sign-in page and a valid CSRF token (so that CSRF is never what answers), the JSON API (``/api/v1``) with the person's bearer
token. The API is in the matrix too, not left to tests/api: the same services answer both, and
one table shows whether the two doors agree. A write carries a valid body, so that the answer is
the permission decision and not a refused form; every request runs in a transaction that is
rolled back afterwards, so each cell starts from the same world (built once for the module).

The table (``ROWS``) is written out by hand, one line per route and target: a new route without
a line fails ``test_every_route_is_in_the_table``. Run with ``pytest -s`` to see the matrix.

Decisions the table encodes (DESIGN.md decision 5 and issue 6):

- Case objects (case, unit, task, measure, PDSA records) are seen by the case's participants and
  admins; others get 403, unknown ids 404. Writes on a case, and its export, are the
  coordinator's (or an admin's); tasks are acted on by the holder of the task's lane role (for its
  unit) or the coordinator.
- The model workshop (models, drafts, versions, moving cases between versions) belongs to every
  coordinator: coordinators own the processes, not single cases. So ``coord2`` may work on the
  models and move case 1 between versions like ``coord``.
- Every participant may comment on the case, send it a signal it waits for (``send_signal``) and
  enter and import data points (DOMAIN.md: the process team enters the measurements); defining
  and changing measures is the coordinator's.
- Who may not see a task learns nothing about it: 403 before any 409 about its state.
- Personal things (account, tokens, notifications, calendar feed) are the person's own: another
  person's token is 404 (it does not exist for you; an admin may revoke it), marking another
  person's notification read marks nothing, the feed needs only its secret.
- The sign-in page, the language switch, the health check, the pathway catalogue, static files
  and the API's documents answer everyone.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Connection, Engine, select
from sqlalchemy.orm import Session, sessionmaker

from engine.catalogue.reference import load_reference_data
from engine.persistence import Case, ModelVersion, Notification, PdsaCycle, ProcessModel
from engine.persistence.database import begin_write, make_session_factory
from engine.services import SYSTEM_ACTOR, Actor, publish_directory
from engine.services.calendar_feed import create_calendar_token
from engine.services.drafts import open_draft
from engine.services.measures import create_measure
from engine.services.pdsa import record_step
from engine.services.tasks import claim_task
from engine.services.tokens import create_token
from engine.services.users import set_password
from tests.api.conftest import PLAN
from tests.conftest import MODELS_DIR, _empty
from tests.factories import do, form_data, make_actor, start_vgr, task_row, walk_vgr_to_units
from tests.web.pages import csrf
from web import create_app

ROLES = ("anon", "member", "rpt", "staff", "coord", "coord2", "admin")
OPEN_PAGES = frozenset({"/", "/logga-in", "/logga-ut", "/sprak"})
"""Pages that answer a person who is not signed in themselves (others send them to sign in)."""
PASSWORD = "matrisens-losenord-2026"
MISSING_TASK = "00000000-0000-4000-8000-000000000000"

Params = dict[str, Any]


@dataclass
class Send:
    """What a request carries besides its path: form fields (files as (stream, name) pairs), a JSON
    body, or a query string."""

    form: dict[str, Any] | None = None
    json: Any = None
    query: dict[str, Any] | None = None


@dataclass
class World:
    """Everything the requests need: the app on one connection, the people, and the objects."""

    app: Flask
    connection: Connection
    actors: dict[str, Actor]
    tokens: dict[str, str]
    cookies: dict[str, str] = field(default_factory=dict)
    csrf: dict[str, str] = field(default_factory=dict)
    targets: dict[str, Params] = field(default_factory=dict)
    ids: dict[str, Any] = field(default_factory=dict)


Body = Callable[[World, Params], Send]


@dataclass(frozen=True)
class Row:
    """One route (its rule as in ``app.url_map``) with one target: the statuses per method, one per
    person in ``ROLES`` order, and what a request carries."""

    rule: str
    target: str
    expect: dict[str, tuple[int, ...]]
    body: Body | None = None

    @property
    def api(self) -> bool:
        return self.rule.startswith("/api/")


def row(
    rule: str,
    target: str = "-",
    *,
    get: str,
    post: str,
    put: str | None = None,
    patch: str | None = None,
    delete: str | None = None,
    body: Body | None = None,
) -> Row:
    """A table line; each status string lists the seven people's statuses, space separated."""
    given = {"GET": get, "POST": post, "PUT": put, "PATCH": patch, "DELETE": delete}
    expect = {m: tuple(int(s) for s in text.split()) for m, text in given.items() if text is not None}
    assert all(len(v) == len(ROLES) for v in expect.values()), (rule, target)
    return Row(rule, target, expect, body)


def form(**fields: Any) -> Body:
    """A form body of fixed fields; a field given as ``"{name}"`` takes the target's value."""
    return lambda w, p: Send(form={k: _fill(v, w, p) for k, v in fields.items()})


def js(**fields: Any) -> Body:
    """A JSON body of fixed fields; ``"{name}"`` takes the target's value (the type kept)."""
    return lambda w, p: Send(json={k: _fill(v, w, p) for k, v in fields.items()})


def query(**fields: Any) -> Body:
    """Query parameters for a GET."""
    return lambda w, p: Send(query={k: _fill(v, w, p) for k, v in fields.items()})


def _fill(value: Any, world: World, params: Params) -> Any:
    if isinstance(value, str) and re.fullmatch(r"\{[a-z_0-9]+\}", value):
        key = value[1:-1]
        return params[key] if key in params else world.ids[key]
    if isinstance(value, list):
        return [_fill(v, world, params) for v in value]
    return value


# --- bodies that need more than fixed fields -------------------------------------------------------


def _bpmn_upload(world: World, params: Params) -> Send:
    xml = (MODELS_DIR / "pdsa_cycle.bpmn").read_bytes().replace(b'id="pdsa_cycle"', b'id="matris_process"')
    forms = [(io.BytesIO(p.read_bytes()), p.name) for p in sorted((MODELS_DIR / "forms").glob("pdsa_*.json"))]
    return Send(form={"bpmn": (io.BytesIO(xml), "matris_process.bpmn"), "forms": forms})


def _complete(world: World, params: Params) -> Send:
    return Send(json={"data": world.ids["form_data"].get(params["task_id"], {})})


def _csv(world: World, params: Params) -> Send:
    return Send(form={"text": "period;value\n2026-03-01;7\n", "enhet": str(params["unit_id"])})


def _new_draft(world: World, params: Params) -> Send:
    xml = (MODELS_DIR / "pdsa_cycle.bpmn").read_text(encoding="utf-8").replace('id="pdsa_cycle"', 'id="matris_api"')
    return Send(json={"xml": xml})


def _save_draft(world: World, params: Params) -> Send:
    return Send(json={"xml": world.ids["draft_xml"]})


MEASURE = {
    "name": "Andel uppföljda", "kind": "process", "definition": "", "unit_label": "%", "direction": "higher",
    "target": "", "frequency": "month", "level": "local", "chart_type": "run", "rules": "ihi", "aggregation": "none",
}  # fmt: skip
SETTINGS = {**MEASURE, "baseline_points": "", "shift_points": "", "trend_points": "", "recalculations": ""}

# --- what the writes carry -------------------------------------------------------------------------
SIGN_IN = form(username="{coord_username}", password=PASSWORD)
ENGLISH = form(lang="en", next="/")
READ_ONE = form(id="{notification_id}")
NEW_TOKEN = form(name="Rapporter", days="30")
NEW_PASSWORD = form(password="ett-nytt-langt-losenord", password_again="ett-nytt-langt-losenord")
NEW_USER = form(username="ny.person", display_name="Ny Person", email="ny@example.se", system_role="member",
                password="ett-langt-losenord-2026")  # fmt: skip
NEW_CASE = form(process_id="vgr_introduction", title="Nytt införande", region_id="{region}", unit_ids=["{unit_a}"])
ADD_PARTICIPANT = form(user_id="{member_id}", role="rpt")
COMMENT = form(text="En kommentar")
SIGNAL = form(name="godkand_nationellt")
SUSPEND = form(action="suspend", reason="Paus")
NEW_MEASURE = form(**MEASURE)
TASK_DRAFT = form(action="draft")
REASSIGN = form(user_id="{coordinator_id}")
DUE_DATE = form(due_date="2030-01-15")
DATA_POINT = form(period="2026-02-01", value="7", enhet="{unit_id}")
CSV_IMPORT = _csv
MEASURE_SETTINGS = form(**SETTINGS)
BPMN_UPLOAD = _bpmn_upload
VERSIONS = query(fran="{version_id}", till="{version_id}")
DRY_RUN = form(version_id="{version_id}", case_ids=["{case1}"], action="dry_run")
UNDO_MOVE = form(process_id="vgr_introduction")
SAVE_DRAFT = _save_draft
PREVIEW = js(schema="{}")
RETIRE = form(status="retired")
API_NEW_TOKEN = js(name="Rapporter", days=30)
API_NEW_CASE = js(process_id="vgr_introduction", title="Nytt införande", region_id="{region}", unit_ids=["{unit_a}"])
API_SIGNAL = js(name="godkand_nationellt")
API_REASON = js(reason="Ett skäl")
API_NEW_MEASURE = js(name="Andel uppföljda")
API_REASSIGN = js(user_id="{coordinator_id}")
API_COMMENT = js(text="En kommentar")
API_COMPLETE = _complete
API_RENAME = js(name="Nytt namn")
API_DATA_POINT = js(unit_id="{unit_id}", period="2026-02-01", value=7)
API_CSV_IMPORT = js(csv="period;value\n2026-03-01;7\n", unit_id="{unit_id}")
API_NEW_DRAFT = _new_draft
API_VERSIONS = query(from_id="{version_id}", to_id="{version_id}")
API_RETIRE = js(status="retired")
API_CASE_IDS = js(case_ids=["{case1}"])

# --- the table -------------------------------------------------------------------------------------
ID = "int(max=2147483647)"
TASK = "string(maxlength=64)"
PROCESS = "string(maxlength=120)"
NO = "405 405 405 405 405 405 405"
"""A method the route does not have, for everyone."""
API_NO = "401 405 405 405 405 405 405"
"""A method an API route does not have: the token is checked first."""

# fmt: off
ROWS: list[Row] = [
    #   route                                                            target            statuses: anon member rpt staff coord coord2 admin
    # --- public pages and the person's own
    row("/",                                                             "-",              get="200 302 302 302 302 302 302", post=NO),
    row("/health",                                                       "-",              get="200 200 200 200 200 200 200", post=NO),
    row("/vardforlopp",                                                  "-",              get="200 200 200 200 200 200 200", post=NO),
    row("/static/<path:filename>",                                       "-",              get="200 200 200 200 200 200 200", post=NO),
    row("/static/<path:filename>",                                       "missing",        get="404 404 404 404 404 404 404", post=NO),
    row("/logga-in",                                                     "-",              get="200 200 200 200 200 200 200", post="302 302 302 302 302 302 302", body=SIGN_IN),
    # single sign-on is not configured here: its pages do not exist (tests/web/test_sso.py signs in through it)
    row("/sso/logga-in",                                                 "-",              get="404 404 404 404 404 404 404", post=NO),
    row("/sso/callback",                                                 "-",              get="404 404 404 404 404 404 404", post=NO),
    row("/logga-ut",                                                     "-",              get=NO, post="302 302 302 302 302 302 302"),
    row("/sprak",                                                        "-",              get=NO, post="302 302 302 302 302 302 302", body=ENGLISH),
    row("/kalender/<token>.ics",                                         "-",              get="200 200 200 200 200 200 200", post=NO),
    row("/kalender/<token>.ics",                                         "missing",        get="404 404 404 404 404 404 404", post=NO),
    row("/uppgifter",                                                    "-",              get="302 200 200 200 200 200 200", post=NO),
    row("/oversikt",                                                     "-",              get="302 200 200 200 200 200 200", post=NO),
    row("/larande",                                                      "-",              get="302 200 200 200 200 200 200", post=NO),
    row("/aviseringar",                                                  "-",              get="302 200 200 200 200 200 200", post=NO),
    row("/aviseringar/last",                                             "-",              get=NO, post="302 302 302 302 302 302 302", body=READ_ONE),
    row("/konto",                                                        "-",              get="302 200 200 200 200 200 200", post=NO),
    row("/konto/api-nycklar",                                            "-",              get=NO, post="302 200 200 200 200 200 200", body=NEW_TOKEN),
    row(f"/konto/api-nycklar/<{ID}:token_id>/aterkalla",                 "-",              get=NO, post="302 404 404 404 302 404 302"),
    row(f"/konto/api-nycklar/<{ID}:token_id>/aterkalla",                 "missing",        get=NO, post="302 404 404 404 404 404 404"),
    row("/konto/kalender",                                               "-",              get=NO, post="302 200 200 200 200 200 200"),
    row("/konto/losenord",                                               "-",              get=NO, post="302 302 302 302 302 302 302", body=NEW_PASSWORD),
    row("/admin/anvandare",                                              "-",              get="302 403 403 403 403 403 200", post="302 403 403 403 403 403 302", body=NEW_USER),
    row("/planerat",                                                     "-",              get="302 403 403 403 200 200 200", post=NO),
    # --- cases (case 1: the first team's, case 2: coord2's own)
    row("/arenden/nytt",                                                 "-",              get="302 403 403 403 200 200 200", post="302 403 403 403 302 302 302", body=NEW_CASE),
    row("/arenden/<int:case_id>",                                        "case 1",         get="302 403 200 200 200 403 200", post=NO),
    row("/arenden/<int:case_id>",                                        "case 2",         get="302 403 403 403 403 200 200", post=NO),
    row("/arenden/<int:case_id>",                                        "missing",        get="302 404 404 404 404 404 404", post=NO),
    row("/arenden/<int:case_id>/export.zip",                             "case 1",         get="302 403 403 403 200 403 200", post=NO),
    row("/arenden/<int:case_id>/export.zip",                             "case 2",         get="302 403 403 403 403 200 200", post=NO),
    row("/arenden/<int:case_id>/export.zip",                             "missing",        get="302 404 404 404 404 404 404", post=NO),
    row("/arenden/<int:case_id>/diagram",                                "case 1",         get="302 403 200 200 200 403 200", post=NO),
    row("/arenden/<int:case_id>/diagram",                                "case 2",         get="302 403 403 403 403 200 200", post=NO),
    row("/arenden/<int:case_id>/diagram",                                "missing",        get="302 404 404 404 404 404 404", post=NO),
    row("/arenden/<int:case_id>/enheter/<int:unit_id>",                  "case 1",         get="302 403 200 200 200 403 200", post=NO),
    row("/arenden/<int:case_id>/enheter/<int:unit_id>",                  "case 1, unit B", get="302 403 200 200 200 403 200", post=NO),
    row("/arenden/<int:case_id>/enheter/<int:unit_id>",                  "case 2",         get="302 403 403 403 403 200 200", post=NO),
    row("/arenden/<int:case_id>/enheter/<int:unit_id>",                  "missing",        get="302 404 404 404 404 404 404", post=NO),
    row("/arenden/<int:case_id>/deltagare",                              "case 1",         get=NO, post="302 403 403 403 302 403 302", body=ADD_PARTICIPANT),
    row("/arenden/<int:case_id>/deltagare",                              "case 2",         get=NO, post="302 403 403 403 403 302 302", body=ADD_PARTICIPANT),
    row("/arenden/<int:case_id>/deltagare",                              "missing",        get=NO, post="302 404 404 404 404 404 404", body=ADD_PARTICIPANT),
    row("/arenden/<int:case_id>/kommentar",                              "case 1",         get=NO, post="302 403 302 302 302 403 302", body=COMMENT),
    row("/arenden/<int:case_id>/kommentar",                              "case 2",         get=NO, post="302 403 403 403 403 302 302", body=COMMENT),
    row("/arenden/<int:case_id>/kommentar",                              "missing",        get=NO, post="302 404 404 404 404 404 404", body=COMMENT),
    row("/arenden/<int:case_id>/signal",                                 "case 1",         get=NO, post="302 403 302 302 302 403 302", body=SIGNAL),
    row("/arenden/<int:case_id>/signal",                                 "case 2",         get=NO, post="302 403 403 403 403 302 302", body=SIGNAL),
    row("/arenden/<int:case_id>/signal",                                 "missing",        get=NO, post="302 404 404 404 404 404 404", body=SIGNAL),
    row("/arenden/<int:case_id>/status",                                 "case 1",         get=NO, post="302 403 403 403 302 403 302", body=SUSPEND),
    row("/arenden/<int:case_id>/status",                                 "case 2",         get=NO, post="302 403 403 403 403 302 302", body=SUSPEND),
    row("/arenden/<int:case_id>/status",                                 "missing",        get=NO, post="302 404 404 404 404 404 404", body=SUSPEND),
    row("/arenden/<int:case_id>/matetal",                                "case 1",         get="302 403 200 200 200 403 200", post="302 403 403 403 302 403 302", body=NEW_MEASURE),
    row("/arenden/<int:case_id>/matetal",                                "case 2",         get="302 403 403 403 403 200 200", post="302 403 403 403 403 302 302", body=NEW_MEASURE),
    row("/arenden/<int:case_id>/matetal",                                "missing",        get="302 404 404 404 404 404 404", post="302 404 404 404 404 404 404", body=NEW_MEASURE),
    # --- tasks (case 1: unit A's Lokal verksamhet task, unit B: another unit's; case 2's is claimed by its Kunskapsstyrning)
    row("/uppgifter/<task_id>",                                          "case 1",         get="302 403 403 200 200 403 200", post="302 403 403 302 302 403 302", body=TASK_DRAFT),
    row("/uppgifter/<task_id>",                                          "case 1, unit B", get="302 403 403 403 200 403 200", post="302 403 403 403 302 403 302", body=TASK_DRAFT),
    row("/uppgifter/<task_id>",                                          "case 2",         get="302 403 403 403 403 200 200", post="302 403 403 403 403 302 302", body=TASK_DRAFT),
    row("/uppgifter/<task_id>",                                          "missing",        get="302 404 404 404 404 404 404", post="302 404 404 404 404 404 404", body=TASK_DRAFT),
    row("/uppgifter/<task_id>/ta",                                       "case 1",         get=NO, post="302 403 403 302 302 403 302"),
    row("/uppgifter/<task_id>/ta",                                       "case 1, unit B", get=NO, post="302 403 403 403 302 403 302"),
    row("/uppgifter/<task_id>/ta",                                       "case 2",         get=NO, post="302 403 403 403 403 409 409"),
    row("/uppgifter/<task_id>/ta",                                       "missing",        get=NO, post="302 404 404 404 404 404 404"),
    row("/uppgifter/<task_id>/lamna",                                    "case 1",         get=NO, post="302 403 403 409 409 403 409"),
    row("/uppgifter/<task_id>/lamna",                                    "case 1, unit B", get=NO, post="302 403 403 403 409 403 409"),
    row("/uppgifter/<task_id>/lamna",                                    "case 2",         get=NO, post="302 403 403 403 403 302 302"),
    row("/uppgifter/<task_id>/lamna",                                    "missing",        get=NO, post="302 404 404 404 404 404 404"),
    row("/uppgifter/<task_id>/tilldela",                                 "case 1",         get=NO, post="302 403 403 403 302 403 302", body=REASSIGN),
    row("/uppgifter/<task_id>/tilldela",                                 "case 1, unit B", get=NO, post="302 403 403 403 302 403 302", body=REASSIGN),
    row("/uppgifter/<task_id>/tilldela",                                 "case 2",         get=NO, post="302 403 403 403 403 302 302", body=REASSIGN),
    row("/uppgifter/<task_id>/tilldela",                                 "missing",        get=NO, post="302 404 404 404 404 404 404", body=REASSIGN),
    row("/uppgifter/<task_id>/forfallodatum",                            "case 1",         get=NO, post="302 403 403 403 302 403 302", body=DUE_DATE),
    row("/uppgifter/<task_id>/forfallodatum",                            "case 1, unit B", get=NO, post="302 403 403 403 302 403 302", body=DUE_DATE),
    row("/uppgifter/<task_id>/forfallodatum",                            "case 2",         get=NO, post="302 403 403 403 403 302 302", body=DUE_DATE),
    row("/uppgifter/<task_id>/forfallodatum",                            "missing",        get=NO, post="302 404 404 404 404 404 404", body=DUE_DATE),
    row("/uppgifter/<task_id>/kommentar",                                "case 1",         get=NO, post="302 403 403 302 302 403 302", body=COMMENT),
    row("/uppgifter/<task_id>/kommentar",                                "case 1, unit B", get=NO, post="302 403 403 403 302 403 302", body=COMMENT),
    row("/uppgifter/<task_id>/kommentar",                                "case 2",         get=NO, post="302 403 403 403 403 302 302", body=COMMENT),
    row("/uppgifter/<task_id>/kommentar",                                "missing",        get=NO, post="302 404 404 404 404 404 404", body=COMMENT),
    # --- measures and PDSA records
    row("/matetal/<int:measure_id>",                                     "case 1",         get="302 403 200 200 200 403 200", post=NO),
    row("/matetal/<int:measure_id>",                                     "case 2",         get="302 403 403 403 403 200 200", post=NO),
    row("/matetal/<int:measure_id>",                                     "missing",        get="302 404 404 404 404 404 404", post=NO),
    row("/matetal/<int:measure_id>/data.csv",                            "case 1",         get="302 403 200 200 200 403 200", post=NO),
    row("/matetal/<int:measure_id>/data.csv",                            "case 2",         get="302 403 403 403 403 200 200", post=NO),
    row("/matetal/<int:measure_id>/data.csv",                            "missing",        get="302 404 404 404 404 404 404", post=NO),
    row("/matetal/<int:measure_id>/punkter",                             "case 1",         get=NO, post="302 403 302 302 302 403 302", body=DATA_POINT),
    row("/matetal/<int:measure_id>/punkter",                             "case 2",         get=NO, post="302 403 403 403 403 302 302", body=DATA_POINT),
    row("/matetal/<int:measure_id>/punkter",                             "missing",        get=NO, post="302 404 404 404 404 404 404", body=DATA_POINT),
    row("/matetal/<int:measure_id>/import",                              "case 1",         get=NO, post="302 403 302 302 302 403 302", body=CSV_IMPORT),
    row("/matetal/<int:measure_id>/import",                              "case 2",         get=NO, post="302 403 403 403 403 302 302", body=CSV_IMPORT),
    row("/matetal/<int:measure_id>/import",                              "missing",        get=NO, post="302 404 404 404 404 404 404", body=CSV_IMPORT),
    row("/matetal/<int:measure_id>/installningar",                       "case 1",         get="302 403 403 403 200 403 200", post="302 403 403 403 302 403 302", body=MEASURE_SETTINGS),
    row("/matetal/<int:measure_id>/installningar",                       "case 2",         get="302 403 403 403 403 200 200", post="302 403 403 403 403 302 302", body=MEASURE_SETTINGS),
    row("/matetal/<int:measure_id>/installningar",                       "missing",        get="302 404 404 404 404 404 404", post="302 404 404 404 404 404 404", body=MEASURE_SETTINGS),
    row("/ramper/<int:ramp_id>",                                         "case 1",         get="302 403 200 200 200 403 200", post=NO),
    row("/ramper/<int:ramp_id>",                                         "case 2",         get="302 403 403 403 403 200 200", post=NO),
    row("/ramper/<int:ramp_id>",                                         "missing",        get="302 404 404 404 404 404 404", post=NO),
    row("/ramper/<int:ramp_id>/utskrift",                                "case 1",         get="302 403 200 200 200 403 200", post=NO),
    row("/ramper/<int:ramp_id>/utskrift",                                "case 2",         get="302 403 403 403 403 200 200", post=NO),
    row("/ramper/<int:ramp_id>/utskrift",                                "missing",        get="302 404 404 404 404 404 404", post=NO),
    row("/cykler/<int:cycle_id>",                                        "case 1",         get="302 403 200 200 200 403 200", post=NO),
    row("/cykler/<int:cycle_id>",                                        "case 2",         get="302 403 403 403 403 200 200", post=NO),
    row("/cykler/<int:cycle_id>",                                        "missing",        get="302 404 404 404 404 404 404", post=NO),
    # --- the model workshop: every coordinator's
    row("/modeller",                                                     "-",              get="302 403 403 403 200 200 200", post=NO),
    row("/modeller/importera",                                           "-",              get=NO, post="302 403 403 403 302 302 302", body=BPMN_UPLOAD),
    row("/modeller/jamfor",                                              "-",              get="302 403 403 403 200 200 200", post=NO, body=VERSIONS),
    row("/modeller/<process_id>/utkast",                                 "-",              get="302 403 403 403 302 302 302", post=NO),
    row("/modeller/<process_id>/utkast",                                 "missing",        get="302 403 403 403 404 404 404", post=NO),
    row("/modeller/<process_id>/utkast/jamfor",                          "-",              get="302 403 403 403 200 200 200", post=NO),
    row("/modeller/<process_id>/utkast/jamfor",                          "missing",        get="302 403 403 403 404 404 404", post=NO),
    row("/modeller/<process_id>/flytta",                                 "-",              get="302 403 403 403 200 200 200", post="302 403 403 403 200 200 200", body=DRY_RUN),
    row("/modeller/<process_id>/flytta",                                 "missing",        get="302 403 403 403 404 404 404", post="302 403 403 403 404 404 404", body=DRY_RUN),
    row("/modeller/arenden/<int:case_id>/flytta-tillbaka",               "case 1",         get=NO, post="302 403 403 403 302 302 302", body=UNDO_MOVE),
    row("/modeller/arenden/<int:case_id>/flytta-tillbaka",               "case 2",         get=NO, post="302 403 403 403 302 302 302", body=UNDO_MOVE),
    row("/modeller/arenden/<int:case_id>/flytta-tillbaka",               "missing",        get=NO, post="302 403 403 403 404 404 404", body=UNDO_MOVE),
    row("/modeller/utkast/<int:draft_id>",                               "-",              get="302 403 403 403 200 200 200", post=NO),
    row("/modeller/utkast/<int:draft_id>",                               "missing",        get="302 403 403 403 404 404 404", post=NO),
    row("/modeller/utkast/<int:draft_id>/spara",                         "-",              get=NO, post="302 403 403 403 200 200 200", body=SAVE_DRAFT),
    row("/modeller/utkast/<int:draft_id>/spara",                         "missing",        get=NO, post="302 403 403 403 404 404 404", body=SAVE_DRAFT),
    row("/modeller/utkast/<int:draft_id>/forhandsvisning",               "-",              get=NO, post="302 403 403 403 200 200 200", body=PREVIEW),
    row("/modeller/utkast/<int:draft_id>/forhandsvisning",               "missing",        get=NO, post="302 403 403 403 404 404 404", body=PREVIEW),
    row("/modeller/utkast/<int:draft_id>/publicera",                     "-",              get=NO, post="302 403 403 403 302 302 302"),
    row("/modeller/utkast/<int:draft_id>/publicera",                     "missing",        get=NO, post="302 403 403 403 404 404 404"),
    row("/modeller/utkast/<int:draft_id>/kasta",                         "-",              get=NO, post="302 403 403 403 302 302 302"),
    row("/modeller/utkast/<int:draft_id>/kasta",                         "missing",        get=NO, post="302 403 403 403 404 404 404"),
    row("/modeller/versioner/<int:version_id>.bpmn",                     "-",              get="302 403 403 403 200 200 200", post=NO),
    row("/modeller/versioner/<int:version_id>.bpmn",                     "missing",        get="302 403 403 403 404 404 404", post=NO),
    row("/modeller/versioner/<int:version_id>.zip",                      "-",              get="302 403 403 403 200 200 200", post=NO),
    row("/modeller/versioner/<int:version_id>.zip",                      "missing",        get="302 403 403 403 404 404 404", post=NO),
    row("/modeller/versioner/<int:version_id>/status",                   "-",              get=NO, post="302 403 403 403 302 302 302", body=RETIRE),
    row("/modeller/versioner/<int:version_id>/status",                   "missing",        get=NO, post="302 403 403 403 404 404 404", body=RETIRE),
    # --- the API: open documents, the person's own, the catalogue
    row("/api/v1/openapi.json",                                          "-",              get="200 200 200 200 200 200 200", post=NO),
    row("/api/v1/docs",                                                  "-",              get="200 200 200 200 200 200 200", post=NO),
    row("/api/v1/tokens",                                                "-",              get="401 200 200 200 200 200 200", post="401 201 201 201 201 201 201", body=API_NEW_TOKEN),
    row(f"/api/v1/tokens/<{ID}:token_id>",                               "-",              get=API_NO, post=API_NO, delete="401 404 404 404 200 404 200"),
    row(f"/api/v1/tokens/<{ID}:token_id>",                               "missing",        get=API_NO, post=API_NO, delete="401 404 404 404 404 404 404"),
    row("/api/v1/notifications",                                         "-",              get="401 200 200 200 200 200 200", post=API_NO),
    row("/api/v1/notifications/read",                                    "-",              get=API_NO, post="401 200 200 200 200 200 200"),
    row(f"/api/v1/notifications/<{ID}:notification_id>/read",            "-",              get=API_NO, post="401 200 200 200 200 200 200"),
    row(f"/api/v1/notifications/<{ID}:notification_id>/read",            "missing",        get=API_NO, post="401 200 200 200 200 200 200"),
    row("/api/v1/catalogue/pathways",                                    "-",              get="401 200 200 200 200 200 200", post=API_NO),
    row("/api/v1/catalogue/people",                                      "-",              get="401 200 200 200 200 200 200", post=API_NO),
    row("/api/v1/catalogue/processes",                                   "-",              get="401 200 200 200 200 200 200", post=API_NO),
    row("/api/v1/catalogue/regions",                                     "-",              get="401 200 200 200 200 200 200", post=API_NO),
    row("/api/v1/catalogue/roles",                                       "-",              get="401 200 200 200 200 200 200", post=API_NO),
    row("/api/v1/catalogue/units",                                       "-",              get="401 200 200 200 200 200 200", post=API_NO),
    row("/api/v1/learning",                                              "-",              get="401 200 200 200 200 200 200", post=API_NO),
    row("/api/v1/tasks",                                                 "-",              get="401 200 200 200 200 200 200", post=API_NO),
    # --- the API: cases
    row("/api/v1/cases",                                                 "-",              get="401 200 200 200 200 200 200", post="401 403 403 403 201 201 201", body=API_NEW_CASE),
    row(f"/api/v1/cases/<{ID}:case_id>",                                 "case 1",         get="401 403 200 200 200 403 200", post=API_NO),
    row(f"/api/v1/cases/<{ID}:case_id>",                                 "case 2",         get="401 403 403 403 403 200 200", post=API_NO),
    row(f"/api/v1/cases/<{ID}:case_id>",                                 "missing",        get="401 404 404 404 404 404 404", post=API_NO),
    row(f"/api/v1/cases/<{ID}:case_id>/history",                         "case 1",         get="401 403 200 200 200 403 200", post=API_NO),
    row(f"/api/v1/cases/<{ID}:case_id>/history",                         "case 2",         get="401 403 403 403 403 200 200", post=API_NO),
    row(f"/api/v1/cases/<{ID}:case_id>/history",                         "missing",        get="401 404 404 404 404 404 404", post=API_NO),
    row(f"/api/v1/cases/<{ID}:case_id>/cycles",                          "case 1",         get="401 403 200 200 200 403 200", post=API_NO),
    row(f"/api/v1/cases/<{ID}:case_id>/cycles",                          "case 2",         get="401 403 403 403 403 200 200", post=API_NO),
    row(f"/api/v1/cases/<{ID}:case_id>/cycles",                          "missing",        get="401 404 404 404 404 404 404", post=API_NO),
    row(f"/api/v1/cases/<{ID}:case_id>/signals",                         "case 1",         get=API_NO, post="401 403 200 200 200 403 200", body=API_SIGNAL),
    row(f"/api/v1/cases/<{ID}:case_id>/signals",                         "case 2",         get=API_NO, post="401 403 403 403 403 200 200", body=API_SIGNAL),
    row(f"/api/v1/cases/<{ID}:case_id>/signals",                         "missing",        get=API_NO, post="401 404 404 404 404 404 404", body=API_SIGNAL),
    row(f"/api/v1/cases/<{ID}:case_id>/suspend",                         "case 1",         get=API_NO, post="401 403 403 403 200 403 200", body=API_REASON),
    row(f"/api/v1/cases/<{ID}:case_id>/suspend",                         "case 2",         get=API_NO, post="401 403 403 403 403 200 200", body=API_REASON),
    row(f"/api/v1/cases/<{ID}:case_id>/suspend",                         "missing",        get=API_NO, post="401 404 404 404 404 404 404", body=API_REASON),
    row(f"/api/v1/cases/<{ID}:case_id>/resume",                          "case 1",         get=API_NO, post="401 403 403 403 409 403 409", body=API_REASON),
    row(f"/api/v1/cases/<{ID}:case_id>/resume",                          "case 2",         get=API_NO, post="401 403 403 403 403 409 409", body=API_REASON),
    row(f"/api/v1/cases/<{ID}:case_id>/resume",                          "missing",        get=API_NO, post="401 404 404 404 404 404 404", body=API_REASON),
    row(f"/api/v1/cases/<{ID}:case_id>/cancel",                          "case 1",         get=API_NO, post="401 403 403 403 200 403 200", body=API_REASON),
    row(f"/api/v1/cases/<{ID}:case_id>/cancel",                          "case 2",         get=API_NO, post="401 403 403 403 403 200 200", body=API_REASON),
    row(f"/api/v1/cases/<{ID}:case_id>/cancel",                          "missing",        get=API_NO, post="401 404 404 404 404 404 404", body=API_REASON),
    row(f"/api/v1/cases/<{ID}:case_id>/measures",                        "case 1",         get="401 403 200 200 200 403 200", post="401 403 403 403 201 403 201", body=API_NEW_MEASURE),
    row(f"/api/v1/cases/<{ID}:case_id>/measures",                        "case 2",         get="401 403 403 403 403 200 200", post="401 403 403 403 403 201 201", body=API_NEW_MEASURE),
    row(f"/api/v1/cases/<{ID}:case_id>/measures",                        "missing",        get="401 404 404 404 404 404 404", post="401 404 404 404 404 404 404", body=API_NEW_MEASURE),
    row(f"/api/v1/cases/<{ID}:case_id>/migration/undo",                  "case 1",         get=API_NO, post="401 403 403 403 409 409 409"),
    row(f"/api/v1/cases/<{ID}:case_id>/migration/undo",                  "case 2",         get=API_NO, post="401 403 403 403 409 409 409"),
    row(f"/api/v1/cases/<{ID}:case_id>/migration/undo",                  "missing",        get=API_NO, post="401 403 403 403 404 404 404"),
    # --- the API: tasks
    row(f"/api/v1/tasks/<{TASK}:task_id>",                               "case 1",         get="401 403 403 200 200 403 200", post=API_NO),
    row(f"/api/v1/tasks/<{TASK}:task_id>",                               "case 1, unit B", get="401 403 403 403 200 403 200", post=API_NO),
    row(f"/api/v1/tasks/<{TASK}:task_id>",                               "case 2",         get="401 403 403 403 403 200 200", post=API_NO),
    row(f"/api/v1/tasks/<{TASK}:task_id>",                               "missing",        get="401 404 404 404 404 404 404", post=API_NO),
    row(f"/api/v1/tasks/<{TASK}:task_id>/claim",                         "case 1",         get=API_NO, post="401 403 403 200 200 403 200"),
    row(f"/api/v1/tasks/<{TASK}:task_id>/claim",                         "case 1, unit B", get=API_NO, post="401 403 403 403 200 403 200"),
    row(f"/api/v1/tasks/<{TASK}:task_id>/claim",                         "case 2",         get=API_NO, post="401 403 403 403 403 409 409"),
    row(f"/api/v1/tasks/<{TASK}:task_id>/claim",                         "missing",        get=API_NO, post="401 404 404 404 404 404 404"),
    row(f"/api/v1/tasks/<{TASK}:task_id>/unclaim",                       "case 1",         get=API_NO, post="401 403 403 409 409 403 409"),
    row(f"/api/v1/tasks/<{TASK}:task_id>/unclaim",                       "case 1, unit B", get=API_NO, post="401 403 403 403 409 403 409"),
    row(f"/api/v1/tasks/<{TASK}:task_id>/unclaim",                       "case 2",         get=API_NO, post="401 403 403 403 403 200 200"),
    row(f"/api/v1/tasks/<{TASK}:task_id>/unclaim",                       "missing",        get=API_NO, post="401 404 404 404 404 404 404"),
    row(f"/api/v1/tasks/<{TASK}:task_id>/reassign",                      "case 1",         get=API_NO, post="401 403 403 403 200 403 200", body=API_REASSIGN),
    row(f"/api/v1/tasks/<{TASK}:task_id>/reassign",                      "case 1, unit B", get=API_NO, post="401 403 403 403 200 403 200", body=API_REASSIGN),
    row(f"/api/v1/tasks/<{TASK}:task_id>/reassign",                      "case 2",         get=API_NO, post="401 403 403 403 403 200 200", body=API_REASSIGN),
    row(f"/api/v1/tasks/<{TASK}:task_id>/reassign",                      "missing",        get=API_NO, post="401 404 404 404 404 404 404", body=API_REASSIGN),
    row(f"/api/v1/tasks/<{TASK}:task_id>/comments",                      "case 1",         get=API_NO, post="401 403 403 201 201 403 201", body=API_COMMENT),
    row(f"/api/v1/tasks/<{TASK}:task_id>/comments",                      "case 1, unit B", get=API_NO, post="401 403 403 403 201 403 201", body=API_COMMENT),
    row(f"/api/v1/tasks/<{TASK}:task_id>/comments",                      "case 2",         get=API_NO, post="401 403 403 403 403 201 201", body=API_COMMENT),
    row(f"/api/v1/tasks/<{TASK}:task_id>/comments",                      "missing",        get=API_NO, post="401 404 404 404 404 404 404", body=API_COMMENT),
    row(f"/api/v1/tasks/<{TASK}:task_id>/complete",                      "case 1",         get=API_NO, post="401 403 403 200 200 403 200", body=API_COMPLETE),
    row(f"/api/v1/tasks/<{TASK}:task_id>/complete",                      "case 1, unit B", get=API_NO, post="401 403 403 403 200 403 200", body=API_COMPLETE),
    row(f"/api/v1/tasks/<{TASK}:task_id>/complete",                      "case 2",         get=API_NO, post="401 403 403 403 403 200 200", body=API_COMPLETE),
    row(f"/api/v1/tasks/<{TASK}:task_id>/complete",                      "missing",        get=API_NO, post="401 404 404 404 404 404 404", body=API_COMPLETE),
    # --- the API: measures and PDSA records
    row(f"/api/v1/measures/<{ID}:measure_id>",                           "case 1",         get="401 403 200 200 200 403 200", post=API_NO, patch="401 403 403 403 200 403 200", body=API_RENAME),
    row(f"/api/v1/measures/<{ID}:measure_id>",                           "case 2",         get="401 403 403 403 403 200 200", post=API_NO, patch="401 403 403 403 403 200 200", body=API_RENAME),
    row(f"/api/v1/measures/<{ID}:measure_id>",                           "missing",        get="401 404 404 404 404 404 404", post=API_NO, patch="401 404 404 404 404 404 404", body=API_RENAME),
    row(f"/api/v1/measures/<{ID}:measure_id>/chart",                     "case 1",         get="401 403 200 200 200 403 200", post=API_NO),
    row(f"/api/v1/measures/<{ID}:measure_id>/chart",                     "case 2",         get="401 403 403 403 403 200 200", post=API_NO),
    row(f"/api/v1/measures/<{ID}:measure_id>/chart",                     "missing",        get="401 404 404 404 404 404 404", post=API_NO),
    row(f"/api/v1/measures/<{ID}:measure_id>/data-points",               "case 1",         get="401 403 200 200 200 403 200", post="401 403 200 200 200 403 200", body=API_DATA_POINT),
    row(f"/api/v1/measures/<{ID}:measure_id>/data-points",               "case 2",         get="401 403 403 403 403 200 200", post="401 403 403 403 403 200 200", body=API_DATA_POINT),
    row(f"/api/v1/measures/<{ID}:measure_id>/data-points",               "missing",        get="401 404 404 404 404 404 404", post="401 404 404 404 404 404 404", body=API_DATA_POINT),
    row(f"/api/v1/measures/<{ID}:measure_id>/data-points.csv",           "case 1",         get="401 403 200 200 200 403 200", post=API_NO),
    row(f"/api/v1/measures/<{ID}:measure_id>/data-points.csv",           "case 2",         get="401 403 403 403 403 200 200", post=API_NO),
    row(f"/api/v1/measures/<{ID}:measure_id>/data-points.csv",           "missing",        get="401 404 404 404 404 404 404", post=API_NO),
    row(f"/api/v1/measures/<{ID}:measure_id>/data-points/import",        "case 1",         get=API_NO, post="401 403 200 200 200 403 200", body=API_CSV_IMPORT),
    row(f"/api/v1/measures/<{ID}:measure_id>/data-points/import",        "case 2",         get=API_NO, post="401 403 403 403 403 200 200", body=API_CSV_IMPORT),
    row(f"/api/v1/measures/<{ID}:measure_id>/data-points/import",        "missing",        get=API_NO, post="401 404 404 404 404 404 404", body=API_CSV_IMPORT),
    row(f"/api/v1/ramps/<{ID}:ramp_id>",                                 "case 1",         get="401 403 200 200 200 403 200", post=API_NO),
    row(f"/api/v1/ramps/<{ID}:ramp_id>",                                 "case 2",         get="401 403 403 403 403 200 200", post=API_NO),
    row(f"/api/v1/ramps/<{ID}:ramp_id>",                                 "missing",        get="401 404 404 404 404 404 404", post=API_NO),
    row(f"/api/v1/cycles/<{ID}:cycle_id>",                               "case 1",         get="401 403 200 200 200 403 200", post=API_NO),
    row(f"/api/v1/cycles/<{ID}:cycle_id>",                               "case 2",         get="401 403 403 403 403 200 200", post=API_NO),
    row(f"/api/v1/cycles/<{ID}:cycle_id>",                               "missing",        get="401 404 404 404 404 404 404", post=API_NO),
    # --- the API: the model workshop
    row("/api/v1/models",                                                "-",              get="401 403 403 403 200 200 200", post=API_NO),
    row("/api/v1/models/drafts",                                         "-",              get=API_NO, post="401 403 403 403 201 201 201", body=API_NEW_DRAFT),
    row("/api/v1/models/drafts/files",                                   "-",              get=API_NO, post="401 403 403 403 201 201 201", body=BPMN_UPLOAD),
    row("/api/v1/models/versions/diff",                                  "-",              get="401 403 403 403 200 200 200", post=API_NO, body=API_VERSIONS),
    row(f"/api/v1/models/<{PROCESS}:process_id>/draft",                  "-",              get=API_NO, post="401 403 403 403 200 200 200"),
    row(f"/api/v1/models/<{PROCESS}:process_id>/draft",                  "missing",        get=API_NO, post="401 403 403 403 404 404 404"),
    row(f"/api/v1/models/drafts/<{ID}:draft_id>",                        "-",              get="401 403 403 403 200 200 200", post=API_NO, put="401 403 403 403 200 200 200", delete="401 403 403 403 204 204 204", body=SAVE_DRAFT),
    row(f"/api/v1/models/drafts/<{ID}:draft_id>",                        "missing",        get="401 403 403 403 404 404 404", post=API_NO, put="401 403 403 403 404 404 404", delete="401 403 403 403 404 404 404", body=SAVE_DRAFT),
    row(f"/api/v1/models/drafts/<{ID}:draft_id>/publish",                "-",              get=API_NO, post="401 403 403 403 201 201 201"),
    row(f"/api/v1/models/drafts/<{ID}:draft_id>/publish",                "missing",        get=API_NO, post="401 403 403 403 404 404 404"),
    row(f"/api/v1/models/versions/<{ID}:version_id>/bpmn",               "-",              get="401 403 403 403 200 200 200", post=API_NO),
    row(f"/api/v1/models/versions/<{ID}:version_id>/bpmn",               "missing",        get="401 403 403 403 404 404 404", post=API_NO),
    row(f"/api/v1/models/versions/<{ID}:version_id>/forms",              "-",              get="401 403 403 403 200 200 200", post=API_NO),
    row(f"/api/v1/models/versions/<{ID}:version_id>/forms",              "missing",        get="401 403 403 403 404 404 404", post=API_NO),
    row(f"/api/v1/models/versions/<{ID}:version_id>/status",             "-",              get=API_NO, post=API_NO, put="401 403 403 403 409 409 409", body=API_RETIRE),
    row(f"/api/v1/models/versions/<{ID}:version_id>/status",             "missing",        get=API_NO, post=API_NO, put="401 403 403 403 404 404 404", body=API_RETIRE),
    row(f"/api/v1/models/versions/<{ID}:version_id>/dry-run",            "-",              get=API_NO, post="401 403 403 403 200 200 200", body=API_CASE_IDS),
    row(f"/api/v1/models/versions/<{ID}:version_id>/dry-run",            "missing",        get=API_NO, post="401 403 403 403 404 404 404", body=API_CASE_IDS),
    row(f"/api/v1/models/versions/<{ID}:version_id>/migrate",            "-",              get=API_NO, post="401 403 403 403 200 200 200", body=API_CASE_IDS),
    row(f"/api/v1/models/versions/<{ID}:version_id>/migrate",            "missing",        get=API_NO, post="401 403 403 403 404 404 404", body=API_CASE_IDS),
]
# fmt: on


# --- the world -------------------------------------------------------------------------------------


def _build(session: Session) -> tuple[dict[str, Actor], dict[str, Params], dict[str, Any]]:
    """Two teams' cases (VGR, units A and B), case 1 walked to its units with unit A in its first
    PDSA cycle, a measure per case, a draft, and the personal things of case 1's coordinator."""
    load_reference_data(session)
    session.commit()
    publish_directory(session, SYSTEM_ACTOR, MODELS_DIR)
    session.commit()
    case1, team1, (unit_a, unit_b) = start_vgr(session, units=2, prefix="lag1")
    session.commit()
    case2, team2, _units = start_vgr(session, units=2, prefix="lag2")
    session.commit()
    admin = make_actor(session, "matris.admin", "admin")
    session.commit()
    measure1 = create_measure(session, team1.coordinator, case1, name="Andel med vårdplan")
    measure2 = create_measure(session, team2.coordinator, case2, name="Andel med vårdplan")
    session.commit()
    walk_vgr_to_units(session, team1, case1)
    do(session, team1, case1, "step_06_local_anchoring", unit=unit_a)
    do(session, team1, case1, "step_07_implementation_plan", {"already_compliant": False}, unit=unit_a)
    do(session, team1, case1, "pdsa_plan", PLAN, unit=unit_a)  # the first cycle, recorded by the task
    do(session, team1, case1, "step_06_local_anchoring", unit=unit_b)
    cycle1 = session.scalars(select(PdsaCycle).where(PdsaCycle.case_id == case1)).one()
    cycle2 = record_step(session, case_id=case2, unit_id=unit_a, stage="plan", data=PLAN)
    session.commit()
    task_a = task_row(session, case1, "pdsa_do", unit=unit_a)  # Lokal verksamhet, unit A
    task_b = task_row(session, case1, "step_07_implementation_plan", unit=unit_b)  # Lokal verksamhet, unit B
    task_2 = task_row(session, case2, "step_01_consultation")  # Kunskapsstyrning of case 2, claimed by theirs
    claim_task(session, team2.by_role["kunskapsstyrning"], task_2.task_id)
    samples = {row.task_id: form_data(session, row.case_id, row) for row in (task_a, task_b, task_2)}
    actors = {
        "member": team1.outsider,
        "rpt": team1.by_role["rpt"],
        "staff": team1.by_unit[unit_a],
        "coord": team1.coordinator,
        "coord2": team2.coordinator,
        "admin": admin,
    }
    coord = team1.coordinator
    draft = open_draft(session, coord, "vgr_introduction")
    token_info, _secret = create_token(session, coord, "matrisens egen", 30)
    calendar = create_calendar_token(session, coord)
    notification = Notification(user_id=coord.user_id, kind="reminder", title="Påminnelse", body="")
    session.add(notification)
    for actor in actors.values():
        set_password(session, SYSTEM_ACTOR, actor.username, PASSWORD)
    version = session.scalar(
        select(ModelVersion.id).join(ProcessModel).where(ProcessModel.process_id == "vgr_introduction")
    )
    session.commit()
    for name in ("member", "rpt", "staff", "coord", "coord2", "admin"):
        assert actors[name].user_id is not None
    globals_ = {
        "process_id": "vgr_introduction", "version_id": version, "draft_id": draft.id, "token_id": token_info.id,
        "notification_id": notification.id, "token": calendar, "filename": "css/infora.css",
    }  # fmt: skip
    case_1 = {"case_id": case1, "unit_id": unit_a, "task_id": task_a.task_id, "measure_id": measure1.id,
              "cycle_id": cycle1.id, "ramp_id": cycle1.ramp_id, "coordinator_id": coord.user_id}  # fmt: skip
    case_2 = {"case_id": case2, "unit_id": unit_a, "task_id": task_2.task_id, "measure_id": measure2.id,
              "cycle_id": cycle2.id, "ramp_id": cycle2.ramp_id, "coordinator_id": team2.coordinator.user_id}  # fmt: skip
    missing = {"case_id": 999999, "unit_id": 999999, "task_id": MISSING_TASK, "measure_id": 999999,
               "cycle_id": 999999, "ramp_id": 999999, "coordinator_id": coord.user_id, "process_id": "okand_process",
               "version_id": 999999, "draft_id": 999999, "token_id": 999999, "notification_id": 999999,
               "token": "inf_cal_okand", "filename": "css/okand.css"}  # fmt: skip
    targets = {
        "-": globals_,
        "case 1": {**globals_, **case_1},
        "case 1, unit B": {**globals_, **case_1, "unit_id": unit_b, "task_id": task_b.task_id},
        "case 2": {**globals_, **case_2},
        "missing": {**globals_, **missing},
    }
    ids = {
        "case1": case1, "case2": case2, "unit_a": unit_a, "unit_b": unit_b, "region": _region(session, case1),
        "staff_id": team1.by_unit[unit_a].user_id, "member_id": team1.outsider.user_id, "form_data": samples,
        "coord_username": coord.username, "draft_xml": draft.bpmn_xml, "version_id": version,
    }  # fmt: skip
    return actors, targets, ids


def _region(session: Session, case_id: int) -> int:
    case = session.get(Case, case_id)
    assert case is not None and case.region_id is not None
    return case.region_id


@pytest.fixture(scope="module")
def world(db_engine: Engine) -> Iterator[World]:
    """The world, built once; the app's sessions join one connection's transaction, which every
    request rolls back (``send``)."""
    _empty(db_engine)
    session = make_session_factory(db_engine)()
    begin_write(session)
    try:
        actors, targets, ids = _build(session)
        tokens = {name: create_token(session, actor, f"matris {name}", 30)[1] for name, actor in actors.items()}
        session.commit()
    finally:
        session.close()
    app = create_app({"TESTING": True, "DATABASE_URL": db_engine.url.render_as_string(hide_password=False),
                      "SECRET_KEY": "matris"})  # fmt: skip
    connection = db_engine.connect()
    app.extensions["infora.sessions"] = sessionmaker(
        bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )
    world = World(app, connection, actors, tokens, targets=targets, ids=ids)
    for name in ROLES:
        world.cookies[name], world.csrf[name] = _session_cookie(
            world, actors[name].username if name in actors else None
        )
    yield world
    connection.close()
    app.extensions["infora.engine"].dispose()


def _session_cookie(world: World, username: str | None) -> tuple[str, str]:
    """The session cookie a person has after signing in on the sign-in page (None: nobody signed
    in, a session with only its CSRF token) and the CSRF token of that session."""
    client = world.app.test_client()
    transaction = world.connection.begin()
    try:
        if username is not None:
            signed_in = client.post("/logga-in", data={"username": username, "password": PASSWORD,
                                                       "csrf_token": csrf(client)})  # fmt: skip
            assert signed_in.status_code == 302, signed_in.get_data(as_text=True)
        token = csrf(client)  # the signed-in session's own token
    finally:
        transaction.rollback()
    cookie = client.get_cookie(world.app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None and token
    return cookie.value, token


def path_for(rule: str, params: Params) -> str:
    """The rule's path with the target's values in its parameters."""
    return re.sub(r"<(?:[^:<>]+:)?([a-z_]+)>", lambda m: str(params[m.group(1)]), rule)


@dataclass(frozen=True)
class Answer:
    """A response's status, redirect target and body."""

    status: int
    location: str
    text: str


def send(world: World, who: str, method: str, path: str, payload: Send | None = None) -> Answer:
    """One request as ``who`` (the API with their bearer token, pages with their session cookie and
    CSRF token), in a transaction rolled back afterwards."""
    payload = payload or Send()
    client: FlaskClient = world.app.test_client()
    headers: dict[str, str] = {}
    kwargs: dict[str, Any] = {"query_string": payload.query}
    if path.startswith("/api/"):
        if who != "anon":
            headers["Authorization"] = f"Bearer {world.tokens[who]}"
        if method != "GET":
            if payload.form is not None:
                kwargs["data"] = payload.form
            else:
                kwargs["json"] = payload.json if payload.json is not None else {}
    else:
        client.set_cookie(world.app.config["SESSION_COOKIE_NAME"], world.cookies[who])
        headers["X-CSRFToken"] = world.csrf[who]
        if method != "GET":
            if payload.json is not None:
                kwargs["json"] = payload.json
            else:
                kwargs["data"] = {**(payload.form or {}), "csrf_token": world.csrf[who]}
    transaction = world.connection.begin()
    try:
        response = client.open(path, method=method, headers=headers, **kwargs)
        text = response.get_data().decode("utf-8", "replace")  # read inside the transaction: files stream
        response.close()
        return Answer(response.status_code, response.headers.get("Location", ""), text)
    finally:
        transaction.rollback()


def app_routes(app: Flask) -> dict[str, set[str]]:
    """Every rule of the app with its methods (HEAD and OPTIONS left out: Flask answers them)."""
    routes: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        routes.setdefault(rule.rule, set()).update((rule.methods or set()) - {"HEAD", "OPTIONS"})
    return routes


def test_every_route_is_in_the_table(world: World) -> None:
    routes = app_routes(world.app)
    in_table = {item.rule for item in ROWS}
    assert sorted(set(routes) - in_table) == [], "routes without a line in ROWS"
    assert sorted(in_table - set(routes)) == [], "lines in ROWS for routes that do not exist"
    for item in ROWS:
        assert {"GET", "POST"} | routes[item.rule] <= set(item.expect), (item.rule, item.target)
        assert item.target in world.targets, item.target
    keys = [(item.rule, item.target) for item in ROWS]
    assert len(keys) == len(set(keys)), "a route and target twice in ROWS"


def _short(rule: str) -> str:
    return rule.replace(f"{ID}", "int").replace(f"{TASK}", "string").replace(f"{PROCESS}", "string")


def test_authorization_matrix(world: World) -> None:
    """Every line of the table, every method, every person; the matrix is printed (``pytest -s``)."""
    wrong: list[str] = []
    width = max(len(_short(item.rule)) for item in ROWS)
    lines = [f"{'route':{width}} {'target':14} {'method':6} " + " ".join(f"{r:>6}" for r in ROLES)]
    cells = 0
    for item in ROWS:
        params = world.targets[item.target]
        for method, expected in item.expect.items():
            got: list[int] = []
            for who, status in zip(ROLES, expected, strict=True):
                answer = send(
                    world, who, method, path_for(item.rule, params), item.body(world, params) if item.body else None
                )
                got.append(answer.status)
                cells += 1
                to_login = answer.location.startswith("/logga-in?next=")
                if answer.status == 302 and to_login != (who == "anon" and item.rule not in OPEN_PAGES):
                    wrong.append(f"{method} {item.rule} [{item.target}] {who}: redirected to {answer.location}")
                if answer.status != status:
                    wrong.append(f"{method} {item.rule} [{item.target}] {who}: expected {status}, got "
                                 f"{answer.status} {answer.text[:300]!r}")  # fmt: skip
            mark = "" if tuple(got) == expected else "   <-- expected " + " ".join(map(str, expected))
            statuses = " ".join(f"{s:>6}" for s in got)
            lines.append(f"{_short(item.rule):{width}} {item.target:14} {method:6} {statuses}{mark}")
    print("\n" + "\n".join(lines))
    print(
        f"{len(app_routes(world.app))} routes in {len(ROWS)} route × target lines × {len(ROLES)} people: {cells} requests"
    )
    assert not wrong, "\n".join(wrong)


def _ids(answer: Answer, key: str) -> set[Any]:
    assert answer.status == 200, answer
    body = json.loads(answer.text)
    return {item[key] for item in (body["items"] if isinstance(body, dict) else body)}


def test_lists_show_only_what_the_person_may_open(world: World) -> None:
    """The lists (inbox, cases, notifications, tokens) hold only what the same person may open:
    the matrix's 403s are not undone by a list that names the other team's objects."""
    case1, case2 = world.ids["case1"], world.ids["case2"]
    task_a, task_b = world.targets["case 1"]["task_id"], world.targets["case 1, unit B"]["task_id"]
    task_2 = world.targets["case 2"]["task_id"]
    cases = {"member": set(), "rpt": {case1}, "staff": {case1}, "coord": {case1}, "coord2": {case2},
             "admin": {case1, case2}}  # fmt: skip
    tasks = {"member": set(), "rpt": set(), "staff": {task_a}, "coord": {task_a, task_b}, "coord2": {task_2},
             "admin": {task_a, task_b, task_2}}  # fmt: skip
    for who in ROLES[1:]:
        assert _ids(send(world, who, "GET", "/api/v1/cases"), "id") == cases[who], who
        assert _ids(send(world, who, "GET", "/api/v1/tasks"), "task_id") == tasks[who], who
        inbox = send(world, who, "GET", "/uppgifter").text
        assert set(re.findall(r'href="/uppgifter/([0-9a-f-]{36})"', inbox)) == tasks[who], who
        notifications = _ids(send(world, who, "GET", "/api/v1/notifications"), "id")
        assert notifications == ({world.targets["-"]["notification_id"]} if who == "coord" else set()), who
        names = {t["name"] for t in json.loads(send(world, who, "GET", "/api/v1/tokens").text)}
        assert names == {f"matris {who}"} | ({"matrisens egen"} if who == "coord" else set()), who
