"""Reminders and escalations of task deadlines: finding what is due, sending one stage of one
task (in-app notification + e-mail into the outbox, in the transaction that records it as sent),
changing a due date, and listing what is coming up."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.orm import Session

from engine.clock import utcnow
from engine.errors import NotFoundError, PermissionDeniedError, ValidationError
from engine.persistence import Case, CaseParticipant, Notification, OutboxMessage, Reminder, TaskIndexRow, User
from engine.persistence.cases import TASK_INDEX
from engine.reminders import due_stage, next_stage, schedule
from engine.services.access import COORDINATOR_ROLE, case_roles
from engine.services.actors import Actor
from engine.services.audit import audit_row, write_audit
from engine.services.case_store import notify_due_change, refresh_earliest_due
from engine.services.versions import load_version
from engine.workdays import format_date_sv


@dataclass(frozen=True)
class Upcoming:
    """Something due in a case: a timer, a reminder or an escalation."""

    case_id: int
    case_title: str
    kind: str  # timer | reminder | escalation | deadline
    name: str
    task_id: str | None
    at: datetime


def due_reminder_task_ids(session: Session, now: datetime | None = None, limit: int = 500) -> list[str]:
    """Ready tasks of running cases whose next reminder or escalation is due."""
    now = now or utcnow()
    return list(
        session.scalars(
            select(TaskIndexRow.task_id)
            .join(Case, Case.id == TaskIndexRow.case_id)
            .where(TaskIndexRow.next_reminder_at <= now, TaskIndexRow.state == "ready", Case.status == "running")
            .order_by(TaskIndexRow.next_reminder_at, TaskIndexRow.id)
            .limit(limit)
        )
    )


def lock_case_row(session: Session, case_id: int) -> Case | None:
    """Take the case's row lock without loading its workflow (PostgreSQL: FOR UPDATE; SQLite's
    write transaction is exclusive already)."""
    return session.scalar(select(Case).where(Case.id == case_id).with_for_update())


def _recipients(session: Session, row: TaskIndexRow, kind: str) -> list[User]:
    cp = CaseParticipant
    if kind == "reminder" and row.assignee_id is not None:
        ids = [row.assignee_id]
    else:
        holders = (
            select(cp.user_id).where(cp.case_id == row.case_id, cp.role_code == row.lane,
                                     or_(cp.unit_id.is_(None), cp.unit_id == row.unit_id))
            if kind == "reminder"
            else select(cp.user_id).where(cp.case_id == row.case_id, cp.role_code == COORDINATOR_ROLE)
        )  # fmt: skip
        ids = list(dict.fromkeys(session.scalars(holders)))
        if not ids and kind == "reminder":  # nobody holds the role: the coordinators must know
            ids = list(
                session.scalars(select(cp.user_id).where(cp.case_id == row.case_id, cp.role_code == COORDINATOR_ROLE))
            )
        if not ids:  # nobody coordinates the case either: the administrators
            ids = list(session.scalars(select(User.id).where(User.system_role == "admin", User.active.is_(True))))
    return list(session.scalars(select(User).where(User.id.in_(ids), User.active.is_(True)).order_by(User.id)))


def _message(kind: str, offset: str, row: TaskIndexRow, case_title: str, superseded: int, link: str) -> tuple[str, str]:
    due = format_date_sv(row.due_at) if row.due_at else "–"
    if kind == "escalation":
        subject = f"Försenad uppgift: {row.name} – {case_title}"
        lead = f"Uppgiften \u201d{row.name}\u201d i \u201d{case_title}\u201d skulle ha varit klar {due} och är inte klar än."
    elif offset in ("PT0S", "P0D"):
        subject = f"Idag: {row.name} – {case_title}"
        lead = f"Uppgiften \u201d{row.name}\u201d i \u201d{case_title}\u201d ska vara klar i dag, {due}."
    else:
        subject = f"Påminnelse: {row.name} ska vara klar {due}"
        lead = f"Uppgiften \u201d{row.name}\u201d i \u201d{case_title}\u201d ska vara klar {due}."
    note = (
        "\n\nTidigare påminnelser om uppgiften kunde inte skickas i tid; det här meddelandet ersätter dem."
        if superseded
        else ""
    )
    body = f"Hej!\n\n{lead}{note}\n\nÖppna uppgiften: {link}\n\nVänliga hälsningar\nInfora"
    return subject, body


def send_due_reminder(session: Session, task_id: str, base_url: str, now: datetime | None = None) -> bool:
    """Send the due reminder (or escalation) of one task, if it is still due: one transaction,
    under the case lock. Stages that fell due together (downtime) become one message. Returns
    whether anything was sent; a second scheduler finds nothing left to do."""
    now = now or utcnow()
    case_id = session.scalar(select(TaskIndexRow.case_id).where(TaskIndexRow.task_id == task_id))
    if case_id is None:
        return False
    case = lock_case_row(session, case_id)
    row = session.scalar(
        select(TaskIndexRow).where(TaskIndexRow.task_id == task_id).execution_options(populate_existing=True)
    )
    if case is None or row is None or case.status != "running" or row.due_at is None:
        return False
    if row.next_reminder_at is None or row.next_reminder_at > now:
        return False
    policy = load_version(session, case.model_version_id).reminder_policy
    stages = schedule(row.due_at, policy)
    found = due_stage(stages, row.reminder_stage, now)
    upcoming = next_stage(stages, found[0].number if found else row.reminder_stage, now)
    if found is not None:
        stage, superseded = found
        recipients = _recipients(session, row, stage.kind)
        reminder = Reminder(case_id=case.id, task_id=task_id, kind=stage.kind, stage=stage.number, planned_at=stage.at,
                            sent_at=now, superseded=superseded, recipient_ids=[u.id for u in recipients])  # fmt: skip
        session.add(reminder)
        session.flush()  # the unique (task, stage) constraint stops a second sender here
        link = f"{base_url.rstrip('/')}/uppgifter/{task_id}"
        subject, body = _message(stage.kind, stage.offset, row, case.title, superseded, link)
        notifications = [
            {"user_id": u.id, "created_at": now, "kind": stage.kind, "title": subject, "body": body, "link": link,
             "case_id": case.id, "task_id": task_id, "read_at": None}
            for u in recipients
        ]  # fmt: skip
        if notifications:
            session.execute(insert(Notification.__table__), notifications)  # type: ignore[arg-type]
        emails = [
            {"created_at": now, "recipient_id": u.id, "to_address": u.email, "subject": subject, "body_text": body,
             "body_html": None, "message_id": f"<infora-{reminder.id}-{u.id}@infora.local>", "case_id": case.id,
             "task_id": task_id, "reminder_id": reminder.id, "status": "pending", "attempts": 0,
             "next_attempt_at": now, "lease_until": None, "last_error": None, "sent_at": None}
            for u in recipients
            if u.email
        ]  # fmt: skip
        if emails:
            session.execute(insert(OutboxMessage.__table__), emails)  # type: ignore[arg-type]
    session.execute(
        update(TASK_INDEX)
        .where(TASK_INDEX.c.task_id == task_id)
        .values(
            reminder_stage=found[0].number if found else row.reminder_stage,
            next_reminder_at=upcoming.at if upcoming else None,
        )
    )
    return found is not None


def set_task_due(session: Session, actor: Actor, task_id: str, due: datetime) -> datetime:
    """Change a ready task's due date (coordinators and admins). Reminders follow the new date;
    stages already in the past are not sent. The change survives every later re-index."""
    task = (TaskIndexRow.task_id == task_id, TaskIndexRow.kind == "user")
    case_id = session.scalar(select(TaskIndexRow.case_id).where(*task))
    if case_id is None:
        raise NotFoundError("Uppgiften finns inte.")
    if not (actor.is_admin or case_roles(session, case_id, actor.user_id).is_coordinator):
        raise PermissionDeniedError("Bara ärendets koordinator kan ändra förfallodatum.")
    if due.tzinfo is None:
        raise ValidationError("Ange en tidpunkt med tidszon.", {"due_at": ["Ogiltig tidpunkt."]})
    # The task is read under the case's lock, as every change of the case is made: a completion of
    # the same case has committed or waits, so the case's earliest due date is computed right.
    case = session.get(Case, case_id, with_for_update=True)
    assert case is not None
    row = session.scalar(select(TaskIndexRow).where(*task).execution_options(populate_existing=True))
    if row is None:
        raise NotFoundError("Uppgiften finns inte längre: den har just utförts.")
    now = utcnow()
    stages = schedule(due, load_version(session, case.model_version_id).reminder_policy)
    done = sum(1 for s in stages if s.at <= now)
    upcoming = next_stage(stages, done, now)
    before = row.due_at
    row.due_at, row.due_overridden = due, True
    row.reminder_stage, row.next_reminder_at = done, upcoming.at if upcoming else None
    write_audit(session, [audit_row(actor, "task_due_changed", case_id=row.case_id, task_id=task_id,
                                    before={"due_at": before.isoformat() if before else None},
                                    after={"due_at": due.isoformat()})])  # fmt: skip
    if upcoming is not None:  # a reminder still to come: the scheduler hears when
        notify_due_change(session, upcoming.at)
    session.flush()
    refresh_earliest_due(session, row.case_id)
    return due


def upcoming(session: Session, actor: Actor, *, case_id: int | None = None, limit: int = 200) -> list[Upcoming]:
    """Timers, reminders and escalations coming up in the actor's coordinated cases (admins: all)."""
    cases = select(Case.id, Case.title).where(Case.status == "running")
    if case_id is not None:
        cases = cases.where(Case.id == case_id)
    if not actor.is_admin:
        cases = cases.where(
            Case.id.in_(select(CaseParticipant.case_id).where(
                CaseParticipant.user_id == actor.user_id, CaseParticipant.role_code == COORDINATOR_ROLE))
        )  # fmt: skip
    visible = {cid: title for cid, title in session.execute(cases)}
    if not visible:
        return []
    items: list[Upcoming] = []
    rows = session.scalars(select(TaskIndexRow).where(TaskIndexRow.case_id.in_(visible)))
    for row in rows:
        title = visible[row.case_id]
        if row.kind == "timer" and row.due_at is not None:
            items.append(Upcoming(row.case_id, title, "timer", row.name, row.task_id, row.due_at))
        if row.kind == "user" and row.due_at is not None:
            items.append(Upcoming(row.case_id, title, "deadline", row.name, row.task_id, row.due_at))
        if row.next_reminder_at is not None:
            policy = load_version(session, session.get(Case, row.case_id).model_version_id).reminder_policy  # type: ignore[union-attr]
            stage = (
                next((s for s in schedule(row.due_at, policy) if s.number == row.reminder_stage + 1), None)
                if row.due_at
                else None
            )
            kind = stage.kind if stage else "reminder"
            items.append(Upcoming(row.case_id, title, kind, row.name, row.task_id, row.next_reminder_at))
    items.sort(key=lambda i: i.at)
    return items[:limit]


def failed_deliveries(session: Session, actor: Actor, limit: int = 200) -> list[OutboxMessage]:
    """E-mails that could not be delivered or are held for lack of an SMTP server (admins)."""
    if not actor.is_admin:
        raise PermissionDeniedError("Bara administratörer ser utskicken.")
    return list(
        session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.status.in_(("failed", "held")))
            .order_by(OutboxMessage.id.desc())
            .limit(limit)
        )
    )


def unread_count(session: Session, user_id: int) -> int:
    """The number of unread in-app notifications of a person."""
    return (
        session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        )
        or 0
    )
