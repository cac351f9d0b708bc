"""Load run (issue 8): production set-up on this machine — a throw-away PostgreSQL 15 on 127.0.0.1,
``infora db upgrade``, the shipped models published, gunicorn with 4 sync workers and ONE
``infora scheduler`` process — and 50 simulated users (locust, headless, FastHttpUser) working their
inboxes over the JSON API for 2 minutes: list the inbox (``GET /api/v1/tasks``), open a task
(``GET /api/v1/tasks/<id>``) and complete it with valid values for its form
(``POST /api/v1/tasks/<id>/complete``, ``sample_form_data`` on the task's schema).

The data: 2,000 VGR cases with 3 units each, walked through steps 1-5 at set-up and then into the
PDSA loop (``--mix loop``, the default), where a region in its steady state does most of its work:
in each case one unit has its first unit step ready, one its Do step ready, and one has done its Do
step, its loop's timer running. The loops run with short cycles (40 s + 0-89 s, staggered by case, so
the timers the set-up starts fall due spread over the run), and the Act step mostly chooses "adapt"
(a new cycle), so the scheduler fires timers all through the run and every run does the same kind of
work. ``--mix units`` leaves every unit at its first unit step instead (the earlier set-up): users
then work a backlog of 6,000 unit steps soonest-due first, and how far into the loops a run gets —
hence what it measures — varied from run to run. Every case has a team: 50 people hold the
Införandeansvarig role for whole cases and the Lokal verksamhet role for units, spread so each has
~160 participations; one case in ten has a second holder of a unit role (two people then race for
the same task: a 409 for the loser is expected and counted apart).

Afterwards it verifies, from the database:
- no errors: no HTTP 5xx, no 4xx other than the expected races (409 on completing a task somebody
  else just completed, 404 on opening it);
- no lost update: every completion a client saw succeed is in the case history (audit
  ``task_completed``) exactly once and has exactly one form submission; nothing was completed that no
  client saw; no two successes report the same case version; every case's version grew by exactly
  the number of its completions and timer firings;
- every case loads (``CaseWorkflow.load``) and its task index matches the workflow.

and prints the p50/p95/p99 of task completion and the sustained completions per second.

Two ways of working, reported apart:
- people (the default): every round is a look at the inbox, one task opened, then completed — three
  requests per completion, of which the inbox (a search across the person's ~160 cases) and the
  task page (names, people, draft, comments) cost about as much as the completion;
- ``--stream``: the completion stream — each user completes every task on its inbox page, reading a
  step's form once (from its first task), as an integration or a person working down the list with
  the form at hand would; nearly every request is a completion. This is the figure for "task
  completions per second" of the engine behind the API.

With ``--stream --rate R`` the stream is offered evenly at R completions per second (each user
starts one every users / R seconds; a race lost to another user is followed at once by the user's
next task, as a person would move on, so lost races come on top of R rather than in its place)
instead of saturating the server: the latency figures then mean what a client at that load sees
(saturated, 50 users in a closed loop queue behind each other, and latency is users / throughput
by Little's law).
``--client plain`` (with ``--stream --rate R``) generates that stream with bench/plain_client.py,
a light gevent client, instead of locust: a second measurement of the same stream with less
client-side work around each request (see that module for what the two showed).

``--proxy nginx`` puts nginx in front of gunicorn as production does (deploy/nginx-infora.conf,
without TLS): the clients then keep their connections to nginx, and gunicorn answers nginx.

Run: ``.venv/bin/python bench/load_run.py [--cases 2000 --users 50 --duration 120] [--mix loop|units]
[--stream [--rate R [--client plain]]] [--proxy nginx]`` (``--profile DIR``: cProfile every
gunicorn worker and print the top functions; ``--keep-logs DIR``: keep the run's logs). Prints
measured figures, among them the web workers' CPU per successful completion (the figure to compare
runs by while the machine's speed drifts); the checks print PASS or FAIL. The same module is the
locustfile (locust imports it with the user class below).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from engine.catalogue.sample_forms import sample_form_data  # noqa: E402

TOKENS_ENV = "INFORA_LOAD_TOKENS"
LOG_ENV = "INFORA_LOAD_LOG"
PER_VISIT_ENV = "INFORA_LOAD_PER_VISIT"
ADOPT_ENV = "INFORA_LOAD_ADOPT"
PACING_ENV = "INFORA_LOAD_PACING"
STREAM_ENV = "INFORA_LOAD_STREAM"
INTERVAL_ENV = "INFORA_LOAD_INTERVAL"
SCHEDULER_NICE = 5
"""The scheduler's priority below the web workers, as deploy/infora-scheduler.service sets it."""
VGR_ROLES = ("kunskapsstyrning", "samordningsrad", "rpt", "inforandeansvarig")


def form_values(form: dict[str, Any] | None, rng: random.Random, adopt_share: float) -> dict[str, Any]:
    """What a user types into a task's form: valid sample values; the PDSA Act step mostly adapts
    the change (a new cycle starts) and sometimes adopts it (the unit moves on to follow-up)."""
    form = form or {}
    overrides: dict[str, Any] = {}
    if "act_decision" in form.get("properties", {}):
        if rng.random() < adopt_share:
            overrides = {"act_decision": "adopt"}
        else:
            overrides = {"act_decision": "adapt", "next_cycle_plan": "Justera checklistan och testa igen."}
    return sample_form_data(form, overrides)


# --------------------------------------------------------------------------------------------
# The simulated users (loaded by locust in its own process; never imported by the main run, so the
# main process is not monkey-patched by gevent).

if __name__ != "__main__" and os.environ.get(TOKENS_ENV):
    import itertools

    import gevent
    from locust import FastHttpUser, constant, constant_pacing, task

    _TOKENS: list[str] = json.loads(Path(os.environ[TOKENS_ENV]).read_text())
    _LOG = open(os.environ[LOG_ENV], "a", buffering=1)  # noqa: SIM115 — open for the process's life
    _PER_VISIT = int(os.environ.get(PER_VISIT_ENV, "1"))
    _STREAM = os.environ.get(STREAM_ENV) == "1"
    # --rate: each stream user starts a completion every users / rate seconds (never catching up
    # in a burst when behind): an even offered load, the figure the latency target is about.
    _INTERVAL = float(os.environ.get(INTERVAL_ENV, "0"))
    _ADOPT = float(os.environ.get(ADOPT_ENV, "0.1"))
    _NUMBERS = itertools.count()

    def _record(**values: Any) -> None:
        # One line per request; greenlets never switch inside a write, so lines never interleave.
        _LOG.write(json.dumps(values, separators=(",", ":")) + "\n")

    class InboxUser(FastHttpUser):  # type: ignore[misc]
        """A person working their inbox: list it, open a task, complete it, again."""

        # No pause by default: the users keep the server saturated (the throughput figure). With
        # --pacing each user starts a round (inbox, open, complete) every P seconds: an offered load
        # below saturation, at which the latency figures mean something (saturated, a closed loop
        # of 50 users queues: latency = users / throughput).
        pacing = float(os.environ.get(PACING_ENV, "0"))
        wait_time = constant_pacing(pacing) if pacing else constant(0)

        def on_start(self) -> None:
            self.number = next(_NUMBERS)
            self.auth = {"Authorization": f"Bearer {_TOKENS[self.number % len(_TOKENS)]}"}
            self.rng = random.Random(self.number)

        def _call(
            self, op: str, method: str, path: str, ok: tuple[int, ...], expected: tuple[int, ...], **kwargs: Any
        ) -> tuple[int, Any, float, float]:
            started_wall = time.time()
            started = time.perf_counter()
            with self.client.request(method, path, headers=self.auth, name=op, catch_response=True, **kwargs) as r:
                ms = (time.perf_counter() - started) * 1000
                status = r.status_code or 0
                body = None
                if status in ok:
                    body = r.json()
                    r.success()
                elif status in expected:
                    r.success()  # a race another user won: expected, counted apart
                else:
                    r.failure(f"{status}: {(r.text or '')[:200]}")
            return status, body, ms, started_wall

        @task
        def work_inbox(self) -> None:
            status, page, ms, at = self._call("inbox", "GET", "/api/v1/tasks?page_size=20", (200,), ())
            _record(op="inbox", status=status, ms=round(ms, 2), t=at, user=self.number)
            items = page["items"] if page else []
            if not items:
                gevent.sleep(0.5)
                return
            if _STREAM:
                self._complete_listed(items)
                return
            for item in self.rng.sample(items, min(_PER_VISIT, len(items))):
                self._open_and_complete(item["task_id"])

        def _complete_listed(self, items: list[dict[str, Any]]) -> None:
            """The completion stream (``--stream``): complete every listed task, as a client that
            knows the steps' forms would (a step's form is read once, from its first task)."""
            forms: dict[str, Any] = self.__dict__.setdefault("forms", {})
            for item in items:
                start = 0.0
                if _INTERVAL:
                    now = time.monotonic()
                    start = max(self.__dict__.get("next_at", now), now)
                    gevent.sleep(start - now)
                    self.next_at = start + _INTERVAL
                if item["step"] not in forms:
                    status, detail, ms, at = self._call(
                        "open task", "GET", f"/api/v1/tasks/{item['task_id']}", (200,), (404,)
                    )
                    _record(op="open", status=status, ms=round(ms, 2), t=at, user=self.number, task=item["task_id"])
                    if status != 200:
                        continue
                    forms[item["step"]] = detail["form"]
                if self._complete(item["task_id"], forms[item["step"]]) == 409 and _INTERVAL:
                    # Somebody else completed it first: a person moves on to the next task at once,
                    # so a lost race takes no completion's place in the offered stream.
                    self.next_at = start

        def _open_and_complete(self, task_id: str) -> None:
            status, detail, ms, at = self._call("open task", "GET", f"/api/v1/tasks/{task_id}", (200,), (404,))
            _record(op="open", status=status, ms=round(ms, 2), t=at, user=self.number, task=task_id)
            if status != 200:
                return
            self._complete(task_id, detail["form"])

        def _complete(self, task_id: str, form: dict[str, Any] | None) -> int:
            data = form_values(form, self.rng, _ADOPT)
            status, done, ms, at = self._call(
                "complete", "POST", f"/api/v1/tasks/{task_id}/complete", (200,), (409,), json={"data": data}
            )
            _record(
                op="complete",
                status=status,
                ms=round(ms, 2),
                t=at,
                user=self.number,
                task=task_id,
                case=done["case_id"] if done else None,
                version=done["case_version"] if done else None,
            )
            return status


# --------------------------------------------------------------------------------------------
# Set-up


@dataclass
class Setup:
    """What the set-up made: the users' tokens, the cases, their versions and the audit watermark."""

    tokens: list[str]
    case_ids: list[int]
    versions: dict[int, int]
    audit_mark: int
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)


def infora(url: str, *args: str) -> None:
    """Run the ``infora`` command (as an operator would) against the benchmark database."""
    env = {**os.environ, "DATABASE_URL": url}
    subprocess.run(
        [str(ROOT / ".venv" / "bin" / "infora"), *args], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL
    )


def _team(rng: random.Random, n: int, users: list[int], units: list[int], race_share: float) -> list[dict[str, Any]]:
    """A case's participants: role holders for the whole case and one (sometimes two) per unit."""
    out = [
        {"user_id": users[(n + i * 13) % len(users)], "role": role, "unit_id": None} for i, role in enumerate(VGR_ROLES)
    ]
    for k, unit in enumerate(units):
        holder = users[(n * len(units) + k + 7) % len(users)]
        out.append({"user_id": holder, "role": "lokal_verksamhet", "unit_id": unit})
        if k == 0 and rng.random() < race_share:
            other = rng.choice([u for u in users if u != holder])
            out.append({"user_id": other, "role": "lokal_verksamhet", "unit_id": unit})
    return out


def _walk(
    session: Any, actor: Any, case_id: int, forms: dict[str, Any], steps: list[tuple[str, dict[str, Any]]]
) -> None:
    """Complete ready tasks by BPMN id (as the coordinator, who may do every task of the case):
    every ready task with that id; with ``"ID@first"`` only the one of the case's first unit; with
    ``"ID@K:"`` those from the K-th on (the ready ones in unit order); ``("signal:NAME", {})``
    sends a signal."""
    from sqlalchemy import select

    from engine.persistence import TaskIndexRow
    from engine.services import complete_task, send_signal

    for bpmn_id, overrides in steps:
        if bpmn_id.startswith("signal:"):
            send_signal(session, actor, case_id, bpmn_id.removeprefix("signal:"))
            continue
        bpmn_id, _, which = bpmn_id.partition("@")
        rows = session.execute(
            select(TaskIndexRow.task_id, TaskIndexRow.form)
            .where(TaskIndexRow.case_id == case_id, TaskIndexRow.bpmn_id == bpmn_id, TaskIndexRow.state == "ready")
            .order_by(TaskIndexRow.unit_id)
        ).all()
        assert rows, f"{bpmn_id} is not ready in case {case_id}"
        if which == "first":
            rows = rows[:1]
        elif which.endswith(":"):
            rows = rows[int(which[:-1]) :]
        for task_id, form in rows:
            complete_task(session, actor, task_id, sample_form_data(forms.get(form or "", {}), overrides))


# Steps 1-5 of the VGR process on the shortest path: the per-unit work is then ready in every unit.
VGR_TO_UNITS: list[tuple[str, dict[str, Any]]] = [
    ("step_01_consultation", {}),
    ("signal:godkand_nationellt", {}),
    ("step_02_preparation", {}),
    ("step_03_rpt_start", {"data_needed": False}),
    ("step_04_gap_analysis", {}),
    ("step_05_decision", {"decision": "approved", "document_type": "regional_riktlinje"}),
]


# The loop mix (``--mix loop``, the default): after steps 1-5, the units of each case stand at three
# places — the first at its first unit step (work that waits behind the loop's shorter deadlines),
# the second in the PDSA loop with its Do step ready, the third with its Do step done and the loop's
# timer running (``LOOP_TIMERS``, walked last so the timers fall due during the run). Every run then
# starts from the same work.
LOOP_POSITIONS: list[tuple[str, dict[str, Any]]] = [
    ("step_06_local_anchoring@1:", {}),
    ("step_07_implementation_plan", {}),
    ("pdsa_plan", {}),
]
LOOP_TIMERS: list[tuple[str, dict[str, Any]]] = [("pdsa_do@1:", {})]


SECONDS_CYCLE = re.compile(r"PT(\d+)S")
"""The only cycle duration a staggered set-up takes (``cycle_spread``): whole seconds."""


def cycle_of(plan: dict[str, Any], n: int) -> str:
    """The PDSA cycle duration of case ``n``: the plan's, or with ``cycle_spread`` S a staggered
    ``cycle`` + (n mod S) seconds, so timers started together fall due spread over S seconds."""
    spread = plan.get("cycle_spread", 0)
    if not spread:
        return str(plan["cycle"])
    seconds = SECONDS_CYCLE.fullmatch(plan["cycle"])
    assert seconds is not None, "main() refuses a staggered cycle not in seconds"
    return f"PT{int(seconds[1]) + n % spread}S"


def _make_cases(url: str, numbers: list[int], plan: dict[str, Any]) -> list[int]:
    """Start and walk cases (in a worker process of the set-up pool): one transaction per case."""
    from engine.persistence.database import make_engine, make_session_factory, unit_of_work
    from engine.services import Actor, ParticipantSpec, start_case
    from engine.services.versions import load_version

    engine = make_engine(url)
    factory = make_session_factory(engine)
    coordinator = Actor(*plan["coordinator"])
    ids = []
    for n in numbers:
        rng = random.Random(plan["seed"] * 1_000_003 + n)
        units = [
            plan["units"][(n * plan["units_per_case"] + k) % len(plan["units"])] for k in range(plan["units_per_case"])
        ]
        team = _team(rng, n, plan["users"], units, plan["race_share"])
        with unit_of_work(factory) as s:
            info = start_case(
                s,
                coordinator,
                process_id="vgr_introduction",
                title=f"Hjärtsvikt {n + 1} – VGR",
                region_id=plan["region_id"],
                pathway_id=plan["pathway_ids"][n % len(plan["pathway_ids"])],
                unit_ids=units,
                participants=[ParticipantSpec(**p) for p in team],
                cycle_duration=cycle_of(plan, n),
            )
            forms = load_version(s, info.model_version_id).forms
            _walk(s, coordinator, info.id, forms, plan.get("steps", VGR_TO_UNITS))
            ids.append(info.id)
    engine.dispose()
    return ids


def _walk_cases(url: str, case_ids: list[int], plan: dict[str, Any]) -> None:
    """Walk existing cases on by ``plan["later_steps"]`` (in a worker process of the set-up pool)."""
    from engine.persistence import Case
    from engine.persistence.database import make_engine, make_session_factory, unit_of_work
    from engine.services import Actor
    from engine.services.versions import load_version

    engine = make_engine(url)
    factory = make_session_factory(engine)
    coordinator = Actor(*plan["coordinator"])
    for case_id in case_ids:
        with unit_of_work(factory) as s:
            case = s.get(Case, case_id)
            assert case is not None
            _walk(s, coordinator, case_id, load_version(s, case.model_version_id).forms, plan["later_steps"])
    engine.dispose()


def populate(
    url: str,
    *,
    cases: int,
    units_per_case: int,
    users: int,
    cycle: str,
    race_share: float = 0.1,
    procs: int = 2,
    seed: int = 8,
    steps: list[tuple[str, dict[str, Any]]] | None = None,
    later_steps: list[tuple[str, dict[str, Any]]] | None = None,
    cycle_spread: int = 0,
) -> Setup:
    """Schema (``infora db upgrade``), reference data and the shipped models (``infora init
    --no-demo``), a coordinator, ``users`` people with API tokens, and ``cases`` walked VGR cases:
    by ``steps`` as they are started, then all by ``later_steps`` (what should happen as late as
    possible: timers to fall due during the run). ``cycle_spread``: see :func:`cycle_of`."""
    from sqlalchemy import func, select

    from engine.persistence import AuditEvent, Case, Pathway, Region, Unit
    from engine.persistence.catalogue import Organisation
    from engine.persistence.database import make_engine, make_session_factory, unit_of_work
    from engine.services import SYSTEM_ACTOR, Actor
    from engine.services.tokens import create_token
    from engine.services.users import create_user

    started = time.perf_counter()
    infora(url, "db", "upgrade")
    infora(url, "init", "--no-demo")
    engine = make_engine(url)
    factory = make_session_factory(engine)
    with unit_of_work(factory) as s:
        koord = create_user(
            s,
            SYSTEM_ACTOR,
            username="koord",
            display_name="Koordinator",
            system_role="coordinator",
            email="koord@example.se",
        )
        coordinator = Actor(koord.id, koord.username, koord.display_name, koord.system_role)
        people = [
            create_user(
                s,
                SYSTEM_ACTOR,
                username=f"person{i:02d}",
                display_name=f"Person {i:02d}",
                email=f"person{i:02d}@example.se",
            )
            for i in range(users)
        ]
        tokens = [create_token(s, Actor(p.id, p.username, p.display_name, p.system_role), "last", 1)[1] for p in people]
        region_id = s.scalar(select(Region.id).where(Region.code == "vgr"))
        unit_ids = list(
            s.scalars(select(Unit.id).join(Organisation).where(Organisation.region_id == region_id).order_by(Unit.id))
        )
        pathway_ids = list(s.scalars(select(Pathway.id).order_by(Pathway.id)))
    plan = {
        "coordinator": (coordinator.user_id, coordinator.username, coordinator.display_name, coordinator.system_role),
        "users": [p.id for p in people],
        "units": unit_ids,
        "units_per_case": units_per_case,
        "region_id": region_id,
        "pathway_ids": pathway_ids,
        "cycle": cycle,
        "race_share": race_share,
        "seed": seed,
        "steps": steps or VGR_TO_UNITS,
        "later_steps": later_steps or [],
        "cycle_spread": cycle_spread,
    }
    engine.dispose()
    chunks = [list(range(i, cases, procs)) for i in range(procs)]
    with ProcessPoolExecutor(procs) as pool:
        case_ids = sorted(i for ids in pool.map(_make_cases, [url] * procs, chunks, [plan] * procs) for i in ids)
        if later_steps:
            parts = [case_ids[i::procs] for i in range(procs)]
            list(pool.map(_walk_cases, [url] * procs, parts, [plan] * procs))
    engine = make_engine(url)
    with engine.connect() as conn:
        versions = dict(conn.execute(select(Case.id, Case.version)).all())  # type: ignore[arg-type]
        mark = conn.scalar(select(func.max(AuditEvent.id))) or 0
    # The tables as autovacuum leaves them a while after a bulk load: vacuumed (hint bits and the
    # visibility map set: one person's inbox took 4.4 ms before and 2.1 ms after) and analysed (the planner's statistics: without them it planned the inbox as a
    # 100 ms nested loop). Left to autovacuum, both would run inside the measured minutes.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()
    return Setup(
        tokens,
        case_ids,
        versions,
        mark,
        time.perf_counter() - started,
        {"units": len(unit_ids), "coordinator": coordinator.user_id, "users": plan["users"]},
    )


# --------------------------------------------------------------------------------------------
# The servers


DEPLOY_CONFIG = ROOT / "deploy" / "gunicorn.conf.py"

PROFILE_HOOKS = """
# The production settings and hooks first (deploy/gunicorn.conf.py), then ours.
import os
_deploy = os.environ["INFORA_DEPLOY_CONFIG"]
exec(compile(open(_deploy).read(), _deploy, "exec"))
# gunicorn hooks: profile every request in the thread that serves it (cProfile follows one
# thread), measuring CPU time; merge as we go (a merge at exit could outlast the graceful
# timeout) and write the worker's profile when it exits.
import cProfile, os, pstats, threading, time
_local = threading.local()
_stats = None
_lock = threading.Lock()
def pre_request(worker, req):
    _local.profile = cProfile.Profile(time.thread_time)
    _local.profile.enable()
def post_request(worker, req, environ, resp):
    global _stats
    profile = getattr(_local, "profile", None)
    if profile is None:
        return
    profile.disable()
    _local.profile = None
    with _lock:
        if _stats is None:
            _stats = pstats.Stats(profile)
        else:
            _stats.add(profile)
def worker_exit(server, worker):
    with _lock:
        if _stats is not None:
            _stats.dump_stats(os.path.join(os.environ["INFORA_PROFILE_DIR"], f"worker-{os.getpid()}.prof"))
"""


@dataclass
class Servers:
    """gunicorn (master + workers) and the scheduler process."""

    gunicorn: subprocess.Popen[bytes]
    scheduler: subprocess.Popen[bytes] | None
    base: str
    logdir: Path
    env: dict[str, str]

    def worker_pids(self) -> list[int]:
        """The gunicorn workers (children of the master)."""
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.gunicorn.pid)], capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]

    def start_scheduler(self) -> None:
        """Start (or restart) the one scheduler process."""
        log = open(self.logdir / "scheduler.log", "ab")  # noqa: SIM115 — the child keeps it
        self.scheduler = subprocess.Popen(
            ["nice", "-n", str(SCHEDULER_NICE), str(ROOT / ".venv" / "bin" / "infora"), "scheduler"],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=log,
        )


def wait_healthy(base: str, timeout: float = 60) -> None:
    """Until /health answers 200."""
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/health", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the server at {base} did not become healthy")


@contextmanager
def serve(
    url: str,
    logdir: Path,
    *,
    workers: int = 4,
    threads: int = 4,
    worker_class: str = "gthread",
    scheduler: bool = True,
    profile_dir: Path | None = None,
    extra_env: dict[str, str] | None = None,
) -> Iterator[Servers]:
    """gunicorn (``workers`` workers of ``worker_class``, the production server with the production
    settings of deploy/gunicorn.conf.py, some overridden below) and one ``infora scheduler``."""
    from pg import free_port

    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "INFORA_SECRET_KEY": "load-run-secret", **(extra_env or {})}
    args = [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        str(workers),
        "--worker-class",
        worker_class,
        "--threads",
        str(threads),
        "--keep-alive",
        "30",
        "--bind",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
        "--graceful-timeout",
        "10",
        "--config",
        str(DEPLOY_CONFIG),
    ]
    if profile_dir is not None:
        conf = logdir / "profile_hooks.py"
        conf.write_text(PROFILE_HOOKS)
        env["INFORA_PROFILE_DIR"] = str(profile_dir)
        env["INFORA_DEPLOY_CONFIG"] = str(DEPLOY_CONFIG)
        args += ["--config", str(conf), "--graceful-timeout", "60"]
    log = open(logdir / "gunicorn.log", "ab")  # noqa: SIM115 — the child keeps it
    server = subprocess.Popen([*args, "web:create_app()"], cwd=ROOT, env=env, stdout=log, stderr=log)
    servers = Servers(server, None, f"http://127.0.0.1:{port}", logdir, env)
    try:
        wait_healthy(servers.base)
        if scheduler:
            servers.start_scheduler()
        yield servers
    finally:
        if servers.scheduler is not None and servers.scheduler.poll() is None:
            servers.scheduler.send_signal(signal.SIGTERM)
            try:
                servers.scheduler.wait(20)
            except subprocess.TimeoutExpired:
                servers.scheduler.kill()
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()


NGINX_CONFIG = """
worker_processes auto;
pid {logdir}/nginx.pid;
error_log {logdir}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    log_format infora '$remote_addr - [$time_iso8601] "$request" $status $body_bytes_sent '
                      '$request_time rid=$request_id';
    access_log {logdir}/nginx-access.log infora;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    keepalive_requests 100000;
    upstream infora {{
        server {upstream};
        keepalive 16;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://infora;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Request-ID $request_id;
            proxy_read_timeout 90s;
        }}
    }}
}}
"""
"""nginx as deploy/nginx-infora.conf puts it in front of gunicorn, without TLS (plain HTTP on the
loopback): the same proxy settings, request id and access log."""


@dataclass
class Proxy:
    """nginx in front: its base URL and its master process."""

    base: str
    pid: int


@contextmanager
def nginx_in_front(base: str, logdir: Path) -> Iterator[Proxy]:
    """nginx proxying to the server at ``base`` (as in production)."""
    from pg import free_port

    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        raise SystemExit("--proxy nginx: nginx is not installed (scripts/ensure_system_packages.sh installs it)")
    tmp = logdir / "nginx-tmp"
    tmp.mkdir(exist_ok=True)
    tmp.chmod(0o777)  # nginx's workers run as an unprivileged user when it is started as root
    port = free_port()
    conf = logdir / "nginx.conf"
    conf.write_text(NGINX_CONFIG.format(logdir=logdir, tmp=tmp, upstream=base.removeprefix("http://"), port=port))
    log = open(logdir / "nginx-error.log", "ab")  # noqa: SIM115 — the child keeps it
    process = subprocess.Popen(
        [binary, "-c", str(conf), "-p", str(logdir), "-g", "daemon off;"], stdout=log, stderr=log
    )
    try:
        wait_healthy(f"http://127.0.0.1:{port}", timeout=20)
        yield Proxy(f"http://127.0.0.1:{port}", process.pid)
    finally:
        process.send_signal(signal.SIGQUIT)  # graceful: finish the requests in flight
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()


def _client_files(logdir: Path, tokens: list[str]) -> tuple[Path, Path]:
    """The users' tokens written for a load generator, and its (emptied) request log."""
    tokens_file = logdir / "tokens.json"
    tokens_file.write_text(json.dumps(tokens))
    requests_log = logdir / "requests.jsonl"
    requests_log.unlink(missing_ok=True)
    return tokens_file, requests_log


def run_locust(
    base: str,
    tokens: list[str],
    logdir: Path,
    *,
    users: int,
    seconds: int,
    per_visit: int,
    adopt_share: float,
    pacing: float = 0.0,
    stream: bool = False,
    rate: float = 0.0,
) -> tuple[subprocess.Popen[bytes], Path]:
    """Start locust headless (this file as the locustfile); returns the process and its log."""
    tokens_file, requests_log = _client_files(logdir, tokens)
    env = {
        **os.environ,
        TOKENS_ENV: str(tokens_file),
        LOG_ENV: str(requests_log),
        PER_VISIT_ENV: str(per_visit),
        ADOPT_ENV: str(adopt_share),
        PACING_ENV: str(pacing),
        STREAM_ENV: "1" if stream else "0",
        INTERVAL_ENV: str(users / rate if rate else 0),
    }
    out = open(logdir / "locust.log", "ab")  # noqa: SIM115 — the child keeps it
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(Path(__file__).resolve()),
            "--headless",
            "--host",
            base,
            "--users",
            str(users),
            "--spawn-rate",
            # Paced users start spread over one round, not all at once (else they stay in step and
            # arrive in bursts of 50).
            f"{users / pacing:.3f}" if pacing else f"{users / 2:.3f}" if rate else str(users),
            "--run-time",
            f"{seconds}s",
            "--stop-timeout",
            "10",
            "--csv",
            str(logdir / "locust"),
            "--only-summary",
            "--loglevel",
            "WARNING",
        ],
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=out,
    )
    return process, requests_log


# --------------------------------------------------------------------------------------------
# Results and checks


def run_plain_client(
    base: str, tokens: list[str], logdir: Path, *, seconds: int, adopt_share: float, rate: float
) -> tuple[subprocess.Popen[bytes], Path]:
    """Start the light open-loop client (bench/plain_client.py) instead of locust: one user per
    token, the stream offered evenly at ``rate`` completions per second."""
    tokens_file, requests_log = _client_files(logdir, tokens)
    out = open(logdir / "client.log", "ab")  # noqa: SIM115 — the child keeps it
    args = [str(len(tokens) / rate), str(seconds), str(adopt_share)]
    script = Path(__file__).resolve().with_name("plain_client.py")
    process = subprocess.Popen(
        [sys.executable, str(script), base, str(tokens_file), str(requests_log), *args],
        cwd=ROOT,
        stdout=out,
        stderr=out,
    )
    return process, requests_log


@dataclass
class Requests:
    """The requests the simulated users made, as they saw them."""

    rows: list[dict[str, Any]]

    @classmethod
    def read(cls, path: Path) -> Requests:
        rows = []
        for line in path.read_text().splitlines():
            if line.strip():
                rows.append(json.loads(line))
        return cls(rows)

    def of(self, op: str) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["op"] == op]

    @property
    def successes(self) -> list[dict[str, Any]]:
        return [r for r in self.of("complete") if r["status"] == 200]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


class Checks:
    """PASS/FAIL lines, remembered for the exit status."""

    def __init__(self) -> None:
        self.failed: list[str] = []

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        print(f"  [{'PASS' if ok else 'FAIL'}] {name}{': ' + detail if detail else ''}")
        if not ok:
            self.failed.append(name)
        return ok


def http_report(reqs: Requests, checks: Checks, *, allow_connection_errors: bool = False) -> dict[str, int]:
    """Statuses per operation; errors are 5xx and 4xx other than the expected races."""
    expected = {"inbox": {200}, "open": {200, 404}, "complete": {200, 409}}
    counts: dict[str, collections.Counter[int]] = {op: collections.Counter() for op in expected}
    for r in reqs.rows:
        counts[r["op"]][r["status"]] += 1
    for op, c in counts.items():
        print(f"  {op}: {sum(c.values())} requests, statuses {dict(sorted(c.items()))}")
    server_errors = sum(n for c in counts.values() for s, n in c.items() if s >= 500)
    unexpected = sum(n for op, c in counts.items() for s, n in c.items() if 400 <= s < 500 and s not in expected[op])
    dropped = sum(n for c in counts.values() for s, n in c.items() if s == 0)
    checks.check("no HTTP 5xx", server_errors == 0, f"{server_errors}")
    checks.check("no unexpected 4xx", unexpected == 0, f"{unexpected}")
    if allow_connection_errors:
        print(f"  connections cut while a request was in flight (the killed worker's): {dropped}")
    else:
        checks.check("no connection errors", dropped == 0, f"{dropped}")
    races = counts["complete"][409] + counts["open"][404]
    print(f"  expected races (409 on complete, 404 on open of a task another user just completed): {races}")
    return {"server_errors": server_errors, "unexpected": unexpected, "dropped": dropped, "races": races}


def verify(url: str, setup: Setup, reqs: Requests, checks: Checks, *, lost_responses: bool = False) -> None:
    """The database after the run: no lost update, nothing done twice, every case consistent.

    ``lost_responses``: some completions may have committed without their client seeing the
    answer (a killed worker); they must still be whole (history, submission and index agree)."""
    from sqlalchemy import select

    from engine.persistence import AuditEvent, Case, FormSubmission, TaskIndexRow
    from engine.persistence.database import make_engine, make_session_factory

    engine = make_engine(url)
    factory = make_session_factory(engine)
    mark = setup.audit_mark
    with factory() as s:
        completed = collections.Counter(
            s.scalars(select(AuditEvent.task_id).where(AuditEvent.id > mark, AuditEvent.action == "task_completed"))
        )
        audit_cases = dict(
            s.execute(
                select(AuditEvent.task_id, AuditEvent.case_id).where(
                    AuditEvent.id > mark, AuditEvent.action == "task_completed"
                )
            ).all()
        )
        submitted = collections.Counter(
            s.scalars(select(FormSubmission.task_id).where(FormSubmission.task_id.in_(list(completed))))
        )
        per_case_events = collections.Counter(
            (case_id, action)
            for case_id, action in s.execute(
                select(AuditEvent.case_id, AuditEvent.action).where(
                    AuditEvent.id > mark, AuditEvent.action.in_(("task_completed", "timer_fired"))
                )
            )
        )
        versions = dict(s.execute(select(Case.id, Case.version)).all())
        still_indexed = set(s.scalars(select(TaskIndexRow.task_id).where(TaskIndexRow.task_id.in_(list(completed)))))
    successes = reqs.successes
    seen = collections.Counter(r["task"] for r in successes)
    twice_ok = [t for t, n in seen.items() if n > 1]
    checks.check("no task completed successfully twice (as the clients saw it)", not twice_ok, f"{len(twice_ok)}")
    missing = [t for t in seen if completed.get(t, 0) != 1 or submitted.get(t, 0) != 1]
    checks.check(
        "every completion a client saw succeed is in the history exactly once and has exactly one submission",
        not missing,
        f"{len(seen)} completions, {len(missing)} not exactly once",
    )
    unseen = [t for t in completed if t not in seen]
    if lost_responses:
        print(f"  completions committed whose answer no client received (the killed worker's): {len(unseen)}")
    else:
        checks.check("nothing completed that no client saw succeed", not unseen, f"{len(unseen)}")
    doubled = [t for t, n in completed.items() if n != 1 or submitted.get(t, 0) != 1]
    checks.check(
        "every completed task: one task_completed event and one form submission",
        not doubled,
        f"{len(completed)} completed tasks, {len(doubled)} otherwise",
    )
    checks.check("no completed task left in the task index", not still_indexed, f"{len(still_indexed)}")
    by_case: dict[int, list[int]] = collections.defaultdict(list)
    for r in successes:
        by_case[r["case"]].append(r["version"])
    same_version = [c for c, vs in by_case.items() if len(vs) != len(set(vs))]
    checks.check(
        "no two successful completions answered with the same case version",
        not same_version,
        f"{len(same_version)} cases",
    )
    wrong_case = [r for r in successes if audit_cases.get(r["task"]) != r["case"]]
    checks.check("each success is recorded on the case the client was told", not wrong_case, f"{len(wrong_case)}")
    bumps = [
        c
        for c in setup.case_ids
        if versions[c] - setup.versions[c]
        != per_case_events[(c, "task_completed")] + per_case_events[(c, "timer_fired")]
    ]
    timers = sum(n for (_, action), n in per_case_events.items() if action == "timer_fired")
    checks.check(
        "every case's version grew by exactly its completions + timer firings (no half-written or lost save)",
        not bumps,
        f"{len(bumps)} cases differ; {timers} timer firings in the run",
    )
    consistent(factory, setup.case_ids, checks)
    engine.dispose()


def consistent(factory: Any, case_ids: list[int], checks: Checks) -> None:
    """Every case's stored state loads and its task index is exactly what the workflow implies."""
    from sqlalchemy import func, select

    from engine.persistence import Case, CaseTally, TaskIndexRow
    from engine.services.case_store import index_rows
    from engine.services.versions import load_version
    from engine.workflow import CaseWorkflow

    broken: list[str] = []
    started = time.perf_counter()
    with factory() as s:
        index: dict[int, dict[str, tuple[Any, ...]]] = collections.defaultdict(dict)
        earliest: dict[int, Any] = {}
        for row in s.execute(
            select(
                TaskIndexRow.case_id,
                TaskIndexRow.task_id,
                TaskIndexRow.bpmn_id,
                TaskIndexRow.kind,
                TaskIndexRow.state,
                TaskIndexRow.lane,
                TaskIndexRow.unit_id,
                TaskIndexRow.due_at,
            )
        ):
            index[row.case_id][row.task_id] = (row.bpmn_id, row.kind, row.state, row.lane, row.unit_id)
            if row.kind == "user" and row.due_at is not None:
                earliest[row.case_id] = min(row.due_at, earliest.get(row.case_id, row.due_at))
        # The counts the database keeps (case_tallies) against counting the cases.
        counted = {
            (p or 0, r or 0, st, ph or ""): n
            for p, r, st, ph, n in s.execute(
                select(Case.pathway_id, Case.region_id, Case.status, Case.phase, func.count()).group_by(
                    Case.pathway_id, Case.region_id, Case.status, Case.phase
                )
            )
        }
        tallied = {
            (p, r, st, ph): n
            for p, r, st, ph, n in s.execute(
                select(CaseTally.pathway_id, CaseTally.region_id, CaseTally.status, CaseTally.phase, CaseTally.n)
            )
            if n
        }
        if counted != tallied:
            broken.append(f"case tallies {tallied} != counted {counted}")
        for chunk in range(0, len(case_ids), 200):
            rows = s.execute(
                select(
                    Case.id, Case.model_version_id, Case.state, Case.status, Case.next_timer_at, Case.earliest_due_at
                ).where(Case.id.in_(case_ids[chunk : chunk + 200]))
            ).all()
            for case_id, version_id, state, status, next_timer_at, earliest_due in rows:
                if earliest_due != earliest.get(case_id):
                    broken.append(f"case {case_id}: earliest_due_at {earliest_due} != {earliest.get(case_id)}")
                try:
                    version = load_version(s, version_id)
                    workflow = CaseWorkflow.load(version.model, state)
                    wanted = {
                        tid: (r["bpmn_id"], r["kind"], r["state"], r["lane"], r["unit_id"])
                        for tid, r in index_rows(case_id, workflow, version.reminder_policy).items()
                        if r is not None
                    }
                except Exception as err:  # noqa: BLE001 — a case that does not load is what we look for
                    broken.append(f"case {case_id}: state does not load ({err})")
                    continue
                if wanted != index[case_id]:
                    broken.append(
                        f"case {case_id}: index {sorted(index[case_id].values())} != workflow {sorted(wanted.values())}"
                    )
                elif status == "running" and workflow.next_timer_at() != next_timer_at:
                    broken.append(f"case {case_id}: next_timer_at {next_timer_at} != {workflow.next_timer_at()}")
    for line in broken[:5]:
        print(f"    {line}")
    checks.check(
        f"every case's state loads and its task index, next timer and earliest due date match the workflow, and "
        f"the case tallies match the cases ({len(case_ids)} "
        f"cases, {time.perf_counter() - started:.0f} s)",
        not broken,
        f"{len(broken)} inconsistent",
    )


def throughput(reqs: Requests, seconds: int) -> None:
    """Latency of completions and the sustained completion rate (per 10 s window)."""
    successes = reqs.successes
    if not successes:
        print("  no successful completions")
        return
    for op in ("inbox", "open", "complete"):
        times = [r["ms"] for r in reqs.of(op) if r["status"] in (200, 404, 409)]
        if times:
            print(
                f"  {op:8s}: p50 {statistics.median(times):6.1f} ms, p95 {pct(times, 0.95):6.1f} ms, "
                f"p99 {pct(times, 0.99):6.1f} ms  ({len(times)} requests)"
            )
    times = [r["ms"] for r in successes]
    start = min(r["t"] for r in reqs.rows)
    buckets = collections.Counter(int((r["t"] - start) // 10) for r in successes)
    full = [buckets.get(b, 0) / 10 for b in range(seconds // 10)]
    steady = full[1:] if len(full) > 2 else full
    rate = len(successes) / seconds
    total_rate = len(reqs.rows) / seconds
    print(
        f"  successful completions: {len(successes)} in {seconds} s = {rate:.1f}/s overall; per 10 s window after "
        f"the first: min {min(steady):.1f}/s, median {statistics.median(steady):.1f}/s, max {max(steady):.1f}/s "
        f"(target >= 150/s: {'met' if min(steady) >= 150 else 'MISSED'})"
    )
    p95 = pct(times, 0.95)
    print(
        f"  task completion (successful): p50 {statistics.median(times):.1f} ms, p95 {p95:.1f} ms, "
        f"p99 {pct(times, 0.99):.1f} ms (target p95 < 50 ms: {'met' if p95 < 50 else 'MISSED'})"
    )
    print(f"  all requests: {total_rate:.0f}/s; completions per 10 s window: {' '.join(f'{w:.0f}' for w in full)}")


PDSA_STEPS = frozenset({"Planera", "Göra", "Studera", "Agera"})


def phases(url: str, setup: Setup, reqs: Requests, seconds: int) -> None:
    """What the run did in each 10 s window, from the history: completions of the unit steps and
    of the PDSA loop's steps (which cost more: the case's tree is larger and the cycle record is
    written), timer firings, the clients' inbox look-ups, and completions that lost a race with
    another user (409: not counted as completions)."""
    from datetime import datetime

    from sqlalchemy import select

    from engine.persistence import AuditEvent
    from engine.persistence.database import make_engine, make_session_factory

    start = min(r["t"] for r in reqs.rows)
    windows = seconds // 10
    unit, pdsa, fired = ([0] * windows for _ in range(3))
    late: list[float] = []  # seconds from a timer's due time to its firing
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as s:
            rows = s.execute(
                select(AuditEvent.at, AuditEvent.action, AuditEvent.details).where(
                    AuditEvent.id > setup.audit_mark, AuditEvent.action.in_(("task_completed", "timer_fired"))
                )
            )
            for at, action, details in rows:
                if action == "timer_fired" and (details or {}).get("due_at"):
                    late.append((at - datetime.fromisoformat(details["due_at"])).total_seconds())
                w = int((at.timestamp() - start) // 10)
                if not 0 <= w < windows:
                    continue
                if action == "timer_fired":
                    fired[w] += 1
                elif (details or {}).get("name") in PDSA_STEPS:
                    pdsa[w] += 1
                else:
                    unit[w] += 1
    finally:
        engine.dispose()
    inbox, races = [0] * windows, [0] * windows
    for r in reqs.of("inbox"):
        w = int((r["t"] - start) // 10)
        if 0 <= w < windows:
            inbox[w] += 1
    for r in reqs.of("complete"):
        w = int((r["t"] - start) // 10)
        if r["status"] == 409 and 0 <= w < windows:
            races[w] += 1
    print("  per 10 s window (from the history):")
    for label, counts in (
        ("unit-step completions", unit),
        ("PDSA-step completions", pdsa),
        ("timer firings", fired),
        ("inbox look-ups", inbox),
        ("races lost (409)", races),
    ):
        print(f"    {label:22s} {' '.join(f'{c:5d}' for c in counts)}")
    if late:
        print(
            f"  timers fired after their due time by: p50 {statistics.median(late):.1f} s, "
            f"p95 {pct(late, 0.95):.1f} s, max {max(late):.1f} s ({len(late)} firings; the scheduler runs at nice {SCHEDULER_NICE})"
        )


def server_errors(logdir: Path, checks: Checks) -> None:
    """No error in the servers' own logs: a failure the clients never see (a scheduler pass that
    failed, a worker that died) is an error too."""
    bad = []
    for name in ("gunicorn.log", "scheduler.log"):
        path = logdir / name
        for line in path.read_text(errors="replace").splitlines() if path.exists() else []:
            try:
                level = json.loads(line).get("level", "") if line.startswith("{") else ""
            except ValueError:
                level = ""
            if level in ("ERROR", "CRITICAL") or "Traceback" in line or " ERROR " in line:
                bad.append(f"{name}: {line[:200]}")
    for line in bad[:5]:
        print(f"    {line}")
    checks.check("no error in the web workers' and the scheduler's logs", not bad, f"{len(bad)} lines")


def access_lines(log: Path) -> list[dict[str, Any]]:
    """The web workers' access lines (JSON, web/request_log.py) from their log, read once."""
    return [json.loads(line) for line in log.read_text(errors="replace").splitlines() if '"infora.access"' in line]


def server_times(entries: list[dict[str, Any]]) -> None:
    """The same requests as the server timed them (its access lines: from the first hook to the
    response's last hook, in the worker; the commit in the teardown comes after). At 50 users
    locust's own event loop adds tens of milliseconds to what it measures: on one server and load,
    a plain gevent client with the same HTTP library saw p50 8.6 ms / p95 11.5 ms for the inbox
    where a minimal locust user saw 66 / 159 ms."""
    kinds: dict[str, list[float]] = {"inbox": [], "open": [], "complete": []}
    for entry in entries:
        path, method = entry.get("path", ""), entry.get("method")
        if path == "/api/v1/tasks":
            kinds["inbox"].append(entry["duration_ms"])
        elif method == "GET" and path.startswith("/api/v1/tasks/"):
            kinds["open"].append(entry["duration_ms"])
        elif method == "POST" and path.endswith("/complete"):
            kinds["complete"].append(entry["duration_ms"])
    for op, times in kinds.items():
        if times:
            print(
                f"  {op:8s} in the server: p50 {statistics.median(times):6.1f} ms, p95 {pct(times, 0.95):6.1f} ms, "
                f"p99 {pct(times, 0.99):6.1f} ms"
            )


def latency_split(entries: list[dict[str, Any]], reqs: Requests, users: list[int]) -> None:
    """Where a successful completion's time went, as its client timed it: before the server's first
    hook (the client sending, the request waiting in the listen queue for a free worker, gunicorn
    reading it), in the server (its access line's span: first hook to the response's last hook),
    and after that (the commit in the request's teardown, gunicorn writing the response, the client
    reading it). Client and server lines are matched by task and user; the server's clock is the
    same machine's, its times in milliseconds."""
    from datetime import datetime

    spans: dict[tuple[str, Any], tuple[float, float]] = {}
    for entry in entries:
        path = entry.get("path", "")
        if entry.get("method") == "POST" and path.endswith("/complete") and entry.get("status") == 200:
            end = datetime.fromisoformat(entry["time"]).timestamp()
            spans[(path.split("/")[-2], entry.get("user_id"))] = (end - entry["duration_ms"] / 1000, end)
    before, inside, after = [], [], []
    for r in reqs.successes:
        span = spans.get((r["task"], users[r["user"] % len(users)]))
        if span is not None:
            before.append((span[0] - r["t"]) * 1000)
            inside.append((span[1] - span[0]) * 1000)
            after.append((r["t"] + r["ms"] / 1000 - span[1]) * 1000)
    if not before:
        return
    print(
        f"  a successful completion's time as its client saw it, split ({len(before)} of {len(reqs.successes)} matched):"
    )
    for label, values in (("before the server", before), ("in the server", inside), ("after (commit, write)", after)):
        print(
            f"    {label:18s} p50 {statistics.median(values):6.1f} ms, p95 {pct(values, 0.95):6.1f} ms, "
            f"p99 {pct(values, 0.99):6.1f} ms"
        )


def print_sql_stats(pg: Any, top: int = 20) -> None:
    """The statements that took the database longest during the run (pg_stat_statements)."""
    print(f"\nStatements by total database time (top {top}):")
    rows = pg.psql(
        "SELECT round(total_exec_time)::int, calls, round((total_exec_time / greatest(calls, 1))::numeric, 3), rows, "
        "regexp_replace(left(query, 150), '\\s+', ' ', 'g') FROM pg_stat_statements "
        f"ORDER BY total_exec_time DESC LIMIT {top}"
    )
    print("  total ms | calls | mean ms | rows | statement")
    for line in rows.splitlines():
        print("  " + " | ".join(line.split("|")))


def print_profile(profile_dir: Path, top: int = 35) -> None:
    """The gunicorn workers' cProfile, merged, by cumulative and by own time."""
    import pstats

    files = sorted(profile_dir.glob("*.prof"))
    if not files:
        print("  (no profile written)")
        return
    stats = pstats.Stats(str(files[0]))
    for f in files[1:]:
        stats.add(str(f))
    stats.strip_dirs()
    print(f"\nProfile of {len(files)} workers, by own time:")
    stats.sort_stats("tottime").print_stats(top)
    print("by cumulative time:")
    stats.sort_stats("cumulative").print_stats(top)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its children so far (from /proc)."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    pids += [int(p) for p in out.stdout.split()]
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def machine_cpu() -> tuple[float, float]:
    """CPU seconds of the whole machine so far: (busy, all), from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    ticks = os.sysconf("SC_CLK_TCK")
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / ticks, sum(values[:8]) / ticks


class CpuMeter:
    """Where the machine's CPU went during a run: our processes by role, and everything else (other
    people's work on a shared machine shows up there and makes the figures worse)."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.start = {name: cpu_seconds(pid) for name, pid in pids.items()}
        self.start_machine = machine_cpu()
        self.last: dict[str, float] = dict(self.start)

    def sample(self, **more: int) -> None:
        """Remember the latest figures (call while the processes live: exited ones cannot be read)."""
        for name, pid in {**self.pids, **more}.items():
            self.last[name] = max(self.last.get(name, 0.0), cpu_seconds(pid))
        self.end_machine = machine_cpu()

    def used(self, name: str) -> float:
        """CPU seconds one role's processes used during the run."""
        return self.last.get(name, 0.0) - self.start.get(name, 0.0)

    def report(self) -> str:
        used = {name: self.used(name) for name in self.last}
        busy = self.end_machine[0] - self.start_machine[0]
        available = self.end_machine[1] - self.start_machine[1]
        others = max(0.0, busy - sum(used.values()))
        parts = ", ".join(f"{name} {value:.0f}" for name, value in used.items())
        return (
            f"CPU seconds during the run: {parts}, other processes on the machine {others:.0f}; "
            f"machine busy {busy:.0f} of {available:.0f}"
        )


def reference_loop_ms() -> float:
    """CPU milliseconds of a fixed pure-Python loop: how fast this (virtual) machine is right now.
    Measured here it has ranged from 250 to 430 ms over one afternoon with nothing else running
    (the host's other guests): throughput figures scale with it, so runs print it beside them."""
    started = time.process_time()
    total = 0
    for i in range(3_000_000):
        total += i * i % 7
    return (time.process_time() - started) * 1000


def postmaster_pid(datadir: Path) -> int:
    """The PostgreSQL server's main process (its backends are its children)."""
    return int((datadir / "postmaster.pid").read_text().split()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--units", type=int, default=3, help="units per case")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--duration", type=int, default=120, help="seconds of load")
    parser.add_argument("--workers", type=int, default=4)
    # One thread per worker by default: measured here, 4 workers x 1 thread completed 57.6 tasks/s
    # and 4 x 4 threads 49.8/s (the same CPU-bound requests, more switching and GIL handovers).
    parser.add_argument("--threads", type=int, default=1, help="threads per gunicorn worker")
    # sync is the production default (deploy/gunicorn.conf.py with INFORA_WEB_THREADS=1).
    parser.add_argument("--worker-class", default="sync", choices=("gthread", "sync"), help="gunicorn worker class")
    parser.add_argument(
        "--per-visit",
        type=int,
        default=1,
        help="tasks opened and completed per look at the inbox (1: list, open, complete)",
    )
    parser.add_argument(
        "--mix",
        default="loop",
        choices=("loop", "units"),
        help="where the set-up leaves each case's units: loop (one at its first unit step, one at Do, "
        "one with the loop's timer running) or units (at their first unit step, as before: how deep a run gets then varies)",
    )
    parser.add_argument(
        "--cycle", default=None, help="PDSA cycle duration of the cases (default PT40S with --mix loop, else PT30S)"
    )
    parser.add_argument(
        "--cycle-spread",
        type=int,
        default=90,
        help="with --mix loop: case n's cycle is --cycle + (n mod this) seconds, so the timers the set-up "
        "starts fall due spread over the run, not in one burst",
    )
    parser.add_argument("--adopt", type=float, default=0.1, help="share of Act steps that adopt (else adapt)")
    parser.add_argument(
        "--pacing", type=float, default=0.0, help="seconds per round of each user (0: none, saturate the server)"
    )
    parser.add_argument(
        "--stream",
        action="store_true",
        help="the completion stream: each user completes every task of its inbox page (a step's form read once)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="with --stream: offer this many completions per second, evenly (0: none, saturate the server)",
    )
    parser.add_argument(
        "--client",
        default="locust",
        choices=("locust", "plain"),
        help="with --stream --rate: the load generator (plain: bench/plain_client.py, a light open-loop client)",
    )
    parser.add_argument("--profile", type=Path, default=None, help="cProfile the gunicorn workers into this folder")
    parser.add_argument(
        "--proxy",
        default="none",
        choices=("none", "nginx"),
        help="nginx: the clients talk to nginx in front of gunicorn, as in production (deploy/nginx-infora.conf)",
    )
    parser.add_argument("--sql-stats", action="store_true", help="print the statements that took the database longest")
    parser.add_argument(
        "--keep-logs",
        type=Path,
        default=None,
        help="copy the run's logs (the client's request log, the workers' and the scheduler's) into this folder",
    )
    args = parser.parse_args()
    if args.rate and not args.stream:
        parser.error("--rate paces the completion stream: give --stream too")
    if args.client == "plain" and not args.rate:
        parser.error("--client plain offers an even rate: give --stream --rate R")
    if args.mix == "loop" and args.cycle and not SECONDS_CYCLE.fullmatch(args.cycle):
        parser.error("--mix loop staggers the cycles by seconds: give --cycle as PT<n>S (e.g. PT40S)")
    if args.cycle_spread < 1:
        parser.error("--cycle-spread: at least 1 second")

    from pg import throwaway_postgres

    checks = Checks()
    settings = {"shared_preload_libraries": "pg_stat_statements"} if args.sql_stats else None
    with throwaway_postgres(settings=settings) as pg, tempfile.TemporaryDirectory(prefix="infora-load.") as folder:
        logdir = Path(folder)
        print(
            f"Infora load run: PostgreSQL {pg.psql('SHOW server_version').strip()} on 127.0.0.1 (fsync on), "
            f"{'nginx in front of ' if args.proxy == 'nginx' else ''}gunicorn {args.workers} {args.worker_class} workers"
            f"{f' x {args.threads} threads' if args.worker_class == 'gthread' else ''} + 1 scheduler, "
            f"{'the plain client' if args.client == 'plain' else 'locust'} with {args.users} users for {args.duration} s"
            f"{f' (a round every {args.pacing:g} s each)' if args.pacing else ''}"
            f"{' as a completion stream' if args.stream else ''}"
            f"{f' offered at {args.rate:g} completions/s' if args.rate else ''}"
            f" on this {os.cpu_count()}-core machine"
        )
        loop = args.mix == "loop"
        cycle = args.cycle or ("PT40S" if loop else "PT30S")
        setup = populate(
            pg.url,
            cases=args.cases,
            units_per_case=args.units,
            users=args.users,
            cycle=cycle,
            steps=VGR_TO_UNITS + LOOP_POSITIONS if loop else None,
            later_steps=LOOP_TIMERS if loop else None,
            cycle_spread=args.cycle_spread if loop else 0,
        )
        ready = pg.psql(
            "SELECT bpmn_id || ' ' || count(*) FROM task_index WHERE state IN ('ready', 'waiting') "
            "GROUP BY bpmn_id ORDER BY bpmn_id"
        ).split()
        where = (
            "walked on (one unit at its first unit step, one at Do, one past Do with the loop's timer running; "
            f"cycles {cycle} + 0-{args.cycle_spread - 1} s)"
            if loop
            else "walked to the unit steps"
        )
        print(
            f"  set-up: {len(setup.case_ids)} VGR cases x {args.units} units {where}; in the task index: "
            f"{', '.join(f'{ready[i]} {ready[i + 1]}' for i in range(0, len(ready), 2))}; "
            f"{args.users} users with tokens; in {setup.seconds:.0f} s"
        )
        if args.sql_stats:
            pg.psql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            pg.psql("SELECT pg_stat_statements_reset()")
        if args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)
            for old in args.profile.glob("*.prof"):
                old.unlink()
        speed_before = reference_loop_ms()
        with (
            serve(
                pg.url,
                logdir,
                workers=args.workers,
                threads=args.threads,
                worker_class=args.worker_class,
                profile_dir=args.profile,
                extra_env={"INFORA_LOG_FORMAT": "json"},  # the access lines, read by server_times()
            ) as servers,
            contextlib.ExitStack() as stack,
        ):
            assert servers.scheduler is not None
            pids = {
                "gunicorn": servers.gunicorn.pid,
                "scheduler": servers.scheduler.pid,
                "postgres": postmaster_pid(pg.datadir),
            }
            base = servers.base
            if args.proxy == "nginx":
                proxy = stack.enter_context(nginx_in_front(servers.base, logdir))
                base, pids["nginx"] = proxy.base, proxy.pid
            meter = CpuMeter(pids)
            if args.client == "plain":
                client, log = run_plain_client(
                    base, setup.tokens, logdir, seconds=args.duration, adopt_share=args.adopt, rate=args.rate
                )
            else:
                client, log = run_locust(
                    base,
                    setup.tokens,
                    logdir,
                    users=args.users,
                    seconds=args.duration,
                    per_visit=args.per_visit,
                    adopt_share=args.adopt,
                    pacing=args.pacing,
                    stream=args.stream,
                    rate=args.rate,
                )
            while client.poll() is None:
                meter.sample(**{args.client: client.pid})
                time.sleep(1)
            time.sleep(1)
        if args.keep_logs:
            shutil.copytree(logdir, args.keep_logs, dirs_exist_ok=True)
        reqs = Requests.read(log)
        print(f"\nResults ({len(reqs.rows)} requests):")
        throughput(reqs, args.duration)
        phases(pg.url, setup, reqs, args.duration)
        entries = access_lines(logdir / "gunicorn.log")
        server_times(entries)
        latency_split(entries, reqs, setup.extra["users"])
        print(f"  {meter.report()}")
        if reqs.successes:
            # The figure to compare runs by: the machine's speed drifts by a third within an hour
            # (the host's other guests), and a saturated run's latencies then say little.
            per_completion = meter.used("gunicorn") / len(reqs.successes) * 1000
            print(
                f"  web workers' CPU per successful completion: {per_completion:.2f} ms "
                "(all their requests' CPU, inbox and task look-ups included)"
            )
        print(
            f"  machine speed: a reference loop took {speed_before:.0f} ms of CPU before the run and "
            f"{reference_loop_ms():.0f} ms after (lower is faster; 250-430 ms seen on this machine)"
        )
        print("\nChecks:")
        http_report(reqs, checks)
        server_errors(logdir, checks)
        verify(pg.url, setup, reqs, checks)
        if args.sql_stats:
            print_sql_stats(pg)
        if args.profile:
            print_profile(args.profile)
    print(f"\n{'ALL CHECKS PASSED' if not checks.failed else 'FAILED: ' + '; '.join(checks.failed)}")
    sys.exit(1 if checks.failed else 0)


if __name__ == "__main__":
    main()
