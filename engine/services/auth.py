"""Signing in with a local account: password check, a lock-out per account after repeated failed
passwords, a limit per address, and a record of every attempt.

The lock-out counts failures per username typed (``AccountLock``), whether or not an account has that
name, so its message never tells which names exist. A locked account is refused without checking
the password: guessing goes nowhere while the lock lasts. An administrator can lift a lock early.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from engine.clock import utcnow
from engine.errors import AccountLockedError, PermissionDeniedError, TooManyAttemptsError
from engine.persistence import AccountLock, LoginAttempt, User
from engine.services.actors import SYSTEM_ACTOR, Actor
from engine.services.audit import audit_row, write_audit
from engine.services.users import verify_login

PASSWORD = "password"


@dataclass(frozen=True)
class LockoutPolicy:
    """How many failed passwords lock an account, counted over which window, for how long; and how
    many failures one address may make in the window (a guesser trying many names)."""

    max_failures: int = 5
    window: timedelta = timedelta(minutes=15)
    lock_period: timedelta = timedelta(minutes=15)
    max_failures_per_address: int = 20


DEFAULT_POLICY = LockoutPolicy()


def _normalise(username: str) -> str:
    return username.strip().lower()[:80]


LOCKED_MESSAGE = (
    "Kontot är låst efter för många misslyckade inloggningar. Försök igen senare eller be en administratör "
    "låsa upp det."
)


def sign_in(
    session: Session, username: str, password: str, ip: str = "", policy: LockoutPolicy = DEFAULT_POLICY
) -> Actor:
    """The actor for valid credentials. Raises PermissionDeniedError for wrong ones (without telling
    which part was wrong), AccountLockedError while the account is locked (after
    ``policy.max_failures`` failures within ``policy.window``, for ``policy.lock_period``) and
    TooManyAttemptsError when the address made too many failures. Every attempt is recorded, so the
    caller must commit even when this raises."""
    username = _normalise(username)
    now = utcnow()
    lock = session.get(AccountLock, username)
    if lock is not None and lock.locked_until is not None and lock.locked_until > now:
        session.add(LoginAttempt(username=username, ip=ip, success=False, method=PASSWORD))
        raise AccountLockedError(LOCKED_MESSAGE, lock.locked_until)
    if ip:
        by_address = session.scalar(
            select(func.count())
            .select_from(LoginAttempt)
            .where(
                LoginAttempt.ip == ip,
                LoginAttempt.at >= now - policy.window,
                LoginAttempt.success.is_(False),
                LoginAttempt.method == PASSWORD,
            )
        )
        if (by_address or 0) >= policy.max_failures_per_address:
            session.add(LoginAttempt(username=username, ip=ip, success=False, method=PASSWORD))
            raise TooManyAttemptsError("För många misslyckade inloggningar. Vänta en kvart och försök igen.")
    user = verify_login(session, username, password)
    session.add(LoginAttempt(username=username, ip=ip, success=user is not None, method=PASSWORD))
    if user is None:
        _count_failure(session, username, now, policy)
        raise PermissionDeniedError("Fel användarnamn eller lösenord.")
    if lock is not None:
        session.delete(lock)  # a right password starts the count afresh
    actor = Actor(user.id, user.username, user.display_name, user.system_role)
    write_audit(session, [audit_row(actor, "signed_in", entity="user", entity_id=str(user.id), details={"ip": ip})])
    return actor


def _count_failure(session: Session, username: str, now: datetime, policy: LockoutPolicy) -> None:
    """One more failed password for ``username``; locks it at the policy's threshold."""
    # Spent rows (failures out of the window, no running lock) mean nothing: drop them as we go, so
    # the table holds only the names being guessed now.
    session.execute(
        delete(AccountLock).where(
            AccountLock.first_failure_at < now - policy.window,
            or_(AccountLock.locked_until.is_(None), AccountLock.locked_until <= now),
            AccountLock.username != username,
        )
    )
    # Insert-if-missing, then lock the row: two failures at once count twice instead of one of
    # them failing on the primary key (PostgreSQL; SQLite's write transaction already serialises).
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(AccountLock)
        .values(username=username, failures=0, first_failure_at=now)
        .on_conflict_do_nothing(index_elements=["username"])
    )
    lock = session.scalar(
        select(AccountLock)
        .where(AccountLock.username == username)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert lock is not None
    if lock.first_failure_at < now - policy.window or (lock.locked_until is not None and lock.locked_until <= now):
        lock.failures, lock.first_failure_at, lock.locked_until = 0, now, None
    lock.failures += 1
    if lock.failures >= policy.max_failures:
        lock.failures, lock.locked_until = 0, now + policy.lock_period
        user_id = session.scalar(select(User.id).where(User.username == username))
        row = audit_row(
            SYSTEM_ACTOR,
            "account_locked",
            entity="user",
            entity_id=str(user_id) if user_id is not None else None,
            details={"username": username, "until": lock.locked_until.isoformat()},
        )
        write_audit(session, [row])
    session.flush()


def locked_accounts(session: Session) -> dict[str, datetime]:
    """Usernames locked now, with when each lock runs out."""
    rows = session.execute(
        select(AccountLock.username, AccountLock.locked_until).where(AccountLock.locked_until > utcnow())
    )
    return {username: until for username, until in rows if until is not None}


def unlock_account(session: Session, actor: Actor, username: str) -> bool:
    """Lift a lock before it runs out (admins); written to the audit trail. False when the account
    was not locked."""
    if not actor.is_admin:
        raise PermissionDeniedError("Bara administratörer kan låsa upp konton.")
    username = _normalise(username)
    lock = session.get(AccountLock, username)
    if lock is None or lock.locked_until is None or lock.locked_until <= utcnow():
        return False
    until = lock.locked_until
    session.delete(lock)
    user_id = session.scalar(select(User.id).where(User.username == username))
    row = audit_row(
        actor,
        "account_unlocked",
        entity="user",
        entity_id=str(user_id) if user_id is not None else None,
        before={"locked_until": until.isoformat()},
        details={"username": username},
    )
    write_audit(session, [row])
    session.flush()
    return True
