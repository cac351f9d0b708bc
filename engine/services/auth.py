"""Signing in with a local account: password check, rate limiting per account and per address,
and a record of every attempt."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.clock import utcnow
from engine.errors import PermissionDeniedError, TooManyAttemptsError
from engine.persistence import LoginAttempt
from engine.services.actors import Actor
from engine.services.audit import audit_row, write_audit
from engine.services.users import verify_login

WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_ADDRESS = 20


def sign_in(session: Session, username: str, password: str, ip: str = "") -> Actor:
    """The actor for valid credentials. Raises PermissionDeniedError for wrong ones (without telling
    which part was wrong) and TooManyAttemptsError after repeated failures. Every attempt is
    recorded, so the caller must commit even when this raises."""
    username = username.strip().lower()[:80]
    since = utcnow() - WINDOW
    failures = (
        select(func.count()).select_from(LoginAttempt).where(LoginAttempt.at >= since, LoginAttempt.success.is_(False))
    )
    by_account = session.scalar(failures.where(LoginAttempt.username == username)) or 0
    by_address = session.scalar(failures.where(LoginAttempt.ip == ip)) or 0 if ip else 0
    if by_account >= MAX_FAILURES_PER_ACCOUNT or by_address >= MAX_FAILURES_PER_ADDRESS:
        session.add(LoginAttempt(username=username, ip=ip, success=False))
        raise TooManyAttemptsError("För många misslyckade inloggningar. Vänta en kvart och försök igen.")
    user = verify_login(session, username, password)
    session.add(LoginAttempt(username=username, ip=ip, success=user is not None))
    if user is None:
        raise PermissionDeniedError("Fel användarnamn eller lösenord.")
    actor = Actor(user.id, user.username, user.display_name, user.system_role)
    write_audit(session, [audit_row(actor, "signed_in", entity="user", entity_id=str(user.id), details={"ip": ip})])
    return actor
