"""Running scheduler passes on time with APScheduler.

There is one job, the pass. After each pass it is re-armed at the earliest due time the database
holds (never later than ``max_sleep``, so due times written by another process are seen within
seconds even without a notification). ``wake()`` runs it at once: the web edge calls it after a
commit in the embedded set-up, and on PostgreSQL a LISTEN connection calls it when any process
commits a change of due times (``NOTIFY infora_due``). APScheduler keeps no state of its own here:
the database is the source of truth, so a memory job store is all it needs.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy.orm import Session, sessionmaker

from engine.clock import utcnow
from engine.scheduler.passes import PassResult, SchedulerSettings, run_pass

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
    ) -> None:
        self.factory = factory
        self.settings = settings
        self.max_sleep = max_sleep
        self.listen_url = listen_url
        scheduler_class: type[BaseScheduler] = BlockingScheduler if blocking else BackgroundScheduler
        self._scheduler: BaseScheduler = scheduler_class(timezone="UTC")
        self._lock = threading.Lock()
        self._running = False
        self._again = False
        self._stop = threading.Event()
        self.last_result: PassResult | None = None
        self.passes = 0

    def start(self) -> None:
        """Start (a blocking runner returns only at shutdown)."""
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

    def _arm(self, when: datetime) -> None:
        self._scheduler.add_job(
            self._tick, trigger="date", run_date=when, id=JOB_ID, replace_existing=True,
            misfire_grace_time=None, coalesce=True, max_instances=1,
        )  # fmt: skip

    def _tick(self) -> None:
        with self._lock:
            self._running = True
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
            with self._lock:
                self._running = False
        if not self._stop.is_set():
            self._arm(self._next_run())

    def _next_run(self) -> datetime:
        now = utcnow()
        latest = now + timedelta(seconds=self.max_sleep)
        due = self.last_result.next_due if self.last_result else None
        if due is None or due > latest:
            return latest
        # The engine's timers fire strictly after their due time.
        return max(due + timedelta(milliseconds=5), now)

    def _listen(self) -> None:
        """PostgreSQL: wake on NOTIFY infora_due from any process."""
        import psycopg

        url = (self.listen_url or "").replace("postgresql+psycopg://", "postgresql://")
        while not self._stop.is_set():
            try:
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute("LISTEN infora_due")
                    while not self._stop.is_set():
                        for _notice in conn.notifies(timeout=1.0):
                            self.wake()
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
