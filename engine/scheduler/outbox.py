"""Delivering the e-mail outbox: claim a batch (so two schedulers never send the same message),
send each outside any transaction, record the outcome; failures retry with back-off and end as
``failed`` for an administrator to see. With no SMTP server configured nothing is dropped: messages
are ``held`` in the outbox."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from engine.clock import utcnow
from engine.notify.email import DeliveryError, OutgoingEmail, SmtpConfig, send_email
from engine.persistence import OutboxMessage
from engine.persistence.database import unit_of_work

BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2), timedelta(hours=12))
MAX_ATTEMPTS = len(BACKOFF) + 1
LEASE = timedelta(minutes=5)


@dataclass
class DeliveryResult:
    """What one delivery round did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    held: int = 0


def _claim(factory: sessionmaker[Session], now: datetime, batch: int) -> list[int]:
    with unit_of_work(factory) as session:
        ids = list(
            session.scalars(
                select(OutboxMessage.id)
                .where(
                    or_(
                        (OutboxMessage.status == "pending") & (OutboxMessage.next_attempt_at <= now),
                        # a sender that died mid-send: its lease ran out, try again
                        (OutboxMessage.status == "sending") & (OutboxMessage.lease_until <= now),
                    )
                )
                .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
                .limit(batch)
            )
        )
        claimed: list[int] = []
        for message_id in ids:
            result = session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id == message_id,
                    or_(OutboxMessage.status == "pending",
                        (OutboxMessage.status == "sending") & (OutboxMessage.lease_until <= now)),
                )
                .values(status="sending", lease_until=now + LEASE)
            )  # fmt: skip
            if result.rowcount == 1:  # type: ignore[attr-defined]
                claimed.append(message_id)
        return claimed


def deliver_outbox(factory: sessionmaker[Session], smtp: SmtpConfig | None, *, batch: int = 100) -> DeliveryResult:
    """Send what is due in the outbox (or hold it all when no SMTP server is configured)."""
    now = utcnow()
    result = DeliveryResult()
    if smtp is None:
        with unit_of_work(factory) as session:
            held = session.execute(update(OutboxMessage).where(OutboxMessage.status == "pending").values(status="held"))
            result.held = held.rowcount  # type: ignore[attr-defined]
        return result
    for message_id in _claim(factory, now, batch):
        with unit_of_work(factory, write=False) as session:
            message = session.get(OutboxMessage, message_id)
            assert message is not None
            email = OutgoingEmail(to=message.to_address, subject=message.subject, text=message.body_text,
                                  html=message.body_html, message_id=message.message_id)  # fmt: skip
            attempts = message.attempts + 1
        try:
            send_email(smtp, email)
        except DeliveryError as err:
            permanent = err.permanent or attempts >= MAX_ATTEMPTS
            values = {
                "status": "failed" if permanent else "pending",
                "attempts": attempts,
                "last_error": str(err.reason)[:500],
                "lease_until": None,
                "next_attempt_at": utcnow() + BACKOFF[min(attempts, len(BACKOFF)) - 1],
            }
            if permanent:
                result.failed += 1
            else:
                result.retrying += 1
        else:
            values = {"status": "sent", "attempts": attempts, "sent_at": utcnow(), "lease_until": None,
                      "last_error": None}  # fmt: skip
            result.sent += 1
        with unit_of_work(factory) as session:
            session.execute(update(OutboxMessage).where(OutboxMessage.id == message_id).values(**values))
    return result
