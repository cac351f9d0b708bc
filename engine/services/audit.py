"""Writing the audit trail: every change records who, what, when, before and after."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from engine.clock import utcnow
from engine.persistence.cases import AUDIT_EVENTS
from engine.services.actors import Actor


def audit_row(
    actor: Actor,
    action: str,
    *,
    case_id: int | None = None,
    task_id: str | None = None,
    entity: str | None = None,
    entity_id: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One audit event as a row for ``write_audit``."""
    return {
        "at": utcnow(),
        "actor_id": actor.user_id,
        "case_id": case_id,
        "action": action,
        "task_id": task_id,
        "entity": entity,
        "entity_id": entity_id,
        "before": before,
        "after": after,
        "details": details,
    }


def write_audit(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert audit events in one statement."""
    if rows:
        # Core executemany: one statement for any number of events (the ORM's bulk insert would
        # split the batch by which columns are None).
        session.execute(insert(AUDIT_EVENTS), rows)
