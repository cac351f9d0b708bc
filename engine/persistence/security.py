"""Sign-in security: account lock-outs after repeated failed passwords, and the accounts of an OpenID
Connect provider linked to local users."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.clock import utcnow
from engine.persistence.base import Base


class AccountLock(Base):
    """Failed passwords for one username, and the lock they led to.

    Keyed by the username typed, not by a user id: a name nobody has is counted and locked exactly
    like a real account, so the lock-out does not tell an attacker which names exist. A row whose
    failures are older than the window and whose lock has run out means the same as no row.
    """

    __tablename__ = "account_locks"

    username: Mapped[str] = mapped_column(String(80), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    first_failure_at: Mapped[datetime] = mapped_column(default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(default=None, index=True)


class SsoIdentity(Base):
    """A person's account at an OpenID Connect provider (issuer + subject, which the provider keeps
    stable), linked to the local user it signs in as."""

    __tablename__ = "sso_identities"
    __table_args__ = (
        UniqueConstraint("issuer", "subject"),
        Index("ix_sso_identities_user_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    issuer: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(default=None)
