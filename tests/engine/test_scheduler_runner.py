"""The APScheduler runner around the pass: it wakes at the earliest due time and on ``wake()``.
This one test runs on the real clock (about a second): it is the runner's timing that is tested;
everything else about the scheduler is tested by calling the pass directly."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from engine.persistence import AuditEvent
from engine.persistence.database import begin_write
from engine.scheduler import SchedulerSettings
from engine.scheduler.runner import SchedulerRunner
from engine.services import SYSTEM_ACTOR, publish_model_version, start_case
from tests.bpmn_builder import forms, timer_then_task
from tests.factories import make_actor, timers_fired, wait_for_a_timer
from web.cli import main


def test_the_runner_fires_a_timer_at_its_due_time(reference: Session, session_factory: sessionmaker[Session]) -> None:
    s = reference
    publish_model_version(s, SYSTEM_ACTOR, "short_loop", {"short.bpmn": timer_then_task("short_loop").xml()}, forms())
    coordinator = make_actor(s, "koord", "coordinator")
    s.commit()
    runner = SchedulerRunner(session_factory, SchedulerSettings(), max_sleep=30.0)
    runner.start()
    try:
        # A write transaction from the start, as the web edge opens one for every POST: on SQLite a
        # read transaction that later writes fails at once ("database is locked") when the runner's
        # first pass holds the write lock, instead of queueing behind it.
        begin_write(s)
        start_case(s, coordinator, process_id="short_loop", title="Kort loop", cycle_duration="PT0.6S")
        s.commit()
        runner.wake()  # as the web edge does after a commit; the runner then sleeps until the due time
        elapsed = wait_for_a_timer(session_factory)
    finally:
        runner.shutdown()
    assert timers_fired(session_factory) == 1
    assert 0.5 < elapsed < 3.0  # not before it was due, and long before the 30 s safety wake-up


def test_scheduler_once_from_the_command_line(published: Session, db_engine: Engine) -> None:
    url = db_engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(main, ["--database-url", url, "scheduler", "--once"], env={"INFORA_SMTP_HOST": ""})
    assert result.exit_code == 0, result.output
    assert '"timers_fired": 0' in result.output
    bad = CliRunner().invoke(
        main,
        ["--database-url", url, "scheduler", "--once"],
        env={"INFORA_SMTP_HOST": "smtp.example.se", "INFORA_SMTP_PORT": "x"},
    )
    assert bad.exit_code == 2 and "INFORA_SMTP_PORT" in bad.output


def test_a_due_time_written_by_another_process_reaches_the_running_scheduler(
    reference: Session, session_factory: sessionmaker[Session], db_engine: Engine
) -> None:
    """No wake() call here: on PostgreSQL the commit's NOTIFY wakes the runner's LISTEN connection;
    on SQLite the runner's short safety wake-up (max_sleep) finds the new due time."""
    s = reference
    publish_model_version(s, SYSTEM_ACTOR, "short_loop", {"short.bpmn": timer_then_task("short_loop").xml()}, forms())
    coordinator = make_actor(s, "koord", "coordinator")
    s.commit()
    postgres = db_engine.dialect.name == "postgresql"
    runner = SchedulerRunner(
        session_factory,
        SchedulerSettings(),
        max_sleep=60.0 if postgres else 1.0,
        listen_url=db_engine.url.render_as_string(hide_password=False) if postgres else None,
    )
    runner.start()
    try:
        time.sleep(0.3)  # let the first (empty) pass finish and the LISTEN connection open
        begin_write(s)  # queue behind a pass that may be writing (see the test above)
        start_case(s, coordinator, process_id="short_loop", title="Annan process", cycle_duration="PT0.5S")
        s.commit()
        elapsed = wait_for_a_timer(session_factory)
    finally:
        runner.shutdown()
    assert timers_fired(session_factory) == 1
    assert elapsed < 3.0


@pytest.mark.parametrize(("gather", "passes_used"), [(0.0, range(3, 5)), (1.0, range(1, 3))])
def test_a_gathering_runner_fires_timers_due_close_together_in_fewer_passes(
    reference: Session, session_factory: sessionmaker[Session], gather: float, passes_used: range
) -> None:
    """Four timers due 0.2 s apart: without gathering a pass each; gathering for a second, one
    or two passes. None fires before it is due either way."""
    s = reference
    publish_model_version(s, SYSTEM_ACTOR, "gathered", {"loop.bpmn": timer_then_task("gathered").xml()}, forms())
    coordinator = make_actor(s, "koord", "coordinator")
    s.commit()
    runner = SchedulerRunner(session_factory, SchedulerSettings(), max_sleep=30.0, gather=gather)
    runner.start()
    try:
        deadline = time.monotonic() + 5
        while runner.passes == 0 and time.monotonic() < deadline:  # the first (empty) pass
            time.sleep(0.02)
        passes = runner.passes
        begin_write(s)
        for n, cycle in enumerate(("PT0.4S", "PT0.6S", "PT0.8S", "PT1S")):
            start_case(s, coordinator, process_id="gathered", title=f"Samlad {n}", cycle_duration=cycle)
        s.commit()
        runner.nudge()  # what the LISTEN connection does on the commit's NOTIFY
        deadline = time.monotonic() + 10
        while timers_fired(session_factory) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        runner.shutdown()
    assert timers_fired(session_factory) == 4
    assert runner.passes - passes in passes_used
    with session_factory() as check:
        fired = check.execute(select(AuditEvent.at, AuditEvent.details).where(AuditEvent.action == "timer_fired")).all()
    assert all(at >= datetime.fromisoformat(details["due_at"]) for at, details in fired)
