"""Personal access tokens for the JSON API: created and revoked by their owner (in the UI or with the
``infora`` command), shown once, stored as a SHA-256 hash, acting with the owner's permissions.

A token is ``inf_`` followed by 43 random URL-safe characters (256 bits): far beyond guessing, so a
fast hash is enough (as for GitHub's tokens) and a lookup is one indexed equality.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from engine.clock import utcnow
from engine.errors import NotFoundError, PermissionDeniedError, ValidationError
from engine.persistence import ApiToken, User
from engine.persistence.database import Hot, read_rows
from engine.services.actors import Actor
from engine.services.audit import audit_row, write_audit

PREFIX = "inf_"
MAX_TOKENS = 20
MAX_DAYS = 366
# last_used_at is written at most this often per token: not one write per API request.
_TOUCH_EVERY = timedelta(minutes=5)


@dataclass(frozen=True)
class TokenInfo:
    """A token as its owner sees it (never the secret)."""

    id: int
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        """Whether the token still authenticates."""
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > utcnow())


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _info(token: ApiToken) -> TokenInfo:
    return TokenInfo(token.id, token.name, token.prefix, token.created_at, token.expires_at, token.last_used_at,
                     token.revoked_at)  # fmt: skip


def create_token(session: Session, actor: Actor, name: str, days: int | None = 90) -> tuple[TokenInfo, str]:
    """A new token for the actor; returns its info and the secret (shown this once)."""
    if actor.user_id is None:
        raise PermissionDeniedError("Systemet kan inte ha API-nycklar.")
    name = name.strip()
    errors: dict[str, list[str]] = {}
    if not name or len(name) > 100:
        errors["name"] = ["Ge nyckeln ett namn (högst 100 tecken), t.ex. vad den ska användas till."]
    if days is not None and not 1 <= days <= MAX_DAYS:
        errors["days"] = [f"Giltighetstiden ska vara 1–{MAX_DAYS} dagar."]
    active = session.scalars(
        select(ApiToken).where(ApiToken.user_id == actor.user_id, ApiToken.revoked_at.is_(None))
    ).all()
    if len([t for t in active if _info(t).active]) >= MAX_TOKENS:
        errors["name"] = [f"Du har redan {MAX_TOKENS} giltiga nycklar. Återkalla någon först."]
    if errors:
        raise ValidationError("Nyckeln kunde inte skapas.", errors)
    secret = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=actor.user_id, name=name, prefix=secret[: len(PREFIX) + 4], token_hash=_hash(secret),
        expires_at=utcnow() + timedelta(days=days) if days else None,
    )  # fmt: skip
    session.add(token)
    session.flush()
    write_audit(session, [audit_row(actor, "api_token_created", entity="api_token", entity_id=str(token.id),
                                    details={"name": name, "prefix": token.prefix})])  # fmt: skip
    return _info(token), secret


def list_tokens(session: Session, actor: Actor) -> list[TokenInfo]:
    """The actor's tokens, newest first."""
    query = select(ApiToken).where(ApiToken.user_id == actor.user_id).order_by(ApiToken.id.desc())
    return [_info(t) for t in session.scalars(query)]


def revoke_token(session: Session, actor: Actor, token_id: int) -> TokenInfo:
    """Revoke one of the actor's tokens (admins may revoke anyone's)."""
    token = session.get(ApiToken, token_id)
    if token is None or (token.user_id != actor.user_id and not actor.is_admin):
        raise NotFoundError("Nyckeln finns inte.")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        write_audit(session, [audit_row(actor, "api_token_revoked", entity="api_token", entity_id=str(token.id))])
    return _info(token)


def authenticate(session: Session, secret: str) -> Actor | None:
    """The actor a bearer token stands for, or None (unknown, revoked, expired, inactive user)."""
    if not secret.startswith(PREFIX) or len(secret) > 200:
        return None
    row = read_rows(session, _BY_HASH, {"token_hash": _hash(secret)}).one_or_none()
    if row is None:
        return None
    now = utcnow()
    if row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now) or not row.active:
        return None
    if row.last_used_at is None or now - row.last_used_at > _TOUCH_EVERY:
        session.execute(update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=now))
    return Actor(row.user_id, row.username, row.display_name, row.system_role)


# Every API request runs this look-up: the columns it decides on as a plain row (not two ORM
# objects with the password hash), built once.
_BY_HASH = Hot(
    select(
        ApiToken.id,
        ApiToken.revoked_at,
        ApiToken.expires_at,
        ApiToken.last_used_at,
        User.id.label("user_id"),
        User.username,
        User.display_name,
        User.system_role,
        User.active,
    )
    .join(User, User.id == ApiToken.user_id)
    .where(ApiToken.token_hash == bindparam("token_hash"))
)
