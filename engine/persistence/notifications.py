"""What the scheduler keeps due and delivers: reminders and escalations of tasks, the e-mail
outbox, in-app notifications, and the private calendar-feed tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from engine.clock import utcnow
from engine.persistence.base import Base

REMINDER_STATUSES = ("pending", "sent", "superseded", "cancelled")
OUTBOX_STATUSES = ("pending", "sending", "sent", "failed", "held")


class Reminder(Base):
    """One reminder before a task's deadline, or its escalation after it: due at ``due_at``, done
    once. ``stage`` orders the reminders of one task (a later stage supersedes earlier ones that were
    missed during downtime, so a person gets one catch-up message, not a flood)."""

    __tablename__ = "reminders"
    __table_args__ = (Index("ix_reminders_status_due", "status", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    task_id: Mapped[str] = mapped_column(String(36), index=True)
    # reminder | escalation
    kind: Mapped[str] = mapped_column(String(20))
    stage: Mapped[int] = mapped_column()
    offset: Mapped[str] = mapped_column(String(40))
    due_at: Mapped[datetime] = mapped_column()
    status: Mapped[str] = mapped_column(String(20), default="pending")
    processed_at: Mapped[datetime | None] = mapped_column(default=None)


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
