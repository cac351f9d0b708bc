"""The lock-out of local accounts (engine/services/auth.py): N failed passwords within the window lock
the account for the lock period, the right password is not even checked meanwhile, an unknown name
is treated exactly like a real one, an administrator can unlock (audited), and a right password or
a quiet window starts the count afresh."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.clock import utcnow
from engine.errors import AccountLockedError, PermissionDeniedError, TooManyAttemptsError
from engine.persistence import AccountLock, AuditEvent, LoginAttempt
from engine.services import SYSTEM_ACTOR
from engine.services.auth import LockoutPolicy, locked_accounts, sign_in, unlock_account
from engine.services.users import set_password
from tests.factories import make_actor

PASSWORD = "ett-langt-losenord"
POLICY = LockoutPolicy(
    max_failures=3, window=timedelta(minutes=10), lock_period=timedelta(minutes=30), max_failures_per_address=50
)


@pytest.fixture()
def eva(session: Session) -> Session:
    make_actor(session, "eva")
    set_password(session, SYSTEM_ACTOR, "eva", PASSWORD)
    session.commit()
    return session


def _fail(session: Session, username: str, times: int, ip: str = "10.0.0.1") -> list[str]:
    outcomes = []
    for _ in range(times):
        try:
            sign_in(session, username, "fel-losenord", ip, POLICY)
            outcomes.append("ok")
        except AccountLockedError:
            outcomes.append("locked")
        except PermissionDeniedError:
            outcomes.append("wrong")
        session.commit()
    return outcomes


def test_repeated_failures_lock_the_account_for_the_period(eva: Session) -> None:
    start = utcnow()
    with time_machine.travel(start, tick=False) as traveller:
        assert _fail(eva, "eva", 4) == ["wrong", "wrong", "wrong", "locked"]
        with pytest.raises(AccountLockedError) as locked:
            sign_in(eva, "eva", PASSWORD, "10.0.0.2", POLICY)  # the right password does not help now
        eva.commit()
        assert locked.value.locked_until == start + POLICY.lock_period
        assert "Kontot är låst" in locked.value.message and locked.value.code == "account_locked"
        assert isinstance(locked.value, TooManyAttemptsError)  # a 429 to the web layer
        assert locked_accounts(eva) == {"eva": start + POLICY.lock_period}
        traveller.shift(POLICY.lock_period - timedelta(seconds=1))
        assert _fail(eva, "eva", 1) == ["locked"]  # attempts during the lock do not extend it
        traveller.shift(timedelta(seconds=2))
        assert sign_in(eva, "eva", PASSWORD, "10.0.0.2", POLICY).username == "eva"
        eva.commit()
        assert locked_accounts(eva) == {}
    attempts = eva.scalars(select(LoginAttempt.success).order_by(LoginAttempt.id)).all()
    assert attempts == [False] * 6 + [True]  # every attempt recorded, refused ones too
    audit = eva.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert audit.count("account_locked") == 1 and audit[-1] == "signed_in"


def test_an_unknown_name_is_locked_like_a_real_one(session: Session) -> None:
    assert _fail(session, "finns-inte", 4) == ["wrong", "wrong", "wrong", "locked"]
    assert "finns-inte" in locked_accounts(session)


def test_failures_spread_out_or_a_right_password_start_afresh(eva: Session) -> None:
    with time_machine.travel(utcnow(), tick=False) as traveller:
        assert _fail(eva, "eva", 2) == ["wrong", "wrong"]
        traveller.shift(POLICY.window + timedelta(seconds=1))  # the first two fall out of the window
        assert _fail(eva, "eva", 2) == ["wrong", "wrong"]
        sign_in(eva, "eva", PASSWORD, "10.0.0.1", POLICY)
        eva.commit()
        assert eva.get(AccountLock, "eva") is None
        assert _fail(eva, "eva", 2) == ["wrong", "wrong"]
        assert locked_accounts(eva) == {}


def test_an_admin_unlocks_an_account_and_the_audit_says_so(eva: Session) -> None:
    admin = make_actor(eva, "admin", "admin")
    member = make_actor(eva, "medlem")
    eva.commit()
    _fail(eva, "eva", 3)
    with pytest.raises(PermissionDeniedError):
        unlock_account(eva, member, "eva")
    assert unlock_account(eva, admin, "Eva ") is True
    eva.commit()
    assert unlock_account(eva, admin, "eva") is False  # not locked any more
    assert sign_in(eva, "eva", PASSWORD, "10.0.0.1", POLICY).username == "eva"
    eva.commit()
    event = eva.scalars(select(AuditEvent).where(AuditEvent.action == "account_unlocked")).one()
    assert event.actor_id == admin.user_id and event.details == {"username": "eva"}
    assert event.before is not None and "locked_until" in event.before


def test_an_address_guessing_many_names_is_stopped(session: Session) -> None:
    policy = LockoutPolicy(max_failures=5, max_failures_per_address=4)
    for name in ("a1", "a2", "a3", "a4"):
        with pytest.raises(PermissionDeniedError):
            sign_in(session, name, "x", "10.9.9.9", policy)
        session.commit()
    with pytest.raises(TooManyAttemptsError) as stopped:
        sign_in(session, "a5", "x", "10.9.9.9", policy)
    assert not isinstance(stopped.value, AccountLockedError)
    session.commit()
    # Single sign-on refusals from the address do not count towards its limit.
    session.add(LoginAttempt(username="", ip="10.8.8.8", success=False, method="oidc"))
    session.commit()
    with pytest.raises(PermissionDeniedError):
        sign_in(session, "b1", "x", "10.8.8.8", LockoutPolicy(max_failures_per_address=1))
    session.commit()
    assert session.scalar(select(func.count()).select_from(AccountLock)) == 5
