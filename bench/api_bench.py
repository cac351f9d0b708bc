"""API benchmark (issue 7): the JSON API over real HTTP on 127.0.0.1, one server process (gunicorn,
one gthread worker) on a SQLite file database, a client with a keep-alive ``requests.Session`` and a bearer
token. Measures, per request as the client sees it (HTTP, routing, authentication, the service, the
commit, JSON):

- complete a task: ``POST /api/v1/tasks/{id}/complete`` (the first step of a fresh VGR case each
  time, so every call runs the workflow and saves the case) — target p50 <= 6 ms;
- start a case: ``POST /api/v1/cases`` (a VGR case with a unit and five participants) — target
  p50 <= 8 ms;
- the caller's inbox with 200 open cases: ``GET /api/v1/tasks`` (first page of 50, with the total)
  of a coordinator whose 200 running cases each have a ready task — target p50 <= 5 ms.

Reference for the same calls on this machine class (a comparable open-source service on the same
library): 43, 47 and 14 ms.

Run: ``.venv/bin/python bench/api_bench.py [--rounds N]``. Prints measured figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.catalogue.reference import load_reference_data  # noqa: E402
from engine.catalogue.sample_forms import sample_form_data  # noqa: E402
from engine.persistence import Region, TaskIndexRow, Unit  # noqa: E402
from engine.persistence.catalogue import Organisation  # noqa: E402
from engine.persistence.database import make_engine, make_session_factory, unit_of_work  # noqa: E402
from engine.persistence.schema import upgrade_database  # noqa: E402
from engine.services import SYSTEM_ACTOR, Actor, ParticipantSpec, publish_directory, start_case  # noqa: E402
from engine.services.tokens import create_token  # noqa: E402
from engine.services.users import create_user  # noqa: E402

ROLES = ("kunskapsstyrning", "samordningsrad", "rpt", "inforandeansvarig")


def populate(url: str, inbox_cases: int) -> dict[str, Any]:
    """Reference data, the shipped models, a coordinator with a token, the role holders, and
    ``inbox_cases`` running cases of the coordinator (each with its first task ready)."""
    engine = make_engine(url)
    upgrade_database(engine)
    factory = make_session_factory(engine)
    with unit_of_work(factory) as s:
        load_reference_data(s)
        publish_directory(s, SYSTEM_ACTOR, ROOT / "bpmn")
        user = create_user(s, SYSTEM_ACTOR, username="koord", display_name="Koord", system_role="coordinator")
        coordinator = Actor(user.id, user.username, user.display_name, user.system_role)
        people = {role: create_user(s, SYSTEM_ACTOR, username=role, display_name=role.title()).id for role in ROLES}
        local = create_user(s, SYSTEM_ACTOR, username="lokal", display_name="Lokal").id
        region_id = s.scalar(select(Region.id).where(Region.code == "vgr"))
        unit_id = s.scalar(
            select(Unit.id).join(Organisation).where(Organisation.region_id == region_id).order_by(Unit.id).limit(1)
        )
        _info, secret = create_token(s, coordinator, "bench", 30)
    participants = [{"user_id": uid, "role": role} for role, uid in people.items()]
    participants.append({"user_id": local, "role": "lokal_verksamhet", "unit_id": unit_id})
    body = {"process_id": "vgr_introduction", "title": "Hjärtsvikt – VGR", "region_id": region_id,
            "unit_ids": [unit_id], "participants": participants}  # fmt: skip
    with unit_of_work(factory) as s:
        specs = [ParticipantSpec(p["user_id"], p["role"], p.get("unit_id")) for p in participants]  # type: ignore[arg-type]
        for n in range(inbox_cases):
            start_case(s, coordinator, process_id="vgr_introduction", title=f"Införande {n}", region_id=region_id,
                       unit_ids=[unit_id], participants=specs)  # fmt: skip
        ready = s.scalar(select(TaskIndexRow.id).where(TaskIndexRow.state == "ready").limit(1))
        assert ready is not None
    engine.dispose()
    return {"token": secret, "case": body}


def serve(url: str, port: int) -> subprocess.Popen[bytes]:
    """The server: one gunicorn process (the production server, deploy/), one worker with threads,
    keep-alive on, access log off."""
    env = {**os.environ, "DATABASE_URL": url, "INFORA_SECRET_KEY": "bench"}
    return subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--workers", "1", "--worker-class", "gthread", "--threads", "4",
         "--keep-alive", "30", "--bind", f"127.0.0.1:{port}", "--log-level", "warning", "web:create_app()"],
        cwd=ROOT, env=env,
    )  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def timed(call: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = call()
    return (time.perf_counter() - started) * 1000, result


def report(label: str, times: list[float], target: float, reference: float) -> None:
    ordered = sorted(times)
    p50, p95 = statistics.median(ordered), ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    verdict = "met" if p50 <= target else "MISSED"
    print(f"  {label}: p50 {p50:.1f} ms, p95 {p95:.1f} ms over {len(times)} calls "
          f"(target p50 <= {target:g} ms: {verdict}; reference {reference:g} ms)")  # fmt: skip


def measure(base: str, token: str, case_body: dict[str, Any], rounds: int) -> None:
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {token}"
    api = f"{base}/api/v1"
    # Warm up: the first requests compile the OpenAPI document's schemas, load the model versions.
    for _ in range(5):
        assert http.get(f"{api}/tasks").status_code == 200
    inbox_times = []
    for _ in range(rounds):
        elapsed, response = timed(lambda: http.get(f"{api}/tasks", params={"page_size": 50}))
        assert response.status_code == 200 and response.json()["total"] >= 200, response.text[:300]
        inbox_times.append(elapsed)
    total = http.get(f"{api}/tasks").json()["total"]

    start_times, cases = [], []
    for _ in range(rounds + 5):
        elapsed, response = timed(lambda: http.post(f"{api}/cases", json=case_body))
        assert response.status_code == 201, response.text[:300]
        start_times.append(elapsed)
        cases.append(response.json()["id"])
    start_times = start_times[5:]  # the first starts warm the version cache

    tasks = []
    for case_id in cases:
        detail = http.get(f"{api}/cases/{case_id}").json()
        tasks.append(next(t["task_id"] for t in detail["tasks"] if t["bpmn_id"] == "step_01_consultation"))
    form = http.get(f"{api}/tasks/{tasks[0]}").json()["form"]
    data = {"data": sample_form_data(form or {})}
    complete_times = []
    for task_id in tasks:
        elapsed, response = timed(lambda task_id=task_id: http.post(f"{api}/tasks/{task_id}/complete", json=data))
        assert response.status_code == 200, response.text[:300]
        complete_times.append(elapsed)
    complete_times = complete_times[5:]
    http.close()
    report("complete a task", complete_times, 6, 43)
    report("start a case", start_times, 8, 47)
    report(f"the caller's inbox (first 50 of {total} tasks in 200+ open cases)", inbox_times, 5, 14)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--inbox-cases", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'api.sqlite3'}"
        started = time.perf_counter()
        setup = populate(url, args.inbox_cases)
        print(f"Infora API benchmark: SQLite file, {args.inbox_cases} open cases of the caller, gunicorn (1 gthread "
              f"worker) in its own process on 127.0.0.1, requests keep-alive; set-up {time.perf_counter() - started:.1f} s")  # fmt: skip
        port = free_port()
        server = serve(url, port)
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(200):
                try:
                    requests.get(f"{base}/health", timeout=1)
                    break
                except (requests.ConnectionError, requests.Timeout):
                    time.sleep(0.05)
            measure(base, setup["token"], setup["case"], args.rounds)
        finally:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    main()
