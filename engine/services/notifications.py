"""In-app notifications: a person's list, marking them read."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.clock import utcnow
from engine.persistence import Notification
from engine.services.actors import Actor


def list_notifications(session: Session, actor: Actor, limit: int = 100) -> list[Notification]:
    """The actor's notifications, newest first."""
    return list(
        session.scalars(
            select(Notification)
            .where(Notification.user_id == actor.user_id)
            .order_by(Notification.created_at.desc(), Notification.id.desc())
            .limit(limit)
        )
    )


def mark_read(session: Session, actor: Actor, notification_id: int | None = None) -> int:
    """Mark one notification (or all of them) read; only the actor's own. Returns how many."""
    query = update(Notification).where(Notification.user_id == actor.user_id, Notification.read_at.is_(None))
    if notification_id is not None:
        query = query.where(Notification.id == notification_id)
    return int(session.execute(query.values(read_at=utcnow())).rowcount)  # type: ignore[attr-defined]
