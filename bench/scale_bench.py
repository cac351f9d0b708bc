"""Scale benchmark (issue 8): 100,000 cases in PostgreSQL — do the inbox of a member and the
portfolio ("Översikt") slow down by more than 2x against 10,000 cases?

The rows are realistic: a few hundred template cases are started and advanced through the services
(VGR cases at every stage: just started, waiting for national approval, in the units, PDSA loops
running, a few cancelled), then cloned with SQL and COPY into many more. A clone is a whole case:
its workflow state with every task id replaced (a clone's ids are ``md5(template id || case id)``,
computed the same way in Python for the state and in SQL for the rows), its units, its participants
(the template's people, its coordinator too, swapped for others from a pool of 1,000), its task index rows, its history
(audit events) and its form submissions — so task index, state and participants stay consistent (the
script checks a sample of clones with ``CaseWorkflow.load`` against their index). A clone's dates
are moved back by up to a year (its user tasks' due dates too, so some are overdue); its timers are
kept, as its state holds them. PDSA records are not cloned (neither page reads them).

The member (40 tasks, in a fixed set of cases that is not cloned) and a coordinator (who sees every
case on the portfolio, and coordinates the templates) are measured at 10,000 cases, then 90,000 more are added and they are measured again: server
time per request through the Flask test client (routing, session, queries, template), p50 and p95,
and the ratio. Also the JSON inbox of the member, the portfolio when no case is late (every due date
moved 550 days on for the measurement: its first page is then the running cases, not the late ones)
and the number of workflows deserialized (must be 0).

Run: ``.venv/bin/python bench/scale_bench.py [--small 10000 --large 100000]`` (``--explain``: print
the query plans at the large size). Prints measured figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import re
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from load_run import VGR_TO_UNITS, _walk, infora  # noqa: E402

PASSWORD = "scale-bench-password-1"
POOL = 1000
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
UNIT_STEPS = [
    ("step_06_local_anchoring", {}),
    ("step_07_implementation_plan", {"already_compliant": False}),
    ("pdsa_plan", {}),
    ("pdsa_do", {}),
]
# Template kinds: how far a template case is walked (and with how many units).
KINDS: list[tuple[str, list[tuple[str, dict[str, Any]]]]] = [
    ("started", []),
    ("awaiting approval", VGR_TO_UNITS[:1]),
    ("approved", VGR_TO_UNITS[:2]),
    ("in the units", VGR_TO_UNITS),
    ("PDSA loops running", VGR_TO_UNITS + UNIT_STEPS),
    ("planning the first cycle", VGR_TO_UNITS + UNIT_STEPS[:2]),
]
MEMBER_CASES = 13  # the member is Införandeansvarig in this many 3-unit cases: ~40 tasks


def clone_uuid(old: str, case_id: int) -> str:
    """A clone's id for a template's task id (the SQL side computes the same)."""
    return str(uuid.UUID(hashlib.md5(f"{old}{case_id}".encode()).hexdigest()))


def _templates(url: str, numbers: list[int], plan: dict[str, Any]) -> list[int]:
    """Start and advance template cases through the services (a worker of the set-up pool)."""
    from engine.persistence.database import make_engine, make_session_factory, unit_of_work
    from engine.services import Actor, ParticipantSpec, cancel_case, start_case
    from engine.services.versions import load_version

    engine = make_engine(url)
    factory = make_session_factory(engine)
    coordinator = Actor(*plan["coordinator"])
    ids = []
    for n in numbers:
        rng = random.Random(n)
        _kind, steps = KINDS[n % len(KINDS)]
        units_n = 3 if n % len(KINDS) == 3 else 1 + n % 4
        units = rng.sample(plan["units"], units_n)
        pool = plan["pool"]
        people = [
            {"user_id": pool[rng.randrange(len(pool))], "role": r}
            for r in ("kunskapsstyrning", "samordningsrad", "rpt", "inforandeansvarig")
        ]
        if n % len(KINDS) == 3 and n // len(KINDS) < MEMBER_CASES:
            people[3]["user_id"] = plan["member"]
        people += [{"user_id": pool[rng.randrange(len(pool))], "role": "lokal_verksamhet", "unit_id": u} for u in units]
        with unit_of_work(factory) as s:
            info = start_case(
                s,
                coordinator,
                process_id="vgr_introduction",
                title=f"Införande {n + 1}",
                region_id=plan["region_id"],
                pathway_id=rng.choice(plan["pathways"]),
                unit_ids=units,
                participants=[ParticipantSpec(**p) for p in people],
            )
            forms = load_version(s, info.model_version_id).forms
            _walk(s, coordinator, info.id, forms, steps)
            if n % 50 == 49:
                cancel_case(s, coordinator, info.id, "Ersatt av ett annat införande")
            ids.append(info.id)
    engine.dispose()
    return ids


def make_templates(url: str, count: int) -> dict[str, Any]:
    """Schema, reference data, the shipped models, people, and ``count`` template cases."""
    from sqlalchemy import select

    from engine.persistence import Pathway, Region, Unit
    from engine.persistence.catalogue import Organisation
    from engine.persistence.database import make_engine, make_session_factory, unit_of_work
    from engine.services import SYSTEM_ACTOR
    from engine.services.users import create_user

    infora(url, "db", "upgrade")
    infora(url, "init", "--no-demo")
    engine = make_engine(url)
    factory = make_session_factory(engine)
    with unit_of_work(factory) as s:
        koord = create_user(
            s, SYSTEM_ACTOR, username="koord", display_name="Koordinator", system_role="coordinator", password=PASSWORD
        )
        member = create_user(s, SYSTEM_ACTOR, username="medlem", display_name="Medlem", password=PASSWORD)
        pool = [
            create_user(
                s, SYSTEM_ACTOR, username=f"p{i:04d}", display_name=f"Person {i:04d}", email=f"p{i:04d}@example.se"
            ).id
            for i in range(POOL)
        ]
        region_id = s.scalar(select(Region.id).where(Region.code == "vgr"))
        units = list(s.scalars(select(Unit.id).join(Organisation).where(Organisation.region_id == region_id)))
        pathways = list(s.scalars(select(Pathway.id)))
        plan = {
            "coordinator": (koord.id, koord.username, koord.display_name, koord.system_role),
            "member": member.id,
            "pool": pool,
            "region_id": region_id,
            "units": units,
            "pathways": pathways,
        }
    engine.dispose()
    chunks = [list(range(i, count, 2)) for i in range(2)]
    with ProcessPoolExecutor(2) as workers:
        ids = sorted(i for part in workers.map(_templates, [url] * 2, chunks, [plan] * 2) for i in part)
    return {**plan, "templates": ids}


# SQL that copies a template's rows to its clones, given the temporary table ``clone_map``
# (template case id, clone case id, days moved back, participant shift). Every participant is
# replaced by a pool person: the member's inbox and the coordinator's own cases stay the same size.
CLONE_SQL = [
    """INSERT INTO case_units (case_id, unit_id)
       SELECT m.clone_id, u.unit_id FROM clone_map m JOIN case_units u ON u.case_id = m.template_id""",
    """INSERT INTO case_participants (case_id, user_id, role_code, unit_id)
       SELECT m.clone_id,
              %(pool_first)s + mod(mod(p.user_id - %(pool_first)s + m.shift, %(pool_size)s) + %(pool_size)s,
                                   %(pool_size)s),
              p.role_code, p.unit_id
       FROM clone_map m JOIN case_participants p ON p.case_id = m.template_id""",
    """INSERT INTO task_index (case_id, task_id, bpmn_id, process_id, name, kind, state, lane, unit_id, assignee_id,
                               form, event_name, ready_at, due_at, due_overridden, reminder_stage, next_reminder_at)
       SELECT m.clone_id, md5(t.task_id || m.clone_id)::uuid::text, t.bpmn_id, t.process_id, t.name, t.kind, t.state,
              t.lane, t.unit_id, NULL, t.form, t.event_name,
              t.ready_at - make_interval(days => m.days),
              CASE WHEN t.kind = 'user' THEN t.due_at - make_interval(days => m.days) ELSE t.due_at END,
              t.due_overridden, t.reminder_stage,
              CASE WHEN t.kind = 'user' THEN t.next_reminder_at - make_interval(days => m.days) END
       FROM clone_map m JOIN task_index t ON t.case_id = m.template_id""",
    """INSERT INTO audit_events (at, actor_id, case_id, action, task_id, entity, entity_id, before, after, details)
       SELECT a.at - make_interval(days => m.days), a.actor_id, m.clone_id, a.action,
              CASE WHEN a.task_id IS NULL THEN NULL ELSE md5(a.task_id || m.clone_id)::uuid::text END,
              a.entity, a.entity_id, a.before, a.after, a.details
       FROM clone_map m JOIN audit_events a ON a.case_id = m.template_id""",
    """INSERT INTO form_submissions (case_id, task_id, bpmn_id, task_name, unit_id, submitted_by_id, submitted_at, data)
       SELECT m.clone_id, md5(f.task_id || m.clone_id)::uuid::text, f.bpmn_id, f.task_name, f.unit_id,
              f.submitted_by_id, f.submitted_at - make_interval(days => m.days), f.data
       FROM clone_map m JOIN form_submissions f ON f.case_id = m.template_id""",
]


def clone(url: str, plan: dict[str, Any], upto: int, seed: int) -> float:
    """Add clones of the templates until the database holds ``upto`` cases; returns seconds."""
    import psycopg

    started = time.perf_counter()
    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    rng = random.Random(seed)
    with psycopg.connect(conninfo) as conn:
        have = conn.execute("SELECT count(*), max(id) FROM cases").fetchone()
        assert have is not None
        count, next_id = have[0], have[1] + 1
        templates = conn.execute(
            "SELECT id, model_version_id, process_id, pathway_id, region_id, title, status, phase, version, "
            "next_timer_at, created_at, created_by_id, updated_at, completed_at, earliest_due_at, state FROM cases "
            "WHERE id = ANY(%s)",
            (plan["templates"],),
        ).fetchall()
        pathways = plan["pathways"]
        batch = 5000
        while count < upto:
            n = min(batch, upto - count)
            mapping = []
            columns = (
                "id",
                "model_version_id",
                "process_id",
                "pathway_id",
                "region_id",
                "title",
                "status",
                "phase",
                "version",
                "next_timer_at",
                "created_at",
                "created_by_id",
                "updated_at",
                "completed_at",
                "earliest_due_at",
                "state",
            )
            rows = []
            for i in range(n):
                (
                    tid,
                    mv,
                    proc,
                    _pathway,
                    region,
                    title,
                    status,
                    phase,
                    version,
                    timer,
                    created,
                    by,
                    updated,
                    done,
                    earliest_due,
                    state,
                ) = templates[rng.randrange(len(templates))]
                cid = next_id + i
                # Most cases are recent, some a year old: ~a quarter of the user tasks are overdue.
                days = min(365, int(rng.expovariate(1 / 10)))
                moved = timedelta(days=days)
                new_state = UUID_RE.sub(lambda m, cid=cid: clone_uuid(m.group(0), cid), state)
                rows.append(
                    (
                        cid,
                        mv,
                        proc,
                        rng.choice(pathways),
                        region,
                        f"{title.split(' ')[0]} {cid}",
                        status,
                        phase,
                        version,
                        timer,
                        created - moved,
                        by,
                        updated - moved,
                        done - moved if done else None,
                        earliest_due - moved if earliest_due else None,  # as its user tasks' due dates
                        new_state,
                    )
                )
                mapping.append((tid, cid, days, rng.randrange(POOL)))
            with conn.cursor() as cur:
                with cur.copy(f"COPY cases ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                cur.execute(
                    "CREATE TEMP TABLE IF NOT EXISTS clone_map (template_id int, clone_id int, days int, "
                    "shift int) ON COMMIT DELETE ROWS"
                )
                with cur.copy("COPY clone_map FROM STDIN") as copy:
                    for row in mapping:
                        copy.write_row(row)
                for sql in CLONE_SQL:
                    params = {"pool_first": plan["pool"][0], "pool_size": POOL}
                    cur.execute(sql, params)
            conn.commit()
            count += n
            next_id += n
        for table in ("cases", "case_participants", "task_index", "audit_events", "form_submissions"):
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
    return time.perf_counter() - started


def check_sample(url: str, plan: dict[str, Any], sample: int = 200) -> None:
    """Clones are real cases: a sample loads and matches its task index and next timer."""
    from load_run import Checks, consistent
    from sqlalchemy import select

    from engine.persistence import Case
    from engine.persistence.database import make_engine, make_session_factory

    engine = make_engine(url)
    factory = make_session_factory(engine)
    with factory() as s:
        ids = list(
            s.scalars(
                select(Case.id)
                .where(Case.id.not_in(plan["templates"]), Case.status != "cancelled")
                .order_by(Case.id.desc())
                .limit(sample)
            )
        )
    consistent(factory, ids, Checks())
    engine.dispose()


def sizes(url: str) -> str:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        counts = {
            t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # type: ignore[index]
            for t in ("cases", "task_index", "case_participants", "audit_events", "form_submissions")
        }
        size = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()[0]  # type: ignore[index]
        ready = conn.execute("SELECT count(*) FROM task_index WHERE state = 'ready'").fetchone()[0]  # type: ignore[index]
        overdue = conn.execute("SELECT count(*) FROM task_index WHERE kind = 'user' AND due_at < now()").fetchone()[0]  # type: ignore[index]
    return (
        ", ".join(f"{v:,} {k}" for k, v in counts.items()) + f"; {ready:,} ready tasks ({overdue:,} overdue); "
        f"database {size}"
    )


PAGES = (
    ("medlem", "/uppgifter", "inbox page of a member"),
    ("medlem", "/api/v1/tasks?page_size=50", "JSON inbox of the member"),
    ("koord", "/oversikt", "portfolio of a coordinator (every case)"),
)

NOTHING_LATE_PAGES = (("koord", "/oversikt", "portfolio of a coordinator when no case is late"),)


@dataclass
class PageTimes:
    """One page's figures: server time (p50, p95), the time its SQL statements took (p50), how many
    statements it ran, and how many rows it shows."""

    p50: float
    p95: float
    sql_p50: float
    statements: int
    rows: int


def measure(url: str, rounds: int, pages: tuple[tuple[str, str, str], ...] = PAGES) -> tuple[dict[str, PageTimes], int]:
    """Each page's figures, and how many workflows were deserialized while serving them (must be 0)."""
    from sqlalchemy import event

    import engine.workflow.runtime as runtime
    from web import create_app

    loads = 0
    original = runtime.CaseWorkflow.load

    def counting_load(*args: Any, **kwargs: Any) -> Any:
        nonlocal loads
        loads += 1
        return original(*args, **kwargs)

    runtime.CaseWorkflow.load = counting_load  # type: ignore[method-assign]
    os.environ.setdefault("INFORA_LOG_LEVEL", "WARNING")  # not an access line per measured request
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "WTF_CSRF_ENABLED": False})
    engine = app.extensions["infora.engine"]
    sql: list[float] = []
    started_at: list[float] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _before(*_args: Any) -> None:
        started_at.append(time.perf_counter())

    @event.listens_for(engine, "after_cursor_execute")
    def _after(*_args: Any) -> None:
        sql.append((time.perf_counter() - started_at.pop()) * 1000)

    results = {}
    clients = {}
    for username in ("medlem", "koord"):
        client = app.test_client()
        response = client.post("/logga-in", data={"username": username, "password": PASSWORD})
        assert response.status_code == 302, response.status_code
        clients[username] = client
    for username, path, label in pages:
        client = clients[username]
        first = client.get(path)
        assert first.status_code == 200, (path, first.status_code)
        api = path.startswith("/api")
        shown = len(first.get_json()["items"]) if api else first.get_data(as_text=True).count("<tr")
        times, sql_times = [], []
        for _ in range(rounds):
            sql.clear()
            started = time.perf_counter()
            response = client.get(path)
            times.append((time.perf_counter() - started) * 1000)
            sql_times.append(sum(sql))
            assert response.status_code == 200
        ordered = sorted(times)
        results[label] = PageTimes(
            statistics.median(ordered),
            ordered[int(0.95 * (len(ordered) - 1))],
            statistics.median(sql_times),
            len(sql),
            shown,
        )
    engine.dispose()
    runtime.CaseWorkflow.load = original  # type: ignore[method-assign]
    return results, loads


@contextmanager
def nothing_late(url: str) -> Iterator[None]:
    """Every due date a year and a half later for a while: the portfolio then lists no late case and
    its first page is the running cases (a well-kept region), not the late ones."""
    import psycopg

    moves = [
        "UPDATE task_index SET due_at = due_at + %s WHERE kind = 'user' AND due_at IS NOT NULL",
        "UPDATE cases SET earliest_due_at = earliest_due_at + %s WHERE earliest_due_at IS NOT NULL",
    ]
    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for sql in moves:
            conn.execute(sql, (timedelta(days=550),))
        conn.execute("VACUUM ANALYZE cases, task_index")
    try:
        yield
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            for sql in moves:
                conn.execute(sql, (timedelta(days=-550),))
            conn.execute("VACUUM ANALYZE cases, task_index")


def explain(url: str) -> None:
    """The plans of the measured pages' queries (as the pages run them, captured and EXPLAINed)."""
    from sqlalchemy import event, text

    from web import create_app

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "WTF_CSRF_ENABLED": False})
    engine = app.extensions["infora.engine"]
    captured: list[tuple[str, Any]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _capture(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT") and not many:
            captured.append((statement, params))

    for username, path, _label in PAGES:
        client = app.test_client()
        client.post("/logga-in", data={"username": username, "password": PASSWORD})
        captured.clear()
        client.get(path)
        print(f"\n=== {path} ({username}): {len(captured)} queries")
        with engine.connect() as conn:
            for statement, params in captured:
                plan = conn.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {statement}", params).scalars().all()
                ms = next((line for line in plan if line.startswith("Execution Time")), "")
                print(f"--- {' '.join(statement.split())[:160]}\n    {ms}")
                for line in plan[:40]:
                    if "Seq Scan" in line or ("rows=" in line and ("Sort" in line or "Hash" in line)):
                        print(f"      {line.strip()[:180]}")
            conn.execute(text("SELECT 1"))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--templates", type=int, default=300)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--explain", action="store_true")
    args = parser.parse_args()
    from pg import throwaway_postgres

    with throwaway_postgres() as pg:
        print(
            f"Infora scale benchmark: PostgreSQL {pg.psql('SHOW server_version').strip()} on 127.0.0.1, "
            f"{args.templates} template cases through the services, cloned to {args.small:,} and {args.large:,}"
        )
        started = time.perf_counter()
        plan = make_templates(pg.url, args.templates)
        print(f"  templates: {len(plan['templates'])} cases in {time.perf_counter() - started:.0f} s")
        results = {}
        for size in (args.small, args.large):
            seconds = clone(pg.url, plan, size, seed=size)
            print(f"\n{size:,} cases (cloned in {seconds:.0f} s): {sizes(pg.url)}")
            if size == args.large:
                check_sample(pg.url, plan)
            results[size], loads = measure(pg.url, args.rounds)
            with nothing_late(pg.url):
                more, more_loads = measure(pg.url, args.rounds, NOTHING_LATE_PAGES)
            results[size].update(more)
            loads += more_loads
            for label, page in results[size].items():
                print(
                    f"  {label}: p50 {page.p50:.1f} ms, p95 {page.p95:.1f} ms; its {page.statements} SQL statements "
                    f"{page.sql_p50:.1f} ms ({page.rows} rows)"
                )
            print(f"  workflows deserialized while serving these pages: {loads}")
        if args.explain:
            explain(pg.url)
        print(f"\nRatio {args.large:,} / {args.small:,} cases (target: at most 2x):")
        for label, page in results[args.large].items():
            small = results[args.small][label]
            ratio = page.p50 / small.p50
            print(
                f"  {label}: {small.p50:.1f} -> {page.p50:.1f} ms = {ratio:.2f}x ({'met' if ratio <= 2 else 'MISSED'}); "
                f"SQL {small.sql_p50:.1f} -> {page.sql_p50:.1f} ms"
            )


if __name__ == "__main__":
    main()
