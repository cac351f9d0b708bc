"""User accounts: create, change password, verify a login. Passwords are hashed with Argon2id."""

from __future__ import annotations

import re
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from engine.persistence import User
from engine.persistence.users import SYSTEM_ROLES
from engine.services.actors import Actor
from engine.services.audit import audit_row, write_audit

_HASHER = PasswordHasher()
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,79}$")
"""A valid local username (sign-in through single sign-on folds the provider's to one)."""
MIN_PASSWORD_LENGTH = 10


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError("Lösenordet är för kort.", {"password": [f"Minst {MIN_PASSWORD_LENGTH} tecken."]})


def create_user(
    session: Session,
    actor: Actor,
    *,
    username: str,
    display_name: str,
    email: str = "",
    system_role: str = "member",
    password: str | None = None,
    details: dict[str, Any] | None = None,
) -> User:
    """Create an account (admins, or the system during set-up and single sign-on); ``details`` go
    into the audit event (how the account came to be)."""
    errors: dict[str, list[str]] = {}
    if not actor.is_admin:
        raise PermissionDeniedError("Bara administratörer kan skapa användare.")
    username = username.strip().lower()
    if not USERNAME.match(username):
        errors["username"] = ["2–80 tecken: små bokstäver a–z, siffror, punkt, bindestreck, understreck."]
    if not display_name.strip():
        errors["display_name"] = ["Ange ett namn."]
    if system_role not in SYSTEM_ROLES:
        errors["system_role"] = [f"Välj en av {', '.join(SYSTEM_ROLES)}."]
    if email and "@" not in email:
        errors["email"] = ["Ange en giltig e-postadress."]
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        errors["password"] = [f"Minst {MIN_PASSWORD_LENGTH} tecken."]
    if errors:
        raise ValidationError("Användaren kunde inte skapas.", errors)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise ConflictError(f"Användarnamnet '{username}' är upptaget.")
    user = User(
        username=username,
        display_name=display_name.strip(),
        email=email.strip(),
        system_role=system_role,
        password_hash=_HASHER.hash(password) if password else None,
    )
    session.add(user)
    session.flush()
    write_audit(
        session,
        [
            audit_row(
                actor,
                "user_created",
                entity="user",
                entity_id=str(user.id),
                after={"username": username, "system_role": system_role},
                details=details,
            )
        ],
    )
    return user


def set_password(session: Session, actor: Actor, username: str, password: str) -> None:
    """Set a user's password (admins, or the user themself)."""
    user = session.scalar(select(User).where(User.username == username.strip().lower()))
    if user is None:
        raise NotFoundError("Användaren finns inte.")
    if not (actor.is_admin or actor.user_id == user.id):
        raise PermissionDeniedError("Du kan bara byta ditt eget lösenord.")
    _check_password(password)
    user.password_hash = _HASHER.hash(password)
    write_audit(session, [audit_row(actor, "password_changed", entity="user", entity_id=str(user.id))])
    session.flush()


def verify_login(session: Session, username: str, password: str) -> User | None:
    """The active user with this username and password, or None."""
    user = session.scalar(select(User).where(User.username == username.strip().lower()))
    if user is None or not user.active or not user.password_hash:
        _HASHER.hash(password)  # spend the same time, so a missing user is not revealed by timing
        return None
    try:
        _HASHER.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    return user


def list_users(session: Session) -> list[User]:
    """Every account, by username."""
    return list(session.scalars(select(User).order_by(User.username)))


def find_user(session: Session, username: str) -> User:
    """The account with this username, or NotFoundError."""
    user = session.scalar(select(User).where(User.username == username.strip().lower()))
    if user is None:
        raise NotFoundError(f"Användaren '{username}' finns inte.")
    return user
