"""Anonymising a person who has left: the account stays as a pseudonym so the history stays whole.

An introduction's history must keep saying that *someone* in the RPT role approved step 5 on a given
day (patient-safety governance reads it years later), but need not keep saying who once the person
has left. So the account is not deleted: its name, username and e-mail address are replaced by a
pseudonym ("Borttagen användare 17"), and every audit row, form submission, comment and data point
that points at its id now points at the pseudonym. What exists only for the person's own use is
deleted: the password hash, API and calendar tokens, SSO links, unfinished form drafts,
notifications, e-mails not yet sent (and the copies of sent ones), sign-in attempts and lock-out
counts. Tasks the person had claimed go back to everyone holding the task's role.

Audit rows about the account (created, signed in, password changed) keep their event but lose the
identifying values they recorded (username, name, e-mail, IP address). Free text other people wrote
(comments, form answers) is not searched for the name: docs/RETENTION.md says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, Text, and_, delete, func, or_, select, type_coerce, update
from sqlalchemy.orm import Session

from engine.errors import ConflictError, NotFoundError, PermissionDeniedError
from engine.persistence import (
    ApiToken,
    AuditEvent,
    CalendarToken,
    LoginAttempt,
    Notification,
    OutboxMessage,
    TaskDraft,
    TaskIndexRow,
    User,
)
from engine.persistence.base import Base
from engine.services.actors import Actor
from engine.services.audit import audit_row, write_audit

PSEUDONYM = "Borttagen användare {id}"
PSEUDONYM_USERNAME = "borttagen-{id}"
# Keys under which audit rows record who someone is; their values are replaced when they name the
# departed person (or, in rows about the account itself, always).
_IDENTITY_KEYS = ("username", "display_name", "name", "email", "to", "to_address")
_ACCOUNT_ONLY_KEYS = ("ip", "subject", "issuer")


@dataclass(frozen=True)
class AnonymisedUser:
    """What anonymising did.

    Attributes:
        user_id: the account's id (unchanged: the history points at it).
        username: the pseudonymous username now on the account.
        display_name: the pseudonym shown wherever the person's name was.
        removed: rows deleted, by kind.
        tasks_released: claimed tasks given back to their role.
        audit_rows_scrubbed: audit rows whose identifying values were replaced.
    """

    user_id: int
    username: str
    display_name: str
    removed: dict[str, int] = field(default_factory=dict)
    tasks_released: int = 0
    audit_rows_scrubbed: int = 0


def is_anonymised(user: User) -> bool:
    """Whether the account already carries its pseudonym."""
    return user.username == PSEUDONYM_USERNAME.format(id=user.id) and not user.active


def _delete(session: Session, statement: Any) -> int:
    result: Any = session.execute(statement)
    return int(result.rowcount or 0)


def _optional_table(name: str) -> Table | None:
    """A table another part of the schema may add (the SSO links, the lock-out counts): handled when
    its model is loaded, skipped otherwise."""
    return Base.metadata.tables.get(name)


def _scrub(value: Any, names: set[str], replacements: dict[str, str], account_row: bool) -> tuple[Any, bool]:
    """``value`` with identifying values replaced; and whether anything changed."""
    if isinstance(value, dict):
        changed = False
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key in _IDENTITY_KEYS and isinstance(item, str) and (account_row or item in names):
                out[key] = replacements.get(key, "")
                changed = changed or item != out[key]
            elif account_row and key in _ACCOUNT_ONLY_KEYS and item:
                out[key] = ""
                changed = True
            else:
                out[key], sub = _scrub(item, names, replacements, account_row)
                changed = changed or sub
        return out, changed
    if isinstance(value, list):
        items = [_scrub(item, names, replacements, account_row) for item in value]
        return [i for i, _ in items], any(c for _, c in items)
    return value, False


def _scrub_audit(session: Session, user: User, old: dict[str, str], pseudonym: dict[str, str]) -> int:
    names = {v for v in old.values() if v}
    mentions = [
        type_coerce(column, Text).contains(f'"{name}"', autoescape=True)
        for column in (AuditEvent.before, AuditEvent.after, AuditEvent.details)
        for name in names
    ]
    account = and_(AuditEvent.entity == "user", AuditEvent.entity_id == str(user.id))
    replacements = {"username": pseudonym["username"], "display_name": pseudonym["display_name"],
                    "name": pseudonym["display_name"]}  # fmt: skip
    scrubbed = 0
    for event in session.scalars(select(AuditEvent).where(or_(account, *mentions)).order_by(AuditEvent.id)):
        account_row = event.entity == "user" and event.entity_id == str(user.id)
        values: dict[str, Any] = {}
        for column in ("before", "after", "details"):
            new, changed = _scrub(getattr(event, column), names, replacements, account_row)
            if changed:
                values[column] = new
        if values:
            session.execute(update(AuditEvent).where(AuditEvent.id == event.id).values(**values))
            scrubbed += 1
    return scrubbed


def anonymise_user(session: Session, actor: Actor, username: str) -> AnonymisedUser:
    """Replace a departed person's identity by a pseudonym and delete what only they used.

    Admins only. Refused for the last active administrator (nobody could manage Infora after) and
    for an account already anonymised. Audited as ``user_anonymised`` (the event records counts,
    never the old name).

    Raises:
        PermissionDeniedError: the actor is not an admin.
        NotFoundError: no account has that username.
        ConflictError: the last administrator, or already anonymised.
    """
    if not actor.is_admin:
        raise PermissionDeniedError("Bara administratörer kan anonymisera användare.")
    user = session.scalar(select(User).where(User.username == username.strip().lower()).with_for_update())
    if user is None:
        raise NotFoundError(f"Användaren '{username}' finns inte.")
    if is_anonymised(user):
        raise ConflictError("Användaren är redan anonymiserad.")
    if user.system_role == "admin":
        others = session.scalar(
            select(func.count()).select_from(User).where(User.system_role == "admin", User.active, User.id != user.id)
        )
        if not others:
            raise ConflictError("Användaren är den sista administratören. Gör någon annan till administratör först.")

    old = {"username": user.username, "display_name": user.display_name, "email": user.email}
    pseudonym_username = PSEUDONYM_USERNAME.format(id=user.id)
    taken = session.scalar(select(User.id).where(User.username == pseudonym_username, User.id != user.id))
    if taken is not None:
        raise ConflictError(f"Användarnamnet {pseudonym_username} är upptaget av ett annat konto.")
    pseudonym = {"username": pseudonym_username, "display_name": PSEUDONYM.format(id=user.id)}
    before = {"active": user.active, "system_role": user.system_role}

    removed = {
        "api_tokens": _delete(session, delete(ApiToken).where(ApiToken.user_id == user.id)),
        "calendar_tokens": _delete(session, delete(CalendarToken).where(CalendarToken.user_id == user.id)),
        "drafts": _delete(session, delete(TaskDraft).where(TaskDraft.user_id == user.id)),
        "notifications": _delete(session, delete(Notification).where(Notification.user_id == user.id)),
        # A message being handed to the SMTP server right now ("sending") is left to finish; the
        # others, sent ones included, are copies of mail to this person.
        "emails": _delete(
            session,
            delete(OutboxMessage).where(
                or_(
                    OutboxMessage.recipient_id == user.id,
                    and_(OutboxMessage.to_address == old["email"], OutboxMessage.to_address != ""),
                ),
                OutboxMessage.status != "sending",
            ),
        ),
        "login_attempts": _delete(session, delete(LoginAttempt).where(LoginAttempt.username == old["username"])),
    }
    if (locks := _optional_table("account_locks")) is not None:
        removed["account_locks"] = _delete(session, delete(locks).where(locks.c.username == old["username"]))
    if (identities := _optional_table("sso_identities")) is not None:
        removed["sso_identities"] = _delete(session, delete(identities).where(identities.c.user_id == user.id))

    claimed = list(
        session.execute(select(TaskIndexRow.case_id, TaskIndexRow.task_id).where(TaskIndexRow.assignee_id == user.id))
    )
    if claimed:
        session.execute(update(TaskIndexRow).where(TaskIndexRow.assignee_id == user.id).values(assignee_id=None))
    audit = [
        audit_row(actor, "task_unclaimed", case_id=case_id, task_id=task_id, before={"assignee_id": user.id},
                  after={"assignee_id": None}, details={"reason": "user_anonymised"})
        for case_id, task_id in claimed
    ]  # fmt: skip

    user.username = pseudonym["username"]
    user.display_name = pseudonym["display_name"]
    user.email = ""
    user.password_hash = None
    user.active = False
    user.system_role = "member"
    session.flush()
    scrubbed = _scrub_audit(session, user, old, pseudonym)

    audit.append(
        audit_row(
            actor,
            "user_anonymised",
            entity="user",
            entity_id=str(user.id),
            before=before,
            after={**pseudonym, "active": False, "system_role": "member"},
            details={"removed": removed, "tasks_released": len(claimed), "audit_rows_scrubbed": scrubbed},
        )
    )
    write_audit(session, audit)
    return AnonymisedUser(user.id, pseudonym["username"], pseudonym["display_name"], removed, len(claimed), scrubbed)
