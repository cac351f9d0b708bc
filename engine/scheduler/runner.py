"""Running scheduler passes on time with APScheduler.

There is one job, the pass. After each pass it is re-armed at the earliest due time the database
holds (never later than ``max_sleep``, so due times written by another process are seen within
seconds even without a notification). ``wake()`` runs it at once: the web edge calls it after a
commit in the embedded set-up. On PostgreSQL a LISTEN connection hears when any process commits a
change of due times (``NOTIFY infora_due``) and calls ``nudge()``: that reads the earliest due time
and moves the next pass forward if it is sooner — it does not run a pass. A busy site notifies on
nearly every task completion (each new task has reminders); a pass per notification kept the
scheduler process and the database busy without pause in the load run (bench/load_run.py). A
notification carries the earliest due time it made (``heard()``): one no sooner than the pass
already planned needs no look at the database at all, and nearly all are days ahead.
``gather``: the least time from the end of one pass to the start of the next (the separate
scheduler process uses a second). Timers and reminders fall due one after the other; a pass per
due time fired about one timer each in the load run, and paid the pass's own reads (due cases,
due reminders, the outbox, the drafts, the next due time) for every one. Gathered, a pass fires
what fell due in the second before it. No due time in this domain needs sub-second precision (a
PDSA cycle is months, a reminder days); ``wake()`` still runs a pass at once.
APScheduler keeps no state of its own here: the database is the source of truth, so a memory job
store is all it needs.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy.orm import Session, sessionmaker

from engine import workdays
from engine.clock import utcnow
from engine.persistence.database import unit_of_work
from engine.scheduler.passes import PassResult, SchedulerSettings, next_due_at, run_pass
from engine.services.case_store import DUE_CHANNEL

log = logging.getLogger("infora.scheduler")
JOB_ID = "infora-pass"


class SchedulerRunner:
    """Runs ``run_pass`` at the earliest due time, in the background or blocking."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        settings: SchedulerSettings,
        *,
        blocking: bool = False,
        max_sleep: float = 5.0,
        listen_url: str | None = None,
        gather: float = 0.0,
    ) -> None:
        self.factory = factory
        self.settings = settings
        self.max_sleep = max_sleep
        self.gather = timedelta(seconds=gather)
        self._last_pass_end: datetime | None = None
        self.listen_url = listen_url
        scheduler_class: type[BaseScheduler] = BlockingScheduler if blocking else BackgroundScheduler
        self._scheduler: BaseScheduler = scheduler_class(timezone="UTC")
        self._lock = threading.Lock()
        self._running = False
        self._again = False
        self._recheck = False
        self._armed_at: datetime | None = None
        self._stop = threading.Event()
        self.last_result: PassResult | None = None
        self.passes = 0

    def start(self) -> None:
        """Start (a blocking runner returns only at shutdown)."""
        workdays.warm_up()
        self._arm(utcnow())
        if self.listen_url:
            threading.Thread(target=self._listen, name="infora-listen", daemon=True).start()
        self._scheduler.start()

    def shutdown(self) -> None:
        """Stop after the pass in progress, if any."""
        self._stop.set()
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)

    def wake(self) -> None:
        """Run a pass now (or right after the one in progress)."""
        with self._lock:
            if self._running:
                self._again = True
                return
        self._arm(utcnow())

    def nudge(self) -> None:
        """Due times changed elsewhere: bring the next pass forward to the earliest due time if
        that is sooner than planned (one read; no pass unless something is due)."""
        with self._lock:
            if self._running:
                # The pass in progress may have read the due times before this change.
                self._recheck = True
                return
        due = self._read_next_due()
        with self._lock:
            if self._running:
                self._recheck = True
                return
            when = self._run_time(due)
            if self._armed_at is None or when < self._armed_at or self._armed_at < utcnow():
                self._arm(when)

    def heard(self, payloads: list[str]) -> None:
        """Notifications arrived, each with the earliest due time it made (ISO 8601) or nothing
        (unknown): nudge unless every one is known and none is sooner than the planned pass."""
        if not payloads:
            return
        dues: list[datetime] = []
        for payload in payloads:
            try:
                due = datetime.fromisoformat(payload)
            except ValueError:  # no payload (a changed due date, an older process): look
                self.nudge()
                return
            dues.append(due if due.tzinfo else due.replace(tzinfo=UTC))
        with self._lock:
            armed = self._armed_at
            if armed is not None and not self._running and armed > utcnow() and self._run_time(min(dues)) >= armed:
                return  # the planned pass comes first; it reads every due time afresh
        self.nudge()

    def _read_next_due(self) -> datetime | None:
        with unit_of_work(self.factory, write=False) as session:
            return next_due_at(session, include_outbox=self.settings.smtp is not None)

    def _arm(self, when: datetime) -> None:
        self._armed_at = when
        self._scheduler.add_job(
            self._tick, trigger="date", run_date=when, id=JOB_ID, replace_existing=True,
            # No limit that APScheduler would enforce by skipping: the run that arms the next one
            # is still finishing when the next falls due (at once, when work is left; a subclass
            # may log after the pass). With one instance allowed, APScheduler skipped the next run
            # and the scheduler slept until something woke it (found by bench/fault_runs.py).
            # _tick lets only one run do a pass; the others hand it another round and return.
            misfire_grace_time=None, coalesce=True, max_instances=1000,
        )  # fmt: skip

    def _tick(self) -> None:
        with self._lock:
            if self._running:
                self._again = True  # the run in its pass goes round once more
                return
            self._running = True
            self._armed_at = None  # the armed run is this one
        try:
            while True:
                with self._lock:
                    self._again = False
                try:
                    self.last_result = run_pass(self.factory, self.settings)
                except Exception:
                    log.exception("scheduler pass failed")
                    self.last_result = None
                self.passes += 1
                with self._lock:
                    if not self._again:
                        break
        finally:
            self._last_pass_end = utcnow()
            due = self.last_result.next_due if self.last_result else None
            while True:
                with self._lock:
                    # A wake-up or a notification after the last pass read the due times.
                    recheck = self._recheck or self._again
                    self._recheck = self._again = False
                if recheck:
                    try:
                        read = self._read_next_due()
                    except Exception:
                        log.exception("reading the next due time failed")
                        read = utcnow()  # run again soon rather than sleep through a change
                    due = read if due is None or (read is not None and read < due) else due
                with self._lock:
                    if self._recheck or self._again:
                        continue  # another change came in while reading
                    self._running = False
                    if not self._stop.is_set():
                        self._arm(self._run_time(due))
                    break

    def _run_time(self, due: datetime | None) -> datetime:
        now = utcnow()
        latest = now + timedelta(seconds=self.max_sleep)
        if due is None or due > latest:
            return latest
        earliest = now
        if self.gather and self._last_pass_end is not None:
            earliest = max(now, self._last_pass_end + self.gather)
        # The engine's timers fire strictly after their due time.
        return max(due + timedelta(milliseconds=5), earliest)

    def _listen(self) -> None:
        """PostgreSQL: wake on NOTIFY infora_due from any process."""
        import psycopg

        url = (self.listen_url or "").replace("postgresql+psycopg://", "postgresql://")
        while not self._stop.is_set():
            try:
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute(f"LISTEN {DUE_CHANNEL}")
                    while not self._stop.is_set():
                        payloads = [n.payload for n in conn.notifies(timeout=1.0, stop_after=1)]
                        if payloads:
                            # Commits notify in bursts: gather what comes in the next moment,
                            # then decide once.
                            payloads += [n.payload for n in conn.notifies(timeout=0.05)]
                            self.heard(payloads)
            except Exception:
                log.exception("LISTEN connection lost; reconnecting")
                self._stop.wait(2.0)


def describe(result: PassResult | None) -> dict[str, Any]:
    """A pass result for logs and the command line."""
    if result is None:
        return {"status": "failed"}
    return {
        "timers_fired": result.timers_fired,
        "reminders_sent": result.reminders_sent,
        "emails_sent": result.delivery.sent,
        "emails_retrying": result.delivery.retrying,
        "emails_failed": result.delivery.failed,
        "emails_held": result.delivery.held,
        "errors": len(result.errors),
        "next_due": result.next_due.isoformat() if result.next_due else None,
    }
