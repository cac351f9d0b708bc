"""Who may see and do what, invalid input, conflicts and concurrency — and that a refused request
changes nothing."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from engine.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from engine.persistence import AuditEvent, Case, CaseParticipant, FormSubmission, TaskIndexRow
from engine.persistence.database import begin_write
from engine.services import (
    ParticipantSpec,
    cancel_case,
    claim_task,
    complete_task,
    get_task,
    list_tasks,
    reassign_task,
    resume_case,
    start_case,
    suspend_case,
    unclaim_task,
)
from tests.factories import do, form_data, make_actor, region_units, start_vgr, task_row, walk_vgr_to_units


def _snapshot(session: Session, case_id: int) -> tuple[Any, ...]:
    """Everything a refused request must leave as it was."""
    session.expire_all()
    case = session.get(Case, case_id)
    assert case is not None
    index = session.execute(
        select(TaskIndexRow.task_id, TaskIndexRow.state, TaskIndexRow.assignee_id)
        .where(TaskIndexRow.case_id == case_id)
        .order_by(TaskIndexRow.task_id)
    ).all()
    counts = tuple(
        session.scalar(select(func.count()).select_from(model).where(model.case_id == case_id))
        for model in (FormSubmission, AuditEvent)
    )
    return case.version, case.state, case.status, tuple(index), counts


@pytest.fixture()
def at_units(published: Session) -> tuple[Session, int, Any, list[int]]:
    """A VGR case with two units at step 6 (Lokal förankring, role införandeansvarig), then step 7."""
    s = published
    case_id, team, units = start_vgr(s, units=2)
    s.commit()
    walk_vgr_to_units(s, team, case_id)
    for unit in units:
        do(s, team, case_id, "step_06_local_anchoring", unit=unit)
    return s, case_id, team, units


def test_only_lane_role_holders_see_and_complete(at_units: tuple[Session, int, Any, list[int]]) -> None:
    s, case_id, team, (a, b) = at_units
    row_a = task_row(s, case_id, "step_07_implementation_plan", unit=a)
    staff_a, staff_b = team.by_unit[a], team.by_unit[b]
    assert [t.task_id for t in list_tasks(s, staff_a)] == [row_a.task_id]
    assert row_a.task_id not in {t.task_id for t in list_tasks(s, staff_b)}
    assert list_tasks(s, team.outsider) == []
    assert len(list_tasks(s, team.coordinator)) == 2
    before = _snapshot(s, case_id)
    data = form_data(s, case_id, row_a, {"already_compliant": True})
    for intruder in (team.outsider, staff_b, team.by_role["rpt"]):
        with pytest.raises(PermissionDeniedError):
            get_task(s, intruder, row_a.task_id)
        with pytest.raises(PermissionDeniedError):
            complete_task(s, intruder, row_a.task_id, data)
        s.rollback()
    assert _snapshot(s, case_id) == before
    complete_task(s, staff_a, row_a.task_id, data)
    s.commit()
    assert _snapshot(s, case_id) != before


def test_a_completion_counts_a_role_given_earlier_in_the_same_unit_of_work(
    at_units: tuple[Session, int, Any, list[int]],
) -> None:
    # The completion's reads run on the session's connection (read_rows), past the ORM's autoflush:
    # what the session holds unflushed must still be flushed first, or this role would not count.
    s, case_id, _team, (a, _b) = at_units
    row = task_row(s, case_id, "step_07_implementation_plan", unit=a)
    data = form_data(s, case_id, row, {"already_compliant": True})
    newcomer = make_actor(s, "nykomling")
    s.add(CaseParticipant(case_id=case_id, user_id=newcomer.user_id, role_code="lokal_verksamhet", unit_id=a))
    complete_task(s, newcomer, row.task_id, data)
    s.commit()
    assert s.scalar(select(FormSubmission.submitted_by_id).where(FormSubmission.task_id == row.task_id)) == (
        newcomer.user_id
    )


def test_coordinator_reassigns_and_claims_are_exclusive(at_units: tuple[Session, int, Any, list[int]]) -> None:
    s, case_id, team, (a, _b) = at_units
    row = task_row(s, case_id, "step_07_implementation_plan", unit=a)
    with pytest.raises(PermissionDeniedError):
        reassign_task(s, team.by_unit[a], row.task_id, team.outsider.user_id)
    reassign_task(s, team.coordinator, row.task_id, team.outsider.user_id)
    s.commit()
    assert [t.task_id for t in list_tasks(s, team.outsider)] == [row.task_id]
    # The lane holder still sees it, marked as someone else's, and may not complete it now.
    seen = get_task(s, team.by_unit[a], row.task_id)
    assert seen.assignee_id == team.outsider.user_id
    with pytest.raises(PermissionDeniedError, match="tagen av någon annan"):
        complete_task(s, team.by_unit[a], row.task_id, form_data(s, case_id, row))
    s.rollback()
    with pytest.raises(ConflictError):
        claim_task(s, team.by_unit[a], row.task_id)
    s.rollback()
    unclaim_task(s, team.outsider, row.task_id)
    s.commit()
    assert claim_task(s, team.by_unit[a], row.task_id).assignee_id == team.by_unit[a].user_id
    s.commit()
    complete_task(s, team.by_unit[a], row.task_id, form_data(s, case_id, row, {"already_compliant": True}))
    s.commit()
    actions = s.scalars(
        select(AuditEvent.action).where(AuditEvent.task_id == row.task_id).order_by(AuditEvent.id)
    ).all()
    assert actions == ["task_ready", "task_reassigned", "task_unclaimed", "task_claimed", "task_completed"]


def test_invalid_form_data_gives_field_errors_and_changes_nothing(
    at_units: tuple[Session, int, Any, list[int]],
) -> None:
    s, case_id, team, (a, _b) = at_units
    row = task_row(s, case_id, "step_07_implementation_plan", unit=a)
    before = _snapshot(s, case_id)
    bad = form_data(s, case_id, row)
    del bad["already_compliant"]
    bad["unknown_field"] = 1
    with pytest.raises(ValidationError) as err:
        complete_task(s, team.by_unit[a], row.task_id, bad)
    s.rollback()
    assert err.value.field_errors["already_compliant"] == ["Fältet är obligatoriskt."]
    assert "" in err.value.field_errors  # the unknown field, reported on the form as a whole
    with pytest.raises(ValidationError) as err:
        complete_task(s, team.by_unit[a], row.task_id, {**form_data(s, case_id, row), "already_compliant": "ja"})
    s.rollback()
    assert err.value.field_errors == {"already_compliant": ["Värdet ska vara ja eller nej."]}
    with pytest.raises(ValidationError):
        complete_task(s, team.by_unit[a], row.task_id, ["not", "an", "object"])  # type: ignore[arg-type]
    s.rollback()
    assert _snapshot(s, case_id) == before


def test_completing_twice_or_a_waiting_step_is_a_conflict(published: Session) -> None:
    s = published
    case_id, team, _units = start_vgr(s, units=1)
    s.commit()
    row = task_row(s, case_id, "step_01_consultation")
    data = form_data(s, case_id, row)
    actor = team.by_role["kunskapsstyrning"]
    complete_task(s, actor, row.task_id, data)
    s.commit()
    before = _snapshot(s, case_id)
    with pytest.raises(ConflictError, match="redan klar"):
        complete_task(s, actor, row.task_id, data)
    s.rollback()
    waiting = s.scalars(select(TaskIndexRow).where(TaskIndexRow.case_id == case_id)).one()
    assert waiting.kind == "signal"
    with pytest.raises(ConflictError):
        complete_task(s, actor, waiting.task_id, {})
    s.rollback()
    with pytest.raises(NotFoundError):
        complete_task(s, actor, "00000000-0000-0000-0000-000000000000", {})
    s.rollback()
    with pytest.raises(NotFoundError):
        complete_task(s, actor, "not-a-uuid", {})
    s.rollback()
    assert _snapshot(s, case_id) == before


def test_stale_version_suspended_and_cancelled_cases_are_conflicts(published: Session) -> None:
    s = published
    case_id, team, _units = start_vgr(s, units=1)
    s.commit()
    row = task_row(s, case_id, "step_01_consultation")
    data = form_data(s, case_id, row)
    actor = team.by_role["kunskapsstyrning"]
    version = s.get(Case, case_id).version  # type: ignore[union-attr]
    with pytest.raises(ConflictError, match="ändrats"):
        complete_task(s, actor, row.task_id, data, expected_version=version - 1)
    s.rollback()
    with pytest.raises(PermissionDeniedError):
        suspend_case(s, actor, case_id)
    s.rollback()
    suspend_case(s, team.coordinator, case_id, "Väntar på beslut")
    s.commit()
    with pytest.raises(ConflictError, match="pausat"):
        complete_task(s, actor, row.task_id, data)
    s.rollback()
    assert list_tasks(s, actor) == []
    resume_case(s, team.coordinator, case_id)
    s.commit()
    assert [t.task_id for t in list_tasks(s, actor)] == [row.task_id]
    cancel_case(s, team.coordinator, case_id, "Fel vårdförlopp")
    s.commit()
    assert s.scalar(select(func.count()).select_from(TaskIndexRow).where(TaskIndexRow.case_id == case_id)) == 0
    with pytest.raises(NotFoundError):
        complete_task(s, actor, row.task_id, data)


def _race(session_factory: sessionmaker[Session], jobs: list[Any]) -> list[BaseException | None]:
    """Run jobs in threads, each in its own session and write transaction, all starting together."""
    barrier = threading.Barrier(len(jobs))
    results: list[BaseException | None] = [None] * len(jobs)

    def run(i: int) -> None:
        barrier.wait()
        with session_factory() as session:
            try:
                begin_write(session)
                jobs[i](session)
                session.commit()
            except BaseException as err:  # noqa: BLE001 - the test inspects what each thread got
                session.rollback()
                results[i] = err

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def test_two_sessions_complete_the_same_task_one_wins(
    at_units: tuple[Session, int, Any, list[int]], session_factory: sessionmaker[Session]
) -> None:
    s, case_id, team, (a, _b) = at_units
    row = task_row(s, case_id, "step_07_implementation_plan", unit=a)
    data = form_data(s, case_id, row, {"already_compliant": True})
    actor = team.by_unit[a]
    s.close()
    results = _race(session_factory, [lambda x: complete_task(x, actor, row.task_id, data)] * 2)
    assert sorted(type(r).__name__ for r in results) == ["ConflictError", "NoneType"]
    with session_factory() as check:
        done = check.scalar(
            select(func.count()).select_from(FormSubmission).where(FormSubmission.task_id == row.task_id)
        )
        assert done == 1


def test_two_sessions_complete_different_tasks_of_one_case_no_update_lost(
    at_units: tuple[Session, int, Any, list[int]], session_factory: sessionmaker[Session]
) -> None:
    s, case_id, team, (a, b) = at_units
    rows = [task_row(s, case_id, "step_07_implementation_plan", unit=u) for u in (a, b)]
    data = [form_data(s, case_id, r, {"already_compliant": True}) for r in rows]
    version = s.get(Case, case_id).version  # type: ignore[union-attr]
    s.close()
    jobs = [
        lambda x: complete_task(x, team.by_unit[a], rows[0].task_id, data[0]),
        lambda x: complete_task(x, team.by_unit[b], rows[1].task_id, data[1]),
    ]
    assert _race(session_factory, jobs) == [None, None]
    with session_factory() as check:
        case = check.get(Case, case_id)
        assert case is not None and case.version == version + 2
        ready = sorted(
            check.execute(
                select(TaskIndexRow.bpmn_id, TaskIndexRow.unit_id).where(
                    TaskIndexRow.case_id == case_id, TaskIndexRow.state == "ready"
                )
            ).all()
        )
        assert ready == [("step_09_follow_up", a), ("step_09_follow_up", b)]


def test_start_case_refuses_bad_input_and_stores_nothing(published: Session) -> None:
    s = published
    coordinator = make_actor(s, "koord", "coordinator")
    member = make_actor(s, "medlem")
    region_id, units = region_units(s, "vgr", 2)
    _other_region, other_units = region_units(s, "skane", 1)
    s.commit()
    with pytest.raises(PermissionDeniedError):
        start_case(s, member, process_id="vgr_introduction", title="X", unit_ids=units)
    s.rollback()
    with pytest.raises(ValidationError) as err:
        start_case(
            s, coordinator, process_id="vgr_introduction", title=" ", region_id=region_id,
            unit_ids=[units[0], other_units[0]], cycle_duration="3 månader",
            participants=[ParticipantSpec(member.user_id or 0, "ingen_roll"), ParticipantSpec(999999, "rpt")],
        )  # fmt: skip
    s.rollback()
    assert set(err.value.field_errors) == {
        "title", "unit_ids", "cycle_duration", "participants/1/role", "participants/2/user_id",
    }  # fmt: skip
    with pytest.raises(ValidationError) as err:
        start_case(s, coordinator, process_id="vgr_introduction", title="Inga enheter", region_id=region_id)
    s.rollback()
    assert err.value.field_errors == {"unit_ids": ["Välj minst en enhet som vårdförloppet ska införas i."]}
    with pytest.raises(NotFoundError):
        start_case(s, coordinator, process_id="finns_inte", title="X")
    s.rollback()
    assert s.scalar(select(func.count()).select_from(Case)) == 0
