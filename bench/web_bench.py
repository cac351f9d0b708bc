"""Web benchmark (issue 4): with 10,000 cases and 50,000 open tasks in SQLite, the inbox page of a
member with 40 tasks and the portfolio page, server time per request (Flask test client, the whole
request: routing, session, queries, template). Also counts workflow loads (must be 0).

Run: ``.venv/bin/python bench/web_bench.py [--cases N]``. Prints measured figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select, update

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import engine.workflow.runtime as runtime  # noqa: E402
from engine.catalogue.reference import load_reference_data  # noqa: E402
from engine.persistence import Case, CaseParticipant, ModelVersion, Pathway, Region, TaskIndexRow, Unit  # noqa: E402
from engine.persistence.database import make_engine, make_session_factory, unit_of_work  # noqa: E402
from engine.persistence.schema import upgrade_database  # noqa: E402
from engine.services import SYSTEM_ACTOR, publish_directory  # noqa: E402
from engine.services.case_store import EARLIEST_DUE  # noqa: E402
from engine.services.users import create_user  # noqa: E402
from web import create_app  # noqa: E402

STEPS = ["Lokal förankring", "Införandeplan", "Planera", "Göra", "Studera", "Agera", "Uppföljning"]


def populate(url: str, cases: int, tasks_per_case: int, member_tasks: int) -> None:
    engine = make_engine(url)
    upgrade_database(engine)
    factory = make_session_factory(engine)
    with unit_of_work(factory) as s:
        load_reference_data(s)
        publish_directory(s, SYSTEM_ACTOR, ROOT / "bpmn")
        member = create_user(s, SYSTEM_ACTOR, username="medlem", display_name="Medlem", password="bench-password-1")
        create_user(s, SYSTEM_ACTOR, username="koord", display_name="Koord", system_role="coordinator",
                    password="bench-password-1")  # fmt: skip
        others = [create_user(s, SYSTEM_ACTOR, username=f"u{i}", display_name=f"U {i}").id for i in range(200)]
        version = s.scalar(select(ModelVersion.id).order_by(ModelVersion.id.desc()))
        pathways = list(s.scalars(select(Pathway.id)))
        regions = list(s.scalars(select(Region.id)))
        units = list(s.scalars(select(Unit.id)))
        member_id = member.id
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            insert(Case.__table__),  # type: ignore[arg-type]
            [
                {"id": i + 1, "model_version_id": version, "process_id": "vgr_introduction",
                 "pathway_id": pathways[i % len(pathways)], "region_id": regions[i % len(regions)],
                 "title": f"Införande {i + 1}", "status": "running", "phase": "introducerad", "version": 1,
                 "next_timer_at": now + timedelta(days=30 + i % 60), "created_at": now, "updated_at": now,
                 "state": "{}"}
                for i in range(cases)
            ],
        )  # fmt: skip
        tasks = []
        for i in range(cases):
            for j in range(tasks_per_case):
                tasks.append({
                    "case_id": i + 1, "task_id": str(uuid.uuid4()), "bpmn_id": f"step_{j}", "process_id": "vgr_unit",
                    "name": STEPS[j % len(STEPS)], "kind": "user" if j else "timer", "state": "ready" if j else "waiting",
                    "lane": "lokal_verksamhet", "unit_id": units[(i + j) % len(units)], "assignee_id": None,
                    "form": None, "event_name": None, "ready_at": now - timedelta(days=j),
                    "due_at": now + timedelta(days=(i * 7 + j) % 40 - 10), "due_overridden": False,
                    "reminder_stage": 0, "next_reminder_at": None,
                })  # fmt: skip
        conn.execute(insert(TaskIndexRow.__table__), tasks)  # type: ignore[arg-type]
        conn.execute(update(Case.__table__).values(earliest_due_at=EARLIEST_DUE))  # as the services keep it
        participants = [
            {"case_id": i + 1, "user_id": others[i % len(others)], "role_code": "lokal_verksamhet", "unit_id": None}
            for i in range(cases)
        ]
        # The member holds the unit role in enough cases for ~member_tasks user tasks.
        per_case = tasks_per_case - 1
        participants += [
            {"case_id": i + 1, "user_id": member_id, "role_code": "lokal_verksamhet", "unit_id": None}
            for i in range(0, cases, max(1, cases // max(1, member_tasks // per_case)))
        ][: max(1, member_tasks // per_case)]
        conn.execute(insert(CaseParticipant.__table__), participants)  # type: ignore[arg-type]
    engine.dispose()


def measure(url: str, rounds: int) -> None:
    loads = 0
    original = runtime.CaseWorkflow.load

    def counting_load(*args: object, **kwargs: object) -> object:
        nonlocal loads
        loads += 1
        return original(*args, **kwargs)  # type: ignore[arg-type]

    runtime.CaseWorkflow.load = counting_load  # type: ignore[method-assign,assignment]
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "WTF_CSRF_ENABLED": False})
    results = {}
    for username, path, label in (
        ("medlem", "/uppgifter", "inbox of a member"),
        ("koord", "/oversikt", "portfolio (coordinator: all 10,000 cases)"),
    ):
        client = app.test_client()
        assert client.post("/logga-in", data={"username": username, "password": "bench-password-1"}).status_code == 302
        first = client.get(path)
        assert first.status_code == 200, first.status_code
        rows = first.get_data(as_text=True).count("<tr")
        times = []
        for _ in range(rounds):
            started = time.perf_counter()
            response = client.get(path)
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
        results[label] = (statistics.median(times), sorted(times)[int(0.95 * len(times))], rows)
    app.extensions["infora.engine"].dispose()
    runtime.CaseWorkflow.load = original  # type: ignore[method-assign]
    for label, (p50, p95, rows) in results.items():
        target = "30" if "inbox" in label else "150"
        print(f"  {label}: p50 {p50:.1f} ms, p95 {p95:.1f} ms ({rows} table rows; target p50 <= {target} ms)")
    print(f"  workflows deserialized while serving these pages: {loads}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--tasks-per-case", type=int, default=6)  # 5 open user tasks + 1 waiting timer
    parser.add_argument("--member-tasks", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'web.sqlite3'}"
        started = time.perf_counter()
        populate(url, args.cases, args.tasks_per_case, args.member_tasks)
        user_tasks = args.cases * (args.tasks_per_case - 1)
        print(
            f"Infora web benchmark: SQLite, {args.cases} cases, {user_tasks} open user tasks "
            f"(+{args.cases} waiting timers); set-up {time.perf_counter() - started:.1f} s"
        )
        measure(url, args.rounds)


if __name__ == "__main__":
    main()
