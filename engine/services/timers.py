"""Firing due timers. One case at a time, each under its lock; the scheduler (and tests) call these
directly."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.clock import utcnow
from engine.persistence import Case
from engine.services.actors import SYSTEM_ACTOR
from engine.services.audit import audit_row
from engine.services.case_store import lock_case, save_case


def due_case_ids(session: Session, now: datetime | None = None, limit: int = 1000) -> list[int]:
    """Running cases with a timer due at or before ``now``, earliest first."""
    now = now or utcnow()
    return list(
        session.scalars(
            select(Case.id)
            .where(Case.status == "running", Case.next_timer_at.is_not(None), Case.next_timer_at <= now)
            .order_by(Case.next_timer_at, Case.id)
            .limit(limit)
        )
    )


def fire_case_timers(session: Session, case_id: int) -> bool:
    """Fire the case's due timers and run it on. False when nothing was due (already fired by
    someone else, or the case is no longer running): firing is idempotent under the case lock."""
    locked = lock_case(session, case_id)
    case = locked.case
    now = utcnow()
    if case.status != "running" or case.next_timer_at is None or case.next_timer_at > now:
        return False
    before = case.next_timer_at
    if not locked.workflow.advance_timers():
        # The stored due time was ahead of the library's view (it fires strictly after due):
        # keep the case due so the next pass retries.
        return False
    save_case(
        session,
        SYSTEM_ACTOR,
        locked,
        [audit_row(SYSTEM_ACTOR, "timer_fired", case_id=case_id, details={"due_at": before.isoformat()})],
    )
    return True
