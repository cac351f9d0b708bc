"""Fault runs (issue 8): kill -9 in the middle of work, restart, and prove nothing was lost, doubled or
left half-written. Production set-up as in ``load_run.py``: a throw-away PostgreSQL 15 on
127.0.0.1, gunicorn with 4 sync workers (the production default), one ``infora scheduler``.

(a) Web worker killed mid-completion. 50 simulated users complete tasks (locust, as in the load
    run); twice, a gunicorn worker is killed with SIGKILL at the moment its database transaction has
    written a completion but not committed it (found in ``pg_stat_activity``: a backend with an
    xid whose client port belongs to the worker, per ``ss``). gunicorn starts a new worker. Then:
    every completion a client saw succeed is in the history once with one submission; every
    completion in the history (those whose answer was lost too) has exactly one submission and no
    index row; every case loads, its index and next timer match its workflow, and its version grew by
    exactly its completions and timer firings (no half-written save).

(b) Scheduler killed mid-burst. 500 VGR cases (2 units each) have a PDSA loop timer in one unit
    that is due at once (cycle ``PT1S``, walked while no scheduler ran), and the other unit's
    ready task has its deadline moved into the past (time travel on the index row: a reminder or an
    escalation is due). The scheduler is started, killed with SIGKILL three times — while it fires
    timers, while it sends reminders, while it delivers e-mail (to a local SMTP server, aiosmtpd) —
    and restarted each time. Then: each case's timer fired exactly once (one ``timer_fired`` event,
    one Studera task per unit), no due timer is left, each due task got exactly one reminder, one
    notification per recipient and one e-mail per recipient in the outbox, every e-mail was
    delivered, and every case is consistent. The SMTP server's count of copies per Message-ID is
    printed too: an e-mail the killed process had handed to the SMTP server but not yet marked as
    sent is sent again once its lease runs out (at-least-once delivery; the stable Message-ID lets
    mail clients drop the copy) — the lease is expired by time travel here, not waited for.

Run: ``.venv/bin/python bench/fault_runs.py [--only a|b]``. Prints PASS/FAIL per check and exits
non-zero when one fails.
"""

from __future__ import annotations

import argparse
import collections
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from load_run import (  # noqa: E402
    VGR_TO_UNITS,
    Checks,
    Requests,
    Servers,
    consistent,
    http_report,
    populate,
    run_locust,
    serve,
    verify,
)
from pg import PgServer, free_port, throwaway_postgres  # noqa: E402

from engine.scheduler.outbox import LEASE  # noqa: E402

# --------------------------------------------------------------------------------------------
# (a) a web worker killed in the middle of completions


def _ports(pids: list[int]) -> dict[int, int]:
    """The local TCP ports of ``pids``' connections (one ``ss`` call), port -> pid."""
    out = subprocess.run(["ss", "-tnpH"], capture_output=True, text=True).stdout
    found = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 6:
            continue
        for pid in pids:
            if f"pid={pid}," in parts[5]:
                found[int(parts[3].rsplit(":", 1)[1])] = pid
    return found


# Statements of a change in flight: the case save of a completion or a timer, a reminder's rows.
# A change's writes: on PostgreSQL one UPDATE of the case carrying the others as CTEs ("WITH
# write_0 AS (INSERT …) …", engine/services/case_store.update_case); the plain forms for the rest.
CASE_WRITES = (
    "^(WITH write_[0-9]+ AS|INSERT INTO (form_submissions|task_index|audit_events)|UPDATE cases|DELETE FROM task_index)"
)
REMINDER_WRITES = "^(INSERT INTO (reminders|notifications|outbox)|UPDATE task_index)"


def kill_mid_write(
    pg: PgServer, pids: Callable[[], list[int]], writes: str, timeout: float = 30
) -> dict[str, Any] | None:
    """SIGKILL one of the processes ``pids()`` at a moment its database transaction has written
    (the backend has a transaction id, its last statement matches ``writes``) but not committed.
    Returns the process, the transaction and what PostgreSQL made of it ("aborted" when the kill
    came in time; the transaction may also have committed in the millisecond between looking and
    killing), or None if no such moment was caught within ``timeout``."""
    import psycopg

    deadline = time.monotonic() + timeout
    with psycopg.connect(pg.url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        while time.monotonic() < deadline:
            ports = _ports(pids())
            rows = conn.execute(
                "SELECT client_port, backend_xid::text, left(query, 60) FROM pg_stat_activity "
                "WHERE datname = current_database() AND backend_xid IS NOT NULL AND pid <> pg_backend_pid() "
                "AND client_port = ANY(%s) AND query ~* %s",
                (list(ports), writes),
            ).fetchall()
            if not rows:
                time.sleep(0.001)
                continue
            port, xid, query = rows[0]
            os.kill(ports[port], signal.SIGKILL)
            status = "in progress"
            for _ in range(200):  # the server notices the closed connection and aborts
                status = conn.execute("SELECT txid_status(%s::bigint)", (xid,)).fetchone()[0]  # type: ignore[index]
                if status != "in progress":
                    break
                time.sleep(0.01)
            return {"pid": ports[port], "xid": xid, "query": query, "status": status}
    return None


def rolled_back(kills: list[dict[str, Any]], checks: Checks) -> None:
    """The killed processes' transactions did not linger: PostgreSQL aborted each one the kill
    caught open (a kill that came just after a commit finds it committed, and is retried)."""
    caught = [k for k in kills if k.get("xid")]
    checks.check(
        "every transaction a kill caught open was rolled back by the database, none left in progress",
        any(k["status"] == "aborted" for k in caught) and all(k["status"] in ("aborted", "committed") for k in caught),
        ", ".join(f"{k['xid']} {k['status']}" for k in caught),
    )


def wait_workers(servers: Servers, count: int, gone: int, timeout: float = 60) -> list[int]:
    """Until gunicorn runs ``count`` workers again, none of them ``gone``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = servers.worker_pids()
        if len(pids) == count and gone not in pids:
            return pids
        time.sleep(0.2)
    return servers.worker_pids()


def run_a(args: argparse.Namespace) -> Checks:
    checks = Checks()
    print("\n(a) kill -9 a gunicorn worker in the middle of task completions, under load")
    with throwaway_postgres() as pg, tempfile.TemporaryDirectory(prefix="infora-fault-a.") as folder:
        logdir = Path(folder)
        setup = populate(pg.url, cases=args.cases_a, units_per_case=3, users=50, cycle="PT30S")
        print(f"  set-up: {len(setup.case_ids)} VGR cases x 3 units, 50 users, in {setup.seconds:.0f} s")
        with serve(pg.url, logdir, workers=4, threads=1, worker_class="sync") as servers:
            before = servers.worker_pids()
            locust, log = run_locust(
                servers.base, setup.tokens, logdir, users=50, seconds=args.seconds_a, per_visit=1, adopt_share=0.1
            )
            kills = []
            for when in (args.seconds_a * 0.3, args.seconds_a * 0.6):
                while time.time() - os.path.getmtime(logdir / "tokens.json") < when:
                    time.sleep(0.2)
                for _attempt in range(5):
                    killed = kill_mid_write(pg, servers.worker_pids, CASE_WRITES)
                    if killed is None:
                        print("  no write in flight was caught; no worker killed this time")
                        break
                    after = wait_workers(servers, len(before), killed["pid"])
                    kills.append(killed)
                    print(
                        f"  killed worker {killed['pid']} (SIGKILL) while its transaction {killed['xid']} had written "
                        f"({killed['query']!r}), transaction {killed['status']}; gunicorn runs {len(after)} workers "
                        f"again: {after}"
                    )
                    if killed["status"] == "aborted":
                        break
            locust.wait()
        mid = [k for k in kills if k["status"] == "aborted"]
        checks.check("a worker was killed in the middle of a completion (twice)", len(mid) == 2, f"{len(kills)} kills")
        reqs = Requests.read(log)
        print(f"  {len(reqs.successes)} completions succeeded during the run ({len(reqs.rows)} requests)")
        http_report(reqs, checks, allow_connection_errors=True)
        verify(pg.url, setup, reqs, checks, lost_responses=True)
        rolled_back(kills, checks)
    return checks


# --------------------------------------------------------------------------------------------
# (b) the scheduler killed in the middle of a timer burst


class SmtpSink:
    """A local SMTP server (aiosmtpd) that counts the Message-IDs it receives."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.received: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()
        self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 — aiosmtpd's hook name
        message = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        with self._lock:
            self.received[str(message["Message-ID"])] += 1
        return "250 Message accepted"

    def __enter__(self) -> SmtpSink:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()


def start_scheduler(url: str, logdir: Path, smtp_port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "INFORA_SMTP_HOST": "127.0.0.1",
        "INFORA_SMTP_PORT": str(smtp_port),
        "INFORA_SMTP_SECURITY": "none",
        "INFORA_SMTP_SENDER": "Infora <infora@example.se>",
    }
    log = open(logdir / "scheduler.log", "ab")  # noqa: SIM115 — the child keeps it
    return subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "infora"), "scheduler"], cwd=ROOT, env=env, stdout=log, stderr=log
    )


def reminder_due(now: datetime) -> datetime:
    """A due date whose reminder (not the escalation) is due now, under the default policy."""
    from engine.reminders import deployment_policy, due_stage, schedule

    for hours in range(1, 24 * 14):
        due = now + timedelta(hours=hours)
        found = due_stage(schedule(due, deployment_policy()), 0, now)
        if found is not None and found[0].kind == "reminder":
            return due
    raise SystemExit("no due date found whose reminder is due now")


def run_b(args: argparse.Namespace) -> Checks:
    import psycopg

    checks = Checks()
    print(f"\n(b) kill -9 the scheduler in the middle of a burst of {args.cases_b} loop timers, reminders and e-mails")
    steps = [
        *VGR_TO_UNITS,
        ("step_06_local_anchoring", {}),
        ("step_07_implementation_plan@first", {}),
        ("pdsa_plan@first", {}),
        ("pdsa_do@first", {}),
    ]
    with (
        throwaway_postgres() as pg,
        tempfile.TemporaryDirectory(prefix="infora-fault-b.") as folder,
        SmtpSink() as smtp,
    ):
        logdir = Path(folder)
        setup = populate(
            pg.url, cases=args.cases_b, units_per_case=2, users=50, cycle="PT1S", race_share=0.0, steps=steps
        )
        conn = psycopg.connect(pg.url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)

        def q(sql: str, *params: Any) -> list[Any]:
            cursor = conn.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

        # Time travel: the second unit's ready task (Införandeplan) is past its deadline (escalation
        # due) in half the cases and within its reminder stage in the other half.
        now = datetime.now(UTC)
        tasks = [r[0] for r in q("SELECT task_id FROM task_index WHERE kind = 'user' ORDER BY case_id")]
        soon = reminder_due(now)
        for i, task_id in enumerate(tasks):
            due = now - timedelta(days=10) if i % 2 else soon
            q(
                "UPDATE task_index SET due_at = %s, next_reminder_at = %s, reminder_stage = 0 WHERE task_id = %s",
                due,
                now - timedelta(minutes=1),
                task_id,
            )
        time.sleep(1.2)  # every loop timer (PT1S) is now due
        due_cases = q("SELECT count(*) FROM cases WHERE next_timer_at <= now() AND status = 'running'")[0][0]
        timer_tasks = dict(q("SELECT task_id, case_id FROM task_index WHERE kind = 'timer'"))
        print(
            f"  set-up: {len(setup.case_ids)} cases in {setup.seconds:.0f} s; due now: {due_cases} cases with "
            f"{len(timer_tasks)} loop timers, {len(tasks)} tasks with a reminder or escalation"
        )
        counts = {
            "timers": lambda: q(
                "SELECT count(*) FROM audit_events WHERE action = 'timer_fired' AND id > %s", setup.audit_mark
            )[0][0],
            "reminders": lambda: q("SELECT count(*) FROM reminders")[0][0],
            "e-mails": lambda: q("SELECT count(*) FROM outbox WHERE status = 'sent'")[0][0],
        }
        totals = {"timers": due_cases, "reminders": len(tasks)}
        started = time.perf_counter()
        scheduler = start_scheduler(pg.url, logdir, smtp.port)
        kills: list[dict[str, Any]] = []
        for phase in ("timers", "reminders", "e-mails"):
            if phase == "e-mails":
                # E-mails go out after the reminders of a pass: their number is known then.
                deadline = time.monotonic() + 120
                while counts["reminders"]() < len(tasks) and time.monotonic() < deadline:
                    time.sleep(0.01)
            total = totals.get(phase) or max(1, q("SELECT count(*) FROM outbox")[0][0])
            deadline = time.monotonic() + 120
            while counts[phase]() < total * 0.3 and time.monotonic() < deadline:
                time.sleep(0.005)
            writes = {"timers": CASE_WRITES, "reminders": REMINDER_WRITES}.get(phase)
            for _attempt in range(5):
                pid = scheduler.pid
                killed = kill_mid_write(pg, lambda pid=pid: [pid], writes) if writes else None
                if killed is None:
                    # E-mail is sent outside any transaction (by design): kill it at this moment.
                    scheduler.send_signal(signal.SIGKILL)
                    killed = {"pid": scheduler.pid, "xid": None, "query": "delivering e-mail", "status": None}
                scheduler.wait()
                killed_at = q("SELECT now()")[0][0]
                done = counts[phase]()
                kills.append(
                    {
                        **killed,
                        "phase": phase,
                        "done": done,
                        "total": total,
                        "at": killed_at,
                        "after": time.perf_counter() - started,
                    }
                )
                where = (
                    f"while its transaction {killed['xid']} had written ({killed['query']!r}), transaction "
                    f"{killed['status']}"
                    if killed["xid"]
                    else ""
                )
                print(
                    f"  killed the scheduler (SIGKILL) at {time.perf_counter() - started:.1f} s with {done} of {total} "
                    f"{phase} done {where}; restarted it"
                )
                scheduler = start_scheduler(pg.url, logdir, smtp.port)
                if killed["status"] in (None, "aborted"):
                    break
        # A message the killed process had claimed keeps its lease (5 minutes) before another
        # scheduler may send it: travel past the lease instead of waiting.
        # (claimed before the last kill: its lease ends within LEASE of that moment; the running
        # scheduler's own claims end later and are left alone).
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            leased = q(
                "UPDATE outbox SET lease_until = now() - interval '1 second' WHERE status = 'sending' "
                "AND lease_until > now() AND lease_until <= %s RETURNING id",
                kills[-1]["at"] + LEASE,
            )
            if leased:
                print(f"  {len(leased)} e-mails claimed by the killed scheduler: lease expired by time travel")
                q("SELECT pg_notify('infora_due', '')")
            left = q(
                "SELECT (SELECT count(*) FROM cases WHERE status = 'running' AND next_timer_at <= now()), "
                "(SELECT count(*) FROM task_index t JOIN cases c ON c.id = t.case_id WHERE c.status = 'running' "
                "AND t.state = 'ready' AND t.next_reminder_at <= now()), "
                "(SELECT count(*) FROM outbox WHERE status IN ('pending', 'sending'))"
            )[0]
            if left == (0, 0, 0):
                break
            time.sleep(0.2)
        caught_up = time.perf_counter() - started
        since_restart = caught_up - kills[-1]["after"]
        print(
            f"  caught up {caught_up:.1f} s after the first start, {since_restart:.1f} s after the last restart "
            f"(timers, reminders, e-mails left: {left})"
        )
        scheduler.send_signal(signal.SIGTERM)
        scheduler.wait(30)
        checks.check(
            "the scheduler was killed in each phase (timers, reminders, e-mails), mid-transaction in the first two",
            all(
                any(
                    k["phase"] == phase
                    and (k["status"] == "aborted" or phase == "e-mails")
                    and 0 < k["done"] < k["total"]
                    for k in kills
                )
                for phase in ("timers", "reminders", "e-mails")
            ),
            "; ".join(f"{k['phase']}: {k['done']} of {k['total']}" for k in kills),
        )
        rolled_back(kills, checks)
        checks.check("nothing is left due after the restarts", left == (0, 0, 0), f"{left}")
        # The restarted scheduler works through what is left at once; a run that APScheduler
        # skipped used to leave it asleep until the next notification (engine/scheduler/runner.py).
        checks.check(
            "the restarted scheduler caught up without stalling (within 60 s)",
            since_restart < 60,
            f"{since_restart:.1f} s",
        )
        _check_timers(q, setup.audit_mark, timer_tasks, checks)
        _check_reminders(q, tasks, smtp, checks)
        versions = dict(q("SELECT id, version FROM cases"))
        fired = collections.Counter(
            r[0]
            for r in q("SELECT case_id FROM audit_events WHERE id > %s AND action = 'timer_fired'", setup.audit_mark)
        )
        conn.close()
        wrong = [c for c in setup.case_ids if versions[c] - setup.versions[c] != fired[c]]
        checks.check(
            "every case's version grew by exactly its timer firings (no half-written save)",
            not wrong,
            f"{len(wrong)} cases differ",
        )
        from engine.persistence.database import make_engine, make_session_factory

        engine = make_engine(pg.url)
        consistent(make_session_factory(engine), setup.case_ids, checks)
        engine.dispose()
    return checks


def _check_timers(q: Any, mark: int, timer_tasks: dict[str, int], checks: Checks) -> None:
    fired = collections.Counter(
        r[0] for r in q("SELECT case_id FROM audit_events WHERE id > %s AND action = 'timer_fired'", mark)
    )
    studies = collections.Counter(
        (r[0], r[1])
        for r in q(
            "SELECT case_id, details FROM audit_events WHERE id > %s AND action = 'task_ready' "
            "AND details LIKE '%%pdsa_study%%'",
            mark,
        )
    )
    timer_cases = set(timer_tasks.values())
    once = [c for c in timer_cases if fired[c] != 1]
    checks.check(
        "every case's due timer fired exactly once (one timer_fired event per case)",
        not once,
        f"{len(timer_cases)} cases, {len(once)} otherwise; {sum(fired.values())} events",
    )
    per_timer = collections.Counter(c for c, _details in studies)
    checks.check(
        "each fired loop timer made exactly one Studera task (one per timer)",
        sum(per_timer.values()) == len(timer_tasks) and all(n == 1 for n in studies.values()),
        f"{len(timer_tasks)} timers, {sum(per_timer.values())} Studera tasks",
    )
    still = q("SELECT count(*) FROM task_index WHERE task_id = ANY(%s)", list(timer_tasks))[0][0]
    checks.check("no fired timer is still waiting in the index", still == 0, f"{still}")


def _check_reminders(q: Any, tasks: list[str], smtp: SmtpSink, checks: Checks) -> None:
    reminders = collections.Counter(r[0] for r in q("SELECT task_id FROM reminders"))
    checks.check(
        "each task with a due reminder got exactly one reminder (stage)",
        len(reminders) == len(tasks) and all(n == 1 for n in reminders.values()),
        f"{len(tasks)} tasks, {len(reminders)} reminded, {sum(reminders.values())} reminder rows",
    )
    doubled_notes = q(
        "SELECT task_id, user_id, count(*) FROM notifications GROUP BY task_id, user_id HAVING count(*) > 1"
    )
    notes = q("SELECT count(*) FROM notifications")[0][0]
    expected_notes = q("SELECT coalesce(sum(json_array_length(recipient_ids::json)), 0) FROM reminders")[0][0]
    checks.check(
        "one notification per recipient and reminder, none doubled",
        not doubled_notes and notes == expected_notes,
        f"{notes} notifications for {expected_notes} recipients",
    )
    doubled_mail = q(
        "SELECT reminder_id, recipient_id, count(*) FROM outbox GROUP BY reminder_id, recipient_id HAVING count(*) > 1"
    )
    rows = q("SELECT status, count(*) FROM outbox GROUP BY status")
    checks.check(
        "one e-mail per recipient and reminder in the outbox, none doubled", not doubled_mail, f"outbox {dict(rows)}"
    )
    message_ids = [r[0] for r in q("SELECT message_id FROM outbox")]
    missing = [m for m in message_ids if smtp.received[m] == 0]
    checks.check(
        "every e-mail reached the SMTP server",
        not missing and all(s == "sent" for s, _ in rows),
        f"{len(message_ids)} e-mails, {len(missing)} not received",
    )
    copies = sum(n - 1 for n in smtp.received.values() if n > 1)
    print(
        f"  SMTP server: {sum(smtp.received.values())} deliveries of {len(smtp.received)} Message-IDs; "
        f"re-sent copies after a kill between the SMTP hand-over and its record: {copies}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("a", "b"), default=None)
    parser.add_argument("--cases-a", type=int, default=1000)
    parser.add_argument("--seconds-a", type=int, default=45)
    parser.add_argument("--cases-b", type=int, default=500)
    args = parser.parse_args()
    failed = []
    if args.only in (None, "a"):
        failed += run_a(args).failed
    if args.only in (None, "b"):
        failed += run_b(args).failed
    print(f"\n{'ALL FAULT CHECKS PASSED' if not failed else 'FAILED: ' + '; '.join(failed)}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
