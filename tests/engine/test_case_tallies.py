"""The counts the database keeps per pathway, region, status and phase (``case_tallies``, kept by
the triggers of migration 0011) and each case's stored earliest due date stay equal to what
counting the cases and their task index says — after every kind of change, through the services or
by hand, and after a transaction that rolled back. The portfolio and the start page read them."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from engine.clock import utcnow
from engine.errors import NotFoundError
from engine.persistence import Case, CaseTally, ModelVersion, Pathway, TaskIndexRow
from engine.persistence.database import begin_write
from engine.services import cancel_case, complete_task, resume_case, suspend_case
from engine.services.overview import overview
from engine.services.portfolio import portfolio
from engine.services.reminders import set_task_due
from tests.factories import do, form_data, start_skane, start_vgr, task_row, walk_vgr_to_units


def _counted(s: Session) -> dict[tuple[int, int, str, str], int]:
    rows = s.execute(
        select(Case.pathway_id, Case.region_id, Case.status, Case.phase, func.count()).group_by(
            Case.pathway_id, Case.region_id, Case.status, Case.phase
        )
    )
    return {(p or 0, r or 0, st, ph or ""): n for p, r, st, ph, n in rows}


def _tallied(s: Session) -> dict[tuple[int, int, str, str], int]:
    rows = s.execute(select(CaseTally.pathway_id, CaseTally.region_id, CaseTally.status, CaseTally.phase, CaseTally.n))
    return {(p, r, st, ph): n for p, r, st, ph, n in rows if n != 0}


def _earliest_due_right(s: Session) -> None:
    for case_id, stored in s.execute(select(Case.id, Case.earliest_due_at)):
        wanted = s.scalar(
            select(func.min(TaskIndexRow.due_at)).where(TaskIndexRow.case_id == case_id, TaskIndexRow.kind == "user")
        )
        assert stored == wanted, case_id


def test_the_tallies_follow_every_change_of_a_case(published: Session) -> None:
    s = published
    pathways = list(s.scalars(select(Pathway.id).order_by(Pathway.id).limit(2)))
    # Started: counted as running without a phase, under their pathway and region.
    first, team, _units = start_vgr(s, units=1, prefix="a", pathway_id=pathways[0])
    second, team2, _ = start_vgr(s, units=1, prefix="b", pathway_id=pathways[1])
    third, team3, _ = start_skane(s, units=1, prefix="c")
    s.commit()
    assert _tallied(s) == _counted(s) and sum(_tallied(s).values()) == 3
    # A phase set by the workflow (VGR's "planering pågår" and "introducerad").
    walk_vgr_to_units(s, team, first)
    assert s.get(Case, first).phase is not None  # type: ignore[union-attr]
    assert _tallied(s) == _counted(s)
    # Paused, resumed, paused again, cancelled.
    suspend_case(s, team2.coordinator, second, "Paus")
    s.commit()
    assert _tallied(s) == _counted(s)
    resume_case(s, team2.coordinator, second, "Vidare")
    suspend_case(s, team2.coordinator, second, "Paus igen")
    cancel_case(s, team3.coordinator, third, "Ersatt")
    s.commit()
    assert _tallied(s) == _counted(s)
    counted = _counted(s)
    assert counted[(pathways[1], s.get(Case, second).region_id, "suspended", "")] == 1  # type: ignore[union-attr]
    # By hand, outside the services: a moved pathway, a case inserted and deleted again.
    s.execute(update(Case).where(Case.id == first).values(pathway_id=pathways[1], region_id=None))
    version = s.scalar(select(ModelVersion.id).limit(1))
    now = utcnow()
    s.execute(insert(Case).values(id=999_001, model_version_id=version, process_id="x", title="Handgjort",
                                  status="completed", phase="uppfoljning", created_at=now, updated_at=now, state=""))  # fmt: skip
    s.commit()
    assert _tallied(s) == _counted(s) and _counted(s)[(0, 0, "completed", "uppfoljning")] == 1
    s.execute(delete(Case).where(Case.id == 999_001))
    s.commit()
    assert _tallied(s) == _counted(s)
    # A change rolled back takes its counts with it.
    s.execute(update(Case).where(Case.id == second).values(status="running", phase="introducerad"))
    s.rollback()
    assert _tallied(s) == _counted(s) and sum(_tallied(s).values()) == 3


def test_the_start_page_and_the_portfolio_count_what_the_cases_hold(published: Session) -> None:
    s = published
    first, team, _units = start_vgr(s, units=1, prefix="a")
    second, team2, _ = start_vgr(s, units=1, prefix="b")
    walk_vgr_to_units(s, team, first)
    suspend_case(s, team2.coordinator, second, "Paus")
    s.commit()
    figures = overview(s)
    running_phase = s.get(Case, first).phase  # type: ignore[union-attr]
    assert figures.cases_by_status == {"running": 1, "suspended": 1}
    assert figures.cases_by_phase == {running_phase: 1}
    shown = portfolio(s, team.coordinator)
    assert [r.case_id for r in shown.rows] == [first, second]  # nothing late: running before paused
    matrix = shown.matrix
    assert sorted(label for cell in matrix.values() for label in cell) == sorted([running_phase, "suspended"])
    # The tallies are what the counts show: a wrong tally would show (so they are read, not counted).
    s.execute(text("UPDATE case_tallies SET n = n + 5 WHERE status = 'suspended'"))
    assert overview(s).cases_by_status["suspended"] == 6
    assert portfolio(s, team.coordinator).total == 7
    s.rollback()


def test_each_case_keeps_its_earliest_due_date_with_its_task_index(published: Session) -> None:
    s = published
    first, team, _units = start_vgr(s, units=2, prefix="a")
    second, team2, _ = start_vgr(s, units=1, prefix="b")
    s.commit()
    _earliest_due_right(s)
    assert s.get(Case, first).earliest_due_at is not None  # type: ignore[union-attr]
    walk_vgr_to_units(s, team, first)  # tasks done, new ones ready (one per unit)
    _earliest_due_right(s)
    # A coordinator's new due date moves it (earlier and later).
    rows = list(s.scalars(select(TaskIndexRow).where(TaskIndexRow.case_id == first, TaskIndexRow.kind == "user")))
    assert len(rows) == 2
    late = utcnow() - timedelta(days=3)
    set_task_due(s, team.coordinator, rows[0].task_id, late)
    s.commit()
    assert s.get(Case, first).earliest_due_at == late  # type: ignore[union-attr]
    set_task_due(s, team.coordinator, rows[0].task_id, late + timedelta(days=400))
    s.commit()
    _earliest_due_right(s)
    assert s.get(Case, first).earliest_due_at < late + timedelta(days=400)  # type: ignore[operator,union-attr]
    # A cancelled case has no open task and no due date; the portfolio lists it no more.
    set_task_due(s, team2.coordinator, s.scalars(select(TaskIndexRow.task_id).where(TaskIndexRow.case_id == second,
                 TaskIndexRow.kind == "user")).one(), late)  # fmt: skip
    s.commit()
    assert [r.case_id for r in portfolio(s, team.coordinator, attention_only=True).rows] == [second]
    cancel_case(s, team2.coordinator, second, "Ersatt")
    s.commit()
    assert s.get(Case, second).earliest_due_at is None  # type: ignore[union-attr]
    _earliest_due_right(s)
    assert portfolio(s, team.coordinator, attention_only=True).rows == []
    # Completing a task moves it with the index, in the completion's own update.
    do(s, team, first, "step_06_local_anchoring", unit=rows[0].unit_id)
    _earliest_due_right(s)


def test_a_hand_set_due_date_waits_for_a_completion_of_the_same_case(
    published: Session, session_factory: sessionmaker[Session]
) -> None:
    # A due date is set under the case's lock, as a completion is made: set while the task is being
    # completed, it waits for the completion and then finds the task gone (it would otherwise
    # compute the case's earliest due date from rows the completion is replacing).
    s = published
    case_id, team, _units = start_vgr(s, units=1)
    s.commit()
    row = task_row(s, case_id, "step_01_consultation")
    task_id, data, doer = row.task_id, form_data(s, case_id, row), team.for_task(row)
    s.commit()  # no read transaction left open (SQLite: it could not write after the others)
    completing = session_factory()
    begin_write(completing)
    complete_task(completing, doer, task_id, data)  # holds the case's lock until it commits
    outcome: list[BaseException | None] = []

    def set_due() -> None:
        with session_factory() as other:
            try:
                begin_write(other)
                set_task_due(other, team.coordinator, task_id, utcnow() + timedelta(days=3))
                other.commit()
                outcome.append(None)
            except BaseException as err:  # noqa: BLE001 — the outcome is what the test looks at
                outcome.append(err)

    setter = threading.Thread(target=set_due)
    setter.start()
    time.sleep(0.5)
    assert setter.is_alive() and outcome == []  # waiting for the completion's lock
    completing.commit()
    completing.close()
    setter.join(10)
    assert len(outcome) == 1 and isinstance(outcome[0], NotFoundError)
    if s.get_bind().dialect.name == "postgresql":  # SQLite's writer waits already at its BEGIN
        assert "just utförts" in str(outcome[0])
    with pytest.raises(NotFoundError):  # and afterwards, plainly
        set_task_due(s, team.coordinator, task_id, utcnow())
    s.rollback()
    _earliest_due_right(s)
