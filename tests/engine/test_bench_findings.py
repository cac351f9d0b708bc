"""What the issue-8 runs found, held in place. The load run (bench/load_run.py): the inbox names come
from correlated subqueries (five outer joins made PostgreSQL plan for ~9 ms per inbox); the
scheduler's next due reminder is read in index order (min() over a join grew with the cases); a
notification of changed due times only re-reads the next due time instead of running a whole pass
(one pass per completion kept the scheduler busy without pause). The scale bench
(bench/scale_bench.py): the portfolio reads its late cases in the order of each case's stored earliest
due date (longest overdue first) and a coordinator's counts from the tallies the database keeps —
nothing counts or sorts every case (tests/engine/test_case_tallies.py holds the tallies right).

The runner test runs on the real clock (about a second), as the runner's other timing test does."""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from engine.clock import utcnow
from engine.persistence import AuditEvent, Case, Pathway, Region, Role, TaskIndexRow, Unit
from engine.persistence.cases import AUDIT_EVENTS
from engine.scheduler import SchedulerSettings
from engine.scheduler.passes import next_due_at
from engine.scheduler.runner import SchedulerRunner
from engine.services import SYSTEM_ACTOR, claim_task, publish_model_version, start_case, suspend_case
from engine.services.actors import Actor
from engine.services.audit import audit_row
from engine.services.case_store import Rows, lock_case, update_case
from engine.services.inbox import inbox_page
from engine.services.portfolio import portfolio
from engine.services.reminders import set_task_due
from tests.bpmn_builder import forms, timer_then_task
from tests.factories import make_actor, start_vgr, statements_sent, task_row, timers_fired, wait_for_a_timer


def test_the_inbox_shows_pathway_region_unit_role_and_assignee_by_name(published: Session) -> None:
    s = published
    pathway = s.scalars(select(Pathway).order_by(Pathway.id)).first()
    assert pathway is not None
    case_id, team, units = start_vgr(s, units=1, pathway_id=pathway.id)
    s.commit()
    actor = team.by_role["kunskapsstyrning"]
    items, total = inbox_page(s, actor)
    assert total == 1 and [i.step for i in items] == ["Öppen remissrunda"]
    item = items[0]
    region = s.scalar(select(Region.name).join(Case, Case.region_id == Region.id).where(Case.id == case_id))
    role = s.scalar(select(Role.name_sv).where(Role.code == "kunskapsstyrning"))
    assert (item.pathway, item.region, item.role) == (pathway.name, region, role)
    assert item.unit is None and item.assignee_id is None and item.assignee_name is None
    claim_task(s, actor, item.task_id)
    s.commit()
    (claimed,), _total = inbox_page(s, actor)
    assert claimed.assignee_id == actor.user_id and claimed.assignee_name == actor.display_name
    # A unit's task names its unit.
    row = task_row(s, case_id, "step_01_consultation")
    s.execute(update(TaskIndexRow).where(TaskIndexRow.id == row.id).values(unit_id=units[0]))
    s.commit()
    (with_unit,), _total = inbox_page(s, actor)
    assert with_unit.unit == s.scalar(select(Unit.name).where(Unit.id == units[0]))


def test_the_next_due_reminder_is_the_earliest_of_a_running_case(published: Session) -> None:
    s = published
    first, team, _units = start_vgr(s, units=1, prefix="a")
    second, _team2, _units2 = start_vgr(s, units=1, prefix="b")
    s.execute(update(Case).values(next_timer_at=None))
    now = utcnow()
    for case_id, hours in ((first, 1), (second, 2)):
        s.execute(
            update(TaskIndexRow)
            .where(TaskIndexRow.case_id == case_id)
            .values(next_reminder_at=now + timedelta(hours=hours))
        )
    s.commit()
    assert next_due_at(s, include_outbox=False) == now + timedelta(hours=1)
    suspend_case(s, team.coordinator, first, "Paus")  # a paused case reminds nobody
    s.commit()
    assert next_due_at(s, include_outbox=False) == now + timedelta(hours=2)
    s.execute(update(TaskIndexRow).values(next_reminder_at=None))
    s.commit()
    assert next_due_at(s, include_outbox=False) is None


def test_a_nudge_reads_the_next_due_time_and_runs_no_pass_until_it(
    reference: Session, session_factory: sessionmaker[Session]
) -> None:
    s = reference
    coordinator = _loop_model_and_coordinator(s, "nudged_loop")
    runner = SchedulerRunner(session_factory, SchedulerSettings(), max_sleep=30.0)
    runner.start()
    try:
        deadline = time.monotonic() + 5
        while runner.passes == 0 and time.monotonic() < deadline:  # the first (empty) pass
            time.sleep(0.02)
        time.sleep(0.1)
        passes = runner.passes
        for _ in range(50):  # a burst of notifications with nothing due: reads, no passes
            runner.nudge()
        time.sleep(0.2)  # a pass a nudge had started would have run by now
        assert runner.passes == passes
        assert runner._armed_at is not None and runner._armed_at > utcnow() + timedelta(seconds=20)
        info = start_case(s, coordinator, process_id="nudged_loop", title="Knuff", cycle_duration="PT0.6S")
        s.commit()
        due = s.get(Case, info.id).next_timer_at  # type: ignore[union-attr]
        assert due is not None
        runner.nudge()  # what the LISTEN connection does on the commit's NOTIFY
        assert runner.passes == passes  # nothing is due yet: the pass is planned for the timer
        assert runner._armed_at is not None and abs((runner._armed_at - due).total_seconds()) < 0.1
        elapsed = wait_for_a_timer(session_factory)
    finally:
        runner.shutdown()
    assert timers_fired(session_factory) == 1
    with session_factory() as check:
        fired_at = check.scalar(select(AuditEvent.at).where(AuditEvent.action == "timer_fired"))
    assert fired_at is not None and fired_at >= due  # not before it was due
    assert elapsed < 3.0  # long before the 30 s safety wake-up


def test_the_portfolio_lists_late_cases_longest_overdue_first_then_by_status_least_recently_changed_first(
    published: Session,
) -> None:
    s = published
    pathways = list(s.scalars(select(Pathway).order_by(Pathway.name).limit(3)))
    cases: dict[int, tuple[bool, bool, str]] = {}
    dues = {}
    teams = {}
    for n in range(7):
        pathway = pathways[(n * 2) % 3]
        case_id, team, _units = start_vgr(s, units=1, prefix=f"p{n}", pathway_id=pathway.id)
        teams[case_id] = team
        late = n % 3 == 0
        # The later a late case is started here, the longer it is overdue: the order is not the ids'.
        dues[case_id] = utcnow() + (timedelta(days=-2 - n) if late else timedelta(days=5 + n))
        for task_id in s.scalars(select(TaskIndexRow.task_id).where(TaskIndexRow.case_id == case_id,
                                                                     TaskIndexRow.kind == "user")):  # fmt: skip
            set_task_due(s, team.coordinator, task_id, dues[case_id])
        running = n != 3 and n != 4
        if not running:
            suspend_case(s, team.coordinator, case_id, "Paus")
        cases[case_id] = (late, running, pathway.name)
    s.commit()
    assert all(s.get(Case, c).earliest_due_at == dues[c] for c in cases)  # type: ignore[union-attr]
    late_first = sorted((c for c in cases if cases[c][0]), key=lambda c: dues[c])
    assert late_first == sorted(late_first, reverse=True)
    # The others: running before paused, the least recently changed first (not the ids' order).
    for n, case_id in enumerate(sorted(cases)):  # the newest case changed longest ago
        s.execute(update(Case).where(Case.id == case_id).values(updated_at=utcnow() - timedelta(days=n)))
    s.commit()
    changed = {c: s.get(Case, c).updated_at for c in cases}  # type: ignore[union-attr]
    others = sorted((c for c in cases if not cases[c][0]), key=lambda c: (not cases[c][1], changed[c], c))
    assert [c for c in others if cases[c][1]] == sorted((c for c in others if cases[c][1]), reverse=True)
    expected = late_first + others
    coordinator = next(iter(teams.values())).coordinator
    seen: list[int] = []
    for page in (1, 2, 3, 4):
        result = portfolio(s, coordinator, page=page, per_page=2)
        assert result.total == 7
        seen += [r.case_id for r in result.rows]
        for row in result.rows:
            assert (row.overdue > 0) == cases[row.case_id][0] and row.open_tasks == 1
    assert seen == expected
    full = portfolio(s, coordinator)
    assert sum(n for cell in full.matrix.values() for n in cell.values()) == 7
    assert sorted(full.pathways) == sorted({p for _late, _running, p in cases.values()})
    late = portfolio(s, coordinator, attention_only=True, per_page=2)
    assert late.total == sum(1 for v in cases.values() if v[0])
    assert [r.case_id for r in late.rows] == late_first[:2]
    later = portfolio(s, coordinator, attention_only=True, per_page=2, page=2)
    assert [r.case_id for r in later.rows] == late_first[2:] and later.total == 3
    assert portfolio(s, coordinator, attention_only=True, per_page=2, page=3).rows == []
    assert sum(n for cell in late.matrix.values() for n in cell.values()) == 7  # the counts ignore the filter
    # Someone who is not a coordinator sees the cases they take part in.
    first = expected[0]
    member = teams[first].by_role["rpt"]
    own = portfolio(s, Actor(member.user_id, member.username, member.display_name, "member"))
    assert [r.case_id for r in own.rows] == [first] and own.total == 1


class _SlowTail(SchedulerRunner):
    """A runner that is still busy after its pass (as one that logs its passes is): the next run
    falls due while this one has not returned yet."""

    def _tick(self) -> None:
        super()._tick()
        time.sleep(0.6)


def test_a_run_due_while_the_previous_one_finishes_is_not_skipped(
    reference: Session, session_factory: sessionmaker[Session]
) -> None:
    """Found by the scheduler fault run: APScheduler skipped a run that fell due while the run that
    armed it was finishing, and the scheduler then slept until something woke it."""
    s = reference
    coordinator = _loop_model_and_coordinator(s, "nudged_loop")
    runner = _SlowTail(session_factory, SchedulerSettings(), max_sleep=30.0)
    runner.start()
    try:
        deadline = time.monotonic() + 5
        while runner.passes == 0 and time.monotonic() < deadline:  # the first pass; its tail follows
            time.sleep(0.01)
        start_case(s, coordinator, process_id="nudged_loop", title="Under svansen", cycle_duration="PT0.3S")
        s.commit()
        runner.wake()  # due at once, while the first run still sleeps in its tail
        elapsed = wait_for_a_timer(session_factory)
    finally:
        runner.shutdown()
    assert timers_fired(session_factory) == 1
    assert elapsed < 3.0  # not the 30 s safety wake-up (nor never)


def test_a_notification_of_a_due_time_after_the_planned_pass_costs_the_scheduler_nothing(
    session_factory: sessionmaker[Session],
) -> None:
    # Nearly every completion makes a reminder days ahead; each notification used to cost the
    # scheduler a read of the next due time (a seventh of its CPU in the load run's stream).
    runner = SchedulerRunner(session_factory, SchedulerSettings(), max_sleep=30.0)
    nudges: list[None] = []
    runner.nudge = lambda: nudges.append(None)  # type: ignore[method-assign]
    now = utcnow()
    runner._armed_at = now + timedelta(seconds=20)
    runner.heard([(now + timedelta(days=6)).isoformat(), (now + timedelta(seconds=25)).isoformat()])
    assert nudges == []
    runner.heard([(now + timedelta(days=6)).isoformat(), (now + timedelta(seconds=2)).isoformat()])
    assert len(nudges) == 1  # sooner than the planned pass: look now
    runner.heard([""])  # no time given (an older process): look
    assert len(nudges) == 2
    runner._armed_at = now - timedelta(seconds=1)  # the planned pass is late (running): look
    runner.heard([(now + timedelta(days=6)).isoformat()])
    assert len(nudges) == 3


def _loop_model_and_coordinator(s: Session, process_id: str) -> Actor:
    """A published model (a loop timer, then a task) and a coordinator to start its cases, committed."""
    publish_model_version(s, SYSTEM_ACTOR, process_id, {"loop.bpmn": timer_then_task(process_id).xml()}, forms())
    coordinator = make_actor(s, "koord", "coordinator")
    s.commit()
    return coordinator


def test_a_change_tells_the_scheduler_its_soonest_new_due_time_in_the_case_update(
    reference: Session, db_engine: Engine
) -> None:
    # On PostgreSQL the NOTIFY rides on the case's UPDATE (RETURNING pg_notify), with the new due
    # time as payload: no statement of its own.
    s = reference
    coordinator = _loop_model_and_coordinator(s, "nudged_loop")
    with statements_sent(db_engine) as sent:
        before = utcnow()
        info = start_case(s, coordinator, process_id="nudged_loop", title="Knuff", cycle_duration="P1D")
        s.commit()
    notifying = [(statement, parameters) for statement, parameters in sent if "pg_notify" in statement]
    if db_engine.dialect.name != "postgresql":
        assert notifying == []
        return
    ((statement, parameters),) = notifying
    # ... and so do the change's task index rows and audit events (data-modifying CTEs).
    assert statement.lstrip().upper().startswith("WITH") and " UPDATE cases SET " in " ".join(statement.split())
    assert "INSERT INTO task_index" in statement and "INSERT INTO audit_events" in statement
    assert not [sql for sql, _ in sent if sql != statement
                and ("INSERT INTO task_index" in sql or "INSERT INTO audit_events" in sql)]  # fmt: skip
    timer_at = s.get(Case, info.id).next_timer_at  # type: ignore[union-attr]
    assert timer_at is not None and timer_at - before > timedelta(hours=23)
    assert timer_at.isoformat() in parameters.values()


def test_the_combined_write_binds_a_single_row_value_by_value_and_several_rows_as_arrays(
    reference: Session, db_engine: Engine
) -> None:
    # On PostgreSQL a write of one row binds its values one by one (psycopg dumps a list in
    # Python, element by element; one-row writes are most of a completion's); several rows go as
    # column arrays through unnest. Either way every row lands, with its values, in its order.
    s = reference
    coordinator = _loop_model_and_coordinator(s, "rows_loop")
    case_id = start_case(s, coordinator, process_id="rows_loop", title="Rader", cycle_duration="P1D").id
    s.commit()
    locked = lock_case(s, case_id)
    one = [audit_row(coordinator, "one_row", case_id=case_id, after={"text": 'a "quoted" \\ value', "n": 1})]
    several = [audit_row(coordinator, f"row_{n}", case_id=case_id, details={"n": n}) for n in range(3)]
    with statements_sent(db_engine) as sent:
        update_case(s, locked.case, together=[Rows(AUDIT_EVENTS, one), Rows(AUDIT_EVENTS, several)], title="Rader 2")
        s.commit()
    events = s.scalars(select(AuditEvent).where(AuditEvent.case_id == case_id).order_by(AuditEvent.id)).all()
    written = [(e.action, e.after, e.details) for e in events if e.action == "one_row" or e.action.startswith("row_")]
    assert sorted(written, key=lambda w: w[0]) == [
        ("one_row", {"text": 'a "quoted" \\ value', "n": 1}, None),
        ("row_0", None, {"n": 0}),
        ("row_1", None, {"n": 1}),
        ("row_2", None, {"n": 2}),
    ]
    assert [e.action for e in events if e.action.startswith("row_")] == ["row_0", "row_1", "row_2"]  # in id order
    assert s.get(Case, case_id).title == "Rader 2"  # type: ignore[union-attr]
    if db_engine.dialect.name != "postgresql":
        return
    ((statement, parameters),) = [(sql, p) for sql, p in sent if "INSERT INTO audit_events" in sql]
    assert statement.count("unnest(") == 1  # the three rows'; the one row's values stand alone
    lists = {key for key, value in parameters.items() if isinstance(value, list)}
    assert lists and all(len(parameters[key]) == 3 for key in lists)
    assert any(value == "one_row" for value in parameters.values())
