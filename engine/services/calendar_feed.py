"""Private calendar feeds (iCalendar): a person subscribes from Outlook with a secret URL and sees
their task deadlines and the ends of the learning loops in their cases. Only a hash of the token is
stored; revoking makes the URL answer 404."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from icalendar import Calendar, Event
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from engine.clock import utcnow
from engine.errors import NotFoundError
from engine.persistence import CalendarToken, Case, CaseParticipant, TaskIndexRow, Unit, User
from engine.services.actors import Actor
from engine.services.audit import audit_row, write_audit
from engine.workdays import STOCKHOLM


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_calendar_token(session: Session, actor: Actor) -> str:
    """A new feed token for the actor (shown once; earlier tokens keep working until revoked)."""
    if actor.user_id is None:
        raise NotFoundError("Systemet har ingen kalender.")
    token = secrets.token_urlsafe(32)
    session.add(CalendarToken(user_id=actor.user_id, token_hash=_hash(token)))
    write_audit(session, [audit_row(actor, "calendar_token_created", entity="user", entity_id=str(actor.user_id))])
    session.flush()
    return token


def revoke_calendar_tokens(session: Session, actor: Actor) -> int:
    """Revoke all of the actor's feed tokens; returns how many."""
    result = session.execute(
        update(CalendarToken)
        .where(CalendarToken.user_id == actor.user_id, CalendarToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    write_audit(session, [audit_row(actor, "calendar_tokens_revoked", entity="user", entity_id=str(actor.user_id))])
    return int(result.rowcount)  # type: ignore[attr-defined]


def calendar_feed(session: Session, token: str, base_url: str) -> bytes:
    """The iCalendar document for a token; NotFoundError for an unknown or revoked one."""
    user = session.scalar(
        select(User)
        .join(CalendarToken, CalendarToken.user_id == User.id)
        .where(CalendarToken.token_hash == _hash(token), CalendarToken.revoked_at.is_(None), User.active.is_(True))
    )
    if user is None:
        raise NotFoundError("Kalendern finns inte.")
    cp = CaseParticipant
    holds = select(cp.id).where(
        cp.case_id == TaskIndexRow.case_id,
        cp.user_id == user.id,
        or_(cp.unit_id.is_(None), cp.unit_id == TaskIndexRow.unit_id),
    )
    mine = or_(
        # deadlines of tasks assigned to the person, or unassigned ones of their role
        and_(TaskIndexRow.kind == "user", or_(
            TaskIndexRow.assignee_id == user.id,
            and_(TaskIndexRow.assignee_id.is_(None), holds.where(cp.role_code == TaskIndexRow.lane).exists()),
        )),
        # ends of the loops (timers) in the cases and units they take part in
        and_(TaskIndexRow.kind == "timer", holds.exists()),
    )  # fmt: skip
    rows = session.execute(
        select(TaskIndexRow, Case.title, Unit.name)
        .join(Case, Case.id == TaskIndexRow.case_id)
        .outerjoin(Unit, Unit.id == TaskIndexRow.unit_id)
        .where(Case.status == "running", TaskIndexRow.due_at.is_not(None), mine)
        .order_by(TaskIndexRow.due_at)
    ).all()
    cal = Calendar()
    cal.add("prodid", "-//Infora//Vårdförlopp//SV")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", f"Infora – {user.display_name}")
    cal.add("x-wr-timezone", "Europe/Stockholm")
    stamp = utcnow()
    for row, case_title, unit_name in rows:
        assert row.due_at is not None
        day = row.due_at.astimezone(STOCKHOLM).date()
        event = Event()
        event.add("uid", f"{row.task_id}@infora")
        event.add("dtstamp", stamp)
        event.add("dtstart", day)
        event.add("dtend", day + timedelta(days=1))
        where = f" ({unit_name})" if unit_name else ""
        if row.kind == "timer":
            event.add("summary", f"Lärandeloopen slutar: {case_title}{where}")
        else:
            event.add("summary", f"Förfaller: {row.name} – {case_title}{where}")
            event.add("url", f"{base_url.rstrip('/')}/uppgifter/{row.task_id}")
        event.add("description", f"{row.name}\n{case_title}{where}")
        cal.add_component(event)
    document: bytes = cal.to_ical()
    return document
