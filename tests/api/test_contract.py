"""The contract test: schemathesis reads the OpenAPI document the running server serves and calls
every operation over real HTTP on 127.0.0.1 with generated requests, authenticated with an admin's
bearer token, on a database with the shipped models, a VGR case in its first PDSA cycle, a measure
with data points and a draft.

Checks, per response (chosen so that each one holds only when the document tells the truth):
- ``not_a_server_error``: no 5xx, ever;
- ``status_code_conformance``: the status is one the operation documents (each error status is
  listed explicitly, besides the ``default`` error answer);
- ``content_type_conformance``: the body's media type is the documented one (JSON, or the XML and
  CSV downloads);
- ``response_schema_conformance``: the body validates against the documented schema — the success
  schemas and ErrorSchema for every error.
Not run: ``negative_data_rejection`` and ``positive_data_acceptance``, which judge whether the server
accepts what the document allows. A valid-looking request may fairly be refused by the domain (an
unknown id is 404, a process model that does not validate is 422), so those checks would flag the
domain rules, not the contract.

Each operation runs with generated path parameters (mostly unknown ids: the 404s), and each with
path parameters also with them fixed to things that exist (the case, a ready task, the measure, the cycle, the
ramp, the draft, a version), so that generated queries and bodies meet real resources. Suspending,
resuming, cancelling and moving back use a second case, so the first one stays running.

Bounded and repeatable: positive generation only, ``MAX_EXAMPLES`` per operation and round, derandomized
(Hypothesis' fixed seed per test), no example database, no shrinking beyond Hypothesis' default for
the first failure of an operation. The admin's token has an id no generated path reaches (so a
generated ``DELETE /tokens/{id}`` revokes only the five decoy tokens with small ids).
"""

from __future__ import annotations

import time

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select, update

from engine.persistence import ApiToken, ModelVersion, TaskIndexRow
from engine.services.drafts import open_draft
from engine.services.tokens import create_token
from tests.api.conftest import PREFIX, World
from tests.factories import start_vgr

MAX_EXAMPLES = 15
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
TOKEN_ID = 2_000_000_000


def _prepare(world: World) -> tuple[str, dict[str, dict[str, object]]]:
    """The admin's token and the existing path parameters of each operation (by path)."""
    s = world.session
    admin = world.actor("admin")
    decoys = [create_token(s, admin, f"lockbete {n}", 30)[0].id for n in range(5)]
    info, secret = create_token(s, admin, "schemathesis", 30)
    s.flush()
    s.execute(update(ApiToken).where(ApiToken.id == info.id).values(id=TOKEN_ID))
    draft = open_draft(s, world.team.coordinator, "pdsa_cycle")
    spare, _team, _units = start_vgr(s, units=1, prefix="reserv")
    s.commit()
    task_id = s.scalar(
        select(TaskIndexRow.task_id)
        .where(TaskIndexRow.case_id == world.case_id, TaskIndexRow.state == "ready", TaskIndexRow.kind == "user")
        .order_by(TaskIndexRow.id)
        .limit(1)
    )
    assert task_id is not None
    version_id = s.scalar(select(ModelVersion.id).order_by(ModelVersion.id.desc()).limit(1))
    known: dict[str, object] = {
        "case_id": world.case_id, "task_id": task_id, "measure_id": world.measure_id, "cycle_id": world.cycle_id,
        "ramp_id": world.ramp_id, "draft_id": draft.id, "version_id": version_id, "process_id": "pdsa_cycle",
        "token_id": decoys[0], "notification_id": 1,
    }  # fmt: skip
    per_path: dict[str, dict[str, object]] = {}
    for action in ("suspend", "resume", "cancel", "migration/undo"):
        per_path[f"{PREFIX}/cases/{{case_id}}/{action}"] = {"case_id": spare}
    return secret, {"*": known, **per_path}


def test_every_operation_keeps_to_the_served_document(world: World, live_server: str) -> None:
    token, known = _prepare(world)
    schema = schemathesis.openapi.from_url(f"{live_server}{PREFIX}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 55
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {token}"
    failures: list[str] = []
    started = time.monotonic()
    calls = 0
    try:
        # Generated ids are often small, so they reach the existing resources too: the round with
        # the existing ids goes first, and those operations that end a resource (discard, cancel,
        # revoke) run with the existing ids only at the very end.
        with_ids = [o for o in operations if "{" in o.path]
        ending = [o for o in with_ids if o.method.lower() == "delete" or o.path.endswith("/cancel")]
        rounds = [(o, _existing(o, known)) for o in with_ids if o not in ending]
        rounds += [(o, None) for o in operations]
        rounds += [(o, _existing(o, known)) for o in ending]
        for operation, path_parameters in rounds:

            @settings(
                max_examples=MAX_EXAMPLES,
                derandomize=True,
                database=None,
                deadline=None,
                phases=[Phase.explicit, Phase.generate, Phase.shrink],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(path_parameters=path_parameters))
            def call(case: schemathesis.Case) -> None:
                nonlocal calls
                calls += 1
                case.call_and_validate(base_url=live_server, session=http, checks=CHECKS, timeout=30)

            try:
                call()
            except Exception as err:  # noqa: BLE001 - every operation's failure is collected and reported
                where = "existing ids" if path_parameters else "generated ids"
                failures.append(f"{operation.label} ({where}): {err}")
    finally:
        http.close()
    elapsed = time.monotonic() - started
    assert not failures, "\n\n".join(failures)
    # Every operation was called, and the whole run stays well inside its time budget.
    assert calls >= len(rounds) and elapsed < 110, (calls, elapsed)
    still = requests.get(f"{live_server}{PREFIX}/tasks", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert still.status_code == 200


def _existing(operation: schemathesis.APIOperation, known: dict[str, dict[str, object]]) -> dict[str, object]:
    values = {**known["*"], **known.get(operation.path, {})}
    names = [p.name for p in operation.path_parameters]
    return {name: values[name] for name in names}
