"""The scheduler: timers fire on time and once, reminders and escalations reach the right people by
e-mail (a real SMTP server) and in the app, on Swedish working days, after downtime and with two
schedulers running by mistake."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
import time_machine
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from engine.errors import PermissionDeniedError
from engine.notify.email import SmtpConfig
from engine.persistence import AuditEvent, Case, Notification, OutboxMessage, Reminder, TaskDraft, TaskIndexRow, User
from engine.scheduler import SchedulerSettings, run_pass
from engine.services import SYSTEM_ACTOR, ParticipantSpec, complete_task, publish_model_version, start_case
from engine.services.reminders import set_task_due, upcoming
from engine.services.task_view import save_draft
from engine.workdays import STOCKHOLM
from tests.bpmn_builder import Process, forms
from tests.factories import do, make_actor, start_vgr, statements_sent, walk_vgr_to_units
from tests.smtp import Inbox

pytestmark = pytest.mark.usefixtures("published")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=STOCKHOLM)  # type: ignore[misc]


def _answer_process(offsets: str, escalate: str = "P1D") -> Process:
    p = Process("svara", name="Svara på remiss")
    p.properties = {"reminderOffsets": offsets, "escalateAfter": escalate}
    p.start()
    p.user_task("answer", "Svara", due="P14D")
    p.end()
    p.chain("start", "answer", "end")
    return p


class World:
    """A published one-task process, its people and a way to start cases at a moment."""

    def __init__(self, session: Session, offsets: str = "P3D, PT0S") -> None:
        self.s = session
        publish_model_version(session, SYSTEM_ACTOR, "svara", {"svara.bpmn": _answer_process(offsets).xml()}, forms())
        self.coordinator = make_actor(session, "koord", "coordinator")
        self.rpt = [make_actor(session, f"rpt{i}") for i in (1, 2)]
        self.outsider = make_actor(session, "utanfor")
        for actor in (self.coordinator, *self.rpt, self.outsider):
            user = session.get(User, actor.user_id)
            assert user is not None
            user.email = f"{actor.username}@example.se"
        session.commit()

    def start(self) -> int:
        case = start_case(
            self.s, self.coordinator, process_id="svara", title="Remiss hjärtsvikt",
            participants=[ParticipantSpec(a.user_id or 0, "rpt") for a in self.rpt],
        )  # fmt: skip
        self.s.commit()
        return case.id


def _pass(session: Session, factory: sessionmaker[Session], smtp: SmtpConfig | None = None) -> None:
    """One scheduler pass; the test's own session first ends its read transaction, so that it sees
    what the pass commits (SQLite WAL readers keep their snapshot)."""
    session.rollback()
    run_pass(factory, SchedulerSettings(smtp=smtp, base_url="https://infora.example.se"))


def _vgr_in_a_learning_loop(session: Session, **kwargs: str) -> int:
    """A one-unit VGR case whose unit has planned and done its first PDSA cycle: the loop timer runs."""
    vgr, team, units = start_vgr(session, units=1, **kwargs)
    session.commit()
    walk_vgr_to_units(session, team, vgr)
    do(session, team, vgr, "step_06_local_anchoring", unit=units[0])
    do(session, team, vgr, "step_07_implementation_plan", {"already_compliant": False}, unit=units[0])
    do(session, team, vgr, "pdsa_plan", unit=units[0])
    do(session, team, vgr, "pdsa_do", unit=units[0])
    return vgr


def test_reminders_and_escalation_reach_the_right_people(
    session: Session, session_factory: sessionmaker[Session], smtp_server: tuple[SmtpConfig, Inbox]
) -> None:
    smtp, inbox = smtp_server
    with time_machine.travel(local(2026, 6, 1, 9, 0), tick=False) as traveller:  # a Monday
        world = World(session)
        case_id = world.start()
        row = session.scalars(select(TaskIndexRow).where(TaskIndexRow.case_id == case_id)).one()
        assert row.due_at == local(2026, 6, 15, 9, 0)
        assert row.next_reminder_at == local(2026, 6, 12, 8, 0)  # 3 days before: Friday
        traveller.move_to(local(2026, 6, 12, 7, 59))
        _pass(session, session_factory, smtp)
        assert inbox.messages == []
        traveller.move_to(local(2026, 6, 12, 8, 0, 30))
        _pass(session, session_factory, smtp)
        assert sorted(m["To"] for m in inbox.messages) == ["rpt1@example.se", "rpt2@example.se"]
        first = inbox.messages[0]
        assert first["Subject"] == "Påminnelse: Svara ska vara klar måndag 15 juni 2026 (v. 25)"
        assert f"https://infora.example.se/uppgifter/{row.task_id}" in first.get_content()
        _pass(session, session_factory, smtp)  # nothing more until the next stage
        assert len(inbox.messages) == 2
        traveller.move_to(local(2026, 6, 15, 8, 1))
        _pass(session, session_factory, smtp)
        assert [m["Subject"] for m in inbox.messages[2:]] == ["Idag: Svara – Remiss hjärtsvikt"] * 2
        traveller.move_to(local(2026, 6, 16, 8, 1))
        _pass(session, session_factory, smtp)
        escalation = inbox.messages[4:]
        assert [m["To"] for m in escalation] == ["koord@example.se"]
        assert escalation[0]["Subject"] == "Försenad uppgift: Svara – Remiss hjärtsvikt"
        in_app = session.scalars(select(Notification.kind).where(Notification.user_id == world.rpt[0].user_id)).all()
        assert in_app == ["reminder", "reminder"]
        assert (
            session.scalar(
                select(func.count()).select_from(Notification).where(Notification.user_id == world.outsider.user_id)
            )
            == 0
        )
        statuses = set(session.scalars(select(OutboxMessage.status)))
        assert statuses == {"sent"}


def test_reminders_on_a_saturday_or_midsommarafton_go_out_the_working_day_before(
    session: Session, session_factory: sessionmaker[Session]
) -> None:
    with time_machine.travel(local(2026, 6, 8, 10, 0), tick=False) as traveller:  # Monday
        world = World(session, offsets="P3D, P2D")
        case_id = world.start()
        row = session.scalars(select(TaskIndexRow).where(TaskIndexRow.case_id == case_id)).one()
        assert row.due_at == local(2026, 6, 22, 10, 0)
        # P3D -> Friday 19th, midsommarafton -> Thursday 18th; P2D -> Saturday 20th -> also the 18th:
        # the same moment, so one stage.
        assert row.next_reminder_at == local(2026, 6, 18, 8, 0)
        traveller.move_to(local(2026, 6, 18, 7, 59))
        _pass(session, session_factory)
        assert session.scalar(select(func.count()).select_from(Reminder)) == 0
        traveller.move_to(local(2026, 6, 18, 8, 1))
        _pass(session, session_factory)
        assert session.scalars(select(Reminder.planned_at)).all() == [local(2026, 6, 18, 8, 0)]


def test_downtime_catch_up_sends_one_message_per_task_and_fires_each_timer_once(
    session: Session, session_factory: sessionmaker[Session], smtp_server: tuple[SmtpConfig, Inbox]
) -> None:
    smtp, inbox = smtp_server
    with time_machine.travel(local(2026, 6, 1, 9, 0), tick=False) as traveller:
        world = World(session)
        cases = [world.start() for _ in range(3)]
        vgr = _vgr_in_a_learning_loop(session, cycle_duration="P1M")
        # The scheduler is down for two months: every stage of every task and the PDSA timer pass.
        traveller.move_to(local(2026, 8, 3, 9, 0))
        _pass(session, session_factory, smtp)
        _pass(session, session_factory, smtp)  # a restart right after: nothing twice
        sent = session.execute(select(Reminder.case_id, Reminder.kind, Reminder.superseded)).all()
        # each task once: its escalation, folding in the two reminders that were missed
        assert sorted(sent) == [(case_id, "escalation", 2) for case_id in cases]
        assert len(inbox.to("koord@example.se")) == len(cases)  # one catch-up escalation per task
        assert all("ersätter dem" in m.get_content() for m in inbox.to("koord@example.se"))
        fired = session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.case_id == vgr, AuditEvent.action == "timer_fired")
        )
        assert fired == 1


def test_two_schedulers_in_parallel_double_nothing(
    session: Session, session_factory: sessionmaker[Session], smtp_server: tuple[SmtpConfig, Inbox]
) -> None:
    smtp, inbox = smtp_server
    with time_machine.travel(local(2026, 6, 1, 9, 0), tick=False) as traveller:
        world = World(session)
        cases = [world.start() for _ in range(6)]
        loops = []
        for i in range(3):
            vgr = _vgr_in_a_learning_loop(session, prefix=f"v{i}", cycle_duration="P1M")
            loops.append(vgr)
        session.close()
        traveller.move_to(local(2026, 7, 6, 9, 0))
        barrier = threading.Barrier(2)
        failures: list[BaseException] = []

        def scheduler() -> None:
            try:
                barrier.wait()
                run_pass(session_factory, SchedulerSettings(smtp=smtp, base_url="https://infora.example.se"))
            except BaseException as err:  # noqa: BLE001
                failures.append(err)

        threads = [threading.Thread(target=scheduler) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    assert failures == []
    with session_factory() as check:
        ids = [m["Message-ID"] for m in inbox.messages]
        assert len(ids) == len(set(ids)) > 0
        per_case = dict(
            check.execute(
                select(AuditEvent.case_id, func.count())
                .where(AuditEvent.action == "timer_fired")
                .group_by(AuditEvent.case_id)
            ).all()
        )
        assert per_case == {vgr: 1 for vgr in loops}
        assert check.scalar(select(func.count()).select_from(Reminder).where(Reminder.case_id.in_(cases))) == len(cases)


def test_a_failed_smtp_delivery_is_retried_and_recorded(
    session: Session, session_factory: sessionmaker[Session], smtp_server: tuple[SmtpConfig, Inbox]
) -> None:
    smtp, inbox = smtp_server
    with time_machine.travel(local(2026, 6, 1, 9, 0), tick=False) as traveller:
        world = World(session)
        world.start()
        inbox.refuse = 451
        traveller.move_to(local(2026, 6, 12, 8, 1))
        _pass(session, session_factory, smtp)
        failed = session.scalars(select(OutboxMessage)).all()
        assert [(m.status, m.attempts) for m in failed] == [("pending", 1), ("pending", 1)]
        assert all("451" in (m.last_error or "") for m in failed)
        inbox.refuse = None
        _pass(session, session_factory, smtp)  # not yet: back-off
        assert inbox.messages == []
        traveller.move_to(local(2026, 6, 12, 8, 3))
        _pass(session, session_factory, smtp)
        session.expire_all()
        assert [(m.status, m.attempts) for m in session.scalars(select(OutboxMessage))] == [("sent", 2), ("sent", 2)]
        assert len(inbox.messages) == 2


def test_without_smtp_messages_are_held_in_the_outbox(session: Session, session_factory: sessionmaker[Session]) -> None:
    with time_machine.travel(local(2026, 6, 1, 9, 0), tick=False) as traveller:
        world = World(session)
        world.start()
        traveller.move_to(local(2026, 6, 12, 8, 1))
        _pass(session, session_factory, None)
        assert set(session.scalars(select(OutboxMessage.status))) == {"held"}


def test_the_pdsa_timer_fires_after_three_months_and_not_before(
    session: Session, session_factory: sessionmaker[Session]
) -> None:
    with time_machine.travel(local(2026, 1, 12, 9, 0), tick=False) as traveller:
        vgr = _vgr_in_a_learning_loop(session)
        # Loop timers count calendar months in UTC (SpiffWorkflow's timer): 08:00 UTC on 12 April,
        # which is 10:00 in Stockholm once summer time has begun.
        due = session.scalar(select(Case.next_timer_at).where(Case.id == vgr))
        assert due == datetime(2026, 4, 12, 8, 0, tzinfo=timezone.utc)
        studies = select(func.count()).select_from(TaskIndexRow).where(TaskIndexRow.bpmn_id == "pdsa_study")
        traveller.move_to(due - timedelta(seconds=1))
        _pass(session, session_factory)
        assert session.scalar(studies) == 0
        traveller.move_to(due + timedelta(seconds=1))
        _pass(session, session_factory)
        assert session.scalar(studies) == 1


def test_a_coordinator_changes_a_due_date_and_sees_what_is_coming(session: Session) -> None:
    with time_machine.travel(local(2026, 6, 1, 9, 0), tick=False):
        world = World(session)
        case_id = world.start()
        row = session.scalars(select(TaskIndexRow).where(TaskIndexRow.case_id == case_id)).one()
        with pytest.raises(PermissionDeniedError):
            set_task_due(session, world.rpt[0], row.task_id, local(2026, 6, 30, 12, 0))
        session.rollback()
        bind = session.get_bind()
        with statements_sent(bind) as sent:
            set_task_due(session, world.coordinator, row.task_id, local(2026, 6, 30, 12, 0))
        notified = [parameters for statement, parameters in sent if "pg_notify" in statement]
        # On PostgreSQL the scheduler hears the first reminder's time; SQLite has no NOTIFY.
        expected_payload = local(2026, 6, 26, 8, 0).astimezone(timezone.utc).isoformat()
        assert [list(p.values()) for p in notified] == (
            [["infora_due", expected_payload]] if bind.dialect.name == "postgresql" else []
        )
        session.commit()
        session.expire_all()
        row = session.scalars(select(TaskIndexRow).where(TaskIndexRow.case_id == case_id)).one()
        assert (row.due_at, row.due_overridden, row.next_reminder_at) == (
            local(2026, 6, 30, 12, 0), True, local(2026, 6, 26, 8, 0),
        )  # fmt: skip
        coming = upcoming(session, world.coordinator)
        assert [(u.kind, u.at) for u in coming] == [
            ("reminder", local(2026, 6, 26, 8, 0)), ("deadline", local(2026, 6, 30, 12, 0)),
        ]  # fmt: skip
        assert upcoming(session, world.rpt[0]) == []


def test_a_pass_sweeps_the_drafts_of_finished_tasks(session: Session, session_factory: sessionmaker[Session]) -> None:
    world = World(session)
    case_id = world.start()
    row = session.scalars(select(TaskIndexRow).where(TaskIndexRow.case_id == case_id)).one()
    other = world.start()
    other_row = session.scalars(select(TaskIndexRow).where(TaskIndexRow.case_id == other)).one()
    save_draft(session, world.rpt[0], row.task_id, {"comment": "halvfärdig"})
    save_draft(session, world.rpt[0], other_row.task_id, {"comment": "pågår"})
    complete_task(session, world.rpt[0], row.task_id, {"comment": "klar"})
    session.commit()
    _pass(session, session_factory)
    assert session.scalars(select(TaskDraft.task_id)).all() == [other_row.task_id]
