"""What the scheduler keeps due and delivers: reminders and escalations of tasks, the e-mail
outbox, in-app notifications, and the private calendar-feed tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.clock import utcnow
from engine.persistence.base import Base, JSONText

OUTBOX_STATUSES = ("pending", "sending", "sent", "failed", "held")


class Reminder(Base):
    """A reminder or escalation that was sent for a task (the schedule itself lives on the task's
    index row as ``next_reminder_at``). One row per task and stage, enforced by a unique constraint:
    two schedulers can never send the same stage twice. ``superseded`` counts earlier stages that
    fell due during downtime and were folded into this one, so a person gets one catch-up message."""

    __tablename__ = "reminders"
    __table_args__ = (UniqueConstraint("task_id", "stage"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    task_id: Mapped[str] = mapped_column(String(36))
    # reminder | escalation
    kind: Mapped[str] = mapped_column(String(20))
    stage: Mapped[int] = mapped_column()
    planned_at: Mapped[datetime] = mapped_column()
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
    superseded: Mapped[int] = mapped_column(default=0)
    recipient_ids: Mapped[list[int]] = mapped_column(JSONText, default=list)


class OutboxMessage(Base):
    """An e-mail to deliver. Written in the transaction that decides to send it; delivered after,
    with retries and back-off; never dropped (``held`` when no SMTP server is configured)."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_next", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    recipient_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    to_address: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text, default=None)
    message_id: Mapped[str] = mapped_column(String(200), unique=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), default=None)
    task_id: Mapped[str | None] = mapped_column(String(36), default=None)
    reminder_id: Mapped[int | None] = mapped_column(ForeignKey("reminders.id"), default=None)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(String(500), default=None)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)


class Notification(Base):
    """An in-app notification for one person."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_read", "user_id", "read_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(30))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str | None] = mapped_column(String(500), default=None)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), default=None)
    task_id: Mapped[str | None] = mapped_column(String(36), default=None)
    read_at: Mapped[datetime | None] = mapped_column(default=None)


class CalendarToken(Base):
    """A private calendar-feed token (only its SHA-256 is stored); revoked tokens stop working."""

    __tablename__ = "calendar_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
