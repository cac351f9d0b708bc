"""Anonymising a departed user: the identity becomes a pseudonym, what only the person used is
deleted, claimed tasks go back to their role, the history stays whole and points at the pseudonym;
the last administrator is refused; the anonymisation is audited without the old name."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
import time_machine
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from engine.clock import utcnow
from engine.errors import ConflictError, NotFoundError, PermissionDeniedError
from engine.persistence import (
    ApiToken,
    AuditEvent,
    CalendarToken,
    Comment,
    FormSubmission,
    LoginAttempt,
    Notification,
    OutboxMessage,
    TaskDraft,
    TaskIndexRow,
    User,
)
from engine.persistence.base import Base
from engine.services import SYSTEM_ACTOR, case_history, claim_task
from engine.services.anonymise import anonymise_user
from engine.services.auth import sign_in
from engine.services.calendar_feed import create_calendar_token
from engine.services.task_view import add_comment, save_draft
from engine.services.tokens import create_token
from engine.services.users import set_password, verify_login
from tests.factories import do, make_actor, start_vgr, task_row, walk_vgr_to_units

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)
PASSWORD = "ett-langt-losenord"


def _outbox(user: User, status: str, n: int) -> OutboxMessage:
    return OutboxMessage(
        recipient_id=user.id, to_address=user.email, subject="Påminnelse", body_text=f"Hej {user.display_name}",
        message_id=f"<{status}-{n}@infora.test>", status=status,
    )  # fmt: skip


def test_a_departed_user_becomes_a_pseudonym_and_the_history_stays(published: Session) -> None:
    s = published
    with time_machine.travel(T0, tick=False):
        case_id, team, (unit,) = start_vgr(s, units=1)
        s.commit()
        walk_vgr_to_units(s, team, case_id)
        leaver = team.by_unit[unit]
        user = s.get(User, leaver.user_id)
        assert user is not None
        user.email = "lena.lamnar@region.se"
        user.display_name = "Lena Lämnar"
        set_password(s, SYSTEM_ACTOR, leaver.username, PASSWORD)
        s.commit()
        sign_in(s, leaver.username, PASSWORD, "198.51.100.4")
        with pytest.raises(PermissionDeniedError):
            sign_in(s, leaver.username, "fel-losenord-igen", "198.51.100.4")
        s.commit()
        do(s, team, case_id, "step_06_local_anchoring", unit=unit)
        # Her lane's step: a form submission and audit rows by her.
        do(s, team, case_id, "step_07_implementation_plan", {"already_compliant": False}, unit=unit)
        plan = task_row(s, case_id, "pdsa_plan", unit)
        claim_task(s, leaver, plan.task_id)
        save_draft(s, leaver, plan.task_id, {"objective": "Halvfärdig plan"})
        add_comment(s, leaver, case_id, "Jag slutar i mars.")
        create_token(s, leaver, "Rapporter", 30)
        create_calendar_token(s, leaver)
        s.add(Notification(user_id=user.id, kind="reminder", title="Påminnelse", case_id=case_id))
        s.add_all([_outbox(user, "pending", 1), _outbox(user, "held", 2), _outbox(user, "sent", 3)])
        s.add(_outbox(user, "sending", 4))  # being handed to the SMTP server now: left to finish
        sso = Base.metadata.tables.get("sso_identities")
        if sso is not None:  # single sign-on links, when that part of the schema is there
            s.execute(insert(sso).values(user_id=user.id, issuer="https://idp.region.se", subject="abc-123",
                                         created_at=utcnow()))  # fmt: skip
        s.commit()
    own_events = s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.actor_id == user.id))
    submissions = s.scalar(
        select(func.count()).select_from(FormSubmission).where(FormSubmission.submitted_by_id == user.id)
    )
    assert own_events and submissions

    admin = make_actor(s, "it.admin", "admin")
    done = anonymise_user(s, admin, leaver.username)
    s.commit()

    assert (done.user_id, done.username, done.display_name) == (user.id, f"borttagen-{user.id}",
                                                               f"Borttagen användare {user.id}")  # fmt: skip
    s.expire_all()
    user = s.get(User, leaver.user_id)
    assert user is not None
    assert (user.username, user.display_name, user.email) == (done.username, done.display_name, "")
    assert user.password_hash is None and not user.active and user.system_role == "member"
    assert verify_login(s, leaver.username, PASSWORD) is None and verify_login(s, done.username, PASSWORD) is None

    # Deleted: everything only she used.
    for model, column in ((ApiToken, ApiToken.user_id), (CalendarToken, CalendarToken.user_id),
                          (TaskDraft, TaskDraft.user_id), (Notification, Notification.user_id)):  # fmt: skip
        assert s.scalar(select(func.count()).select_from(model).where(column == user.id)) == 0
    assert list(s.scalars(select(OutboxMessage.status).where(OutboxMessage.recipient_id == user.id))) == ["sending"]
    assert s.scalar(select(func.count()).select_from(LoginAttempt).where(LoginAttempt.username == leaver.username)) == 0
    assert done.removed["api_tokens"] == 1 and done.removed["emails"] == 3 and done.removed["login_attempts"] == 2
    if sso is not None:
        assert s.scalar(select(func.count()).select_from(sso).where(sso.c.user_id == user.id)) == 0

    # Her claimed task is back with the role, and that is on record.
    released = s.scalars(select(TaskIndexRow).where(TaskIndexRow.task_id == plan.task_id)).one()
    assert released.assignee_id is None and done.tasks_released == 1
    unclaimed = s.scalars(select(AuditEvent).where(AuditEvent.action == "task_unclaimed")).one()
    assert (unclaimed.actor_id, unclaimed.details) == (admin.user_id, {"reason": "user_anonymised"})

    # Kept: the history, the submissions and the comment, now under the pseudonym.
    assert s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.actor_id == user.id)) == own_events
    assert s.scalar(
        select(func.count()).select_from(FormSubmission).where(FormSubmission.submitted_by_id == user.id)
    ) == submissions  # fmt: skip
    assert s.scalars(select(Comment.user_id).where(Comment.text == "Jag slutar i mars.")).one() == user.id
    names = {e.actor_name for e in case_history(s, admin, case_id) if e.actor_id == user.id}
    assert names == {"Borttagen användare " + str(user.id)}

    # No audit row names her any more (the sign-in's address is gone too).
    audit_text = json.dumps([[e.before, e.after, e.details] for e in s.scalars(select(AuditEvent))], ensure_ascii=False)
    for identifying in (leaver.username, "Lena Lämnar", "lena.lamnar@region.se", "198.51.100.4"):
        assert identifying not in audit_text
    record = s.scalars(select(AuditEvent).where(AuditEvent.action == "user_anonymised")).one()
    assert record.actor_id == admin.user_id and record.entity_id == str(user.id)
    assert record.details is not None and record.details["removed"]["drafts"] == 1
    assert done.audit_rows_scrubbed >= 2  # at least her creation and her sign-in


def test_the_last_administrator_is_refused(session: Session) -> None:
    only = make_actor(session, "ensam.admin", "admin")
    session.commit()
    with pytest.raises(ConflictError, match="sista administratören"):
        anonymise_user(session, SYSTEM_ACTOR, "ensam.admin")
    second = make_actor(session, "andra.admin", "admin")
    done = anonymise_user(session, second, only.username)
    assert done.username == f"borttagen-{only.user_id}"
    # Now the second is the last active one.
    with pytest.raises(ConflictError, match="sista administratören"):
        anonymise_user(session, SYSTEM_ACTOR, "andra.admin")


def test_refusals_change_nothing(session: Session) -> None:
    member = make_actor(session, "vanlig.medarbetare")
    other = make_actor(session, "kollega")
    session.commit()
    with pytest.raises(PermissionDeniedError):
        anonymise_user(session, member, "kollega")
    with pytest.raises(NotFoundError):
        anonymise_user(session, SYSTEM_ACTOR, "finns.inte")
    anonymise_user(session, SYSTEM_ACTOR, "kollega")
    with pytest.raises(ConflictError, match="redan anonymiserad"):
        anonymise_user(session, SYSTEM_ACTOR, f"borttagen-{other.user_id}")
    assert session.scalar(select(User.active).where(User.id == member.user_id)) is True
