"""Scheduler benchmark (issue 3): 10,000 cases whose loop timers fall due at the same moment,
advanced by one scheduler process on SQLite (cases per second, none missed, none twice); and how
late a timer fires in the embedded mode (median over 20 timers, real time).

Run: ``.venv/bin/python bench/scheduler_bench.py [--cases N] [--timers N]``. Prints measured
figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import time_machine
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.catalogue.reference import load_reference_data  # noqa: E402
from engine.persistence import AuditEvent, Case, TaskIndexRow  # noqa: E402
from engine.persistence.database import make_engine, make_session_factory, unit_of_work  # noqa: E402
from engine.persistence.schema import upgrade_database  # noqa: E402
from engine.scheduler import SchedulerSettings, run_pass  # noqa: E402
from engine.scheduler.runner import SchedulerRunner  # noqa: E402
from engine.services import SYSTEM_ACTOR, Actor, publish_model_version, start_case  # noqa: E402
from engine.services.users import create_user  # noqa: E402
from tests.bpmn_builder import Process, forms, timer_then_task  # noqa: E402


def loop_model() -> Process:
    """The learning loop's timer and its Study step."""
    return timer_then_task("loop_timer", name="Lärandeloop", timer="loop_ends", task="study", task_name="Studera")


def setup(folder: Path) -> tuple[object, object, Actor]:
    engine = make_engine(f"sqlite:///{folder / 'scheduler.sqlite3'}")
    upgrade_database(engine)
    factory = make_session_factory(engine)
    with unit_of_work(factory) as s:
        load_reference_data(s)
        user = create_user(s, SYSTEM_ACTOR, username="bench", display_name="Bench", system_role="coordinator")
        actor = Actor(user.id, user.username, user.display_name, user.system_role)
        publish_model_version(s, SYSTEM_ACTOR, "loop_timer", {"loop.bpmn": loop_model().xml()}, forms())
    return engine, factory, actor


def burst(cases: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        engine, factory, actor = setup(Path(folder))
        t0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
        with time_machine.travel(t0, tick=False) as traveller:
            started = time.perf_counter()
            for i in range(cases):
                with unit_of_work(factory) as s:  # type: ignore[arg-type]
                    start_case(s, actor, process_id="loop_timer", title=f"Loop {i}", cycle_duration="PT1H")
            setup_seconds = time.perf_counter() - started
            with factory() as s:  # type: ignore[operator]
                due = set(s.scalars(select(Case.next_timer_at)))
            traveller.move_to(t0 + timedelta(hours=1, seconds=1))
            began = time.perf_counter()
            result = run_pass(factory, SchedulerSettings())  # type: ignore[arg-type]
            seconds = time.perf_counter() - began
        with factory() as s:  # type: ignore[operator]
            fired = dict(
                s.execute(
                    select(AuditEvent.case_id, func.count())
                    .where(AuditEvent.action == "timer_fired")
                    .group_by(AuditEvent.case_id)
                ).all()
            )
            studies = s.scalar(select(func.count()).select_from(TaskIndexRow).where(TaskIndexRow.bpmn_id == "study"))
        engine.dispose()  # type: ignore[attr-defined]
        print(f"\n{cases} cases, every loop timer due at the same moment ({len(due)} distinct due time)")
        print(f"  set-up: {cases} cases started in {setup_seconds:.1f} s")
        print(
            f"  one scheduler pass advanced {result.timers_fired} cases in {seconds:.2f} s: "
            f"{result.timers_fired / seconds:.0f} cases/s (target >= 150)"
        )
        missed = cases - len(fired)
        twice = sum(1 for n in fired.values() if n > 1)
        print(f"  missed: {missed}, fired twice: {twice}, next tasks ready: {studies}, errors: {len(result.errors)}")


def latency(timers: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        engine, factory, actor = setup(Path(folder))
        runner = SchedulerRunner(factory, SchedulerSettings(), blocking=False)  # type: ignore[arg-type]
        runner.start()
        try:
            for i in range(timers):
                with unit_of_work(factory) as s:  # type: ignore[arg-type]
                    start_case(s, actor, process_id="loop_timer", title=f"Loop {i}", cycle_duration=f"PT{2 + i * 0.5}S")
                runner.wake()  # what the web edge does after its commit
            deadline = time.monotonic() + 2 + timers * 0.5 + 15
            while time.monotonic() < deadline:
                with factory() as s:  # type: ignore[operator]
                    if (
                        s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "timer_fired"))
                        >= timers
                    ):
                        break
                time.sleep(0.2)
        finally:
            runner.shutdown()
        with factory() as s:  # type: ignore[operator]
            fired = s.execute(select(AuditEvent.at, AuditEvent.details).where(AuditEvent.action == "timer_fired")).all()
        engine.dispose()  # type: ignore[attr-defined]
        delays = [(at - datetime.fromisoformat(details["due_at"])).total_seconds() for at, details in fired]
        print(
            f"\nEmbedded scheduler (APScheduler in the web process), {timers} timers due 2-{2 + (timers - 1) * 0.5:.1f} s "
            "after their case started"
        )
        print(
            f"  fired: {len(delays)} of {timers}; delay after due: median {statistics.median(delays):.3f} s, "
            f"max {max(delays):.3f} s (target: median <= 2 s)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--timers", type=int, default=20)
    args = parser.parse_args()
    print("Infora scheduler benchmark: SQLite file database (WAL), one scheduler process")
    burst(args.cases)
    latency(args.timers)


if __name__ == "__main__":
    main()
