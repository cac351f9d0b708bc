"""The running cases of one process model, as the migration page offers them: each with the
version it runs and, when its latest move brought it there, the version it came from (so that it
can be moved back)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.persistence import AuditEvent, Case, ModelVersion
from engine.services.actors import Actor, require_coordinator


@dataclass(frozen=True)
class RunningCase:
    """A running (or paused) case of the model."""

    case_id: int
    title: str
    status: str
    version_id: int
    version_number: int
    moved_from_number: int | None
    """The version number before the case's latest move, while it still runs the version it was
    moved to; None when it was never moved or has been moved on since."""


def running_cases(session: Session, actor: Actor, process_id: str) -> list[RunningCase]:
    """The model's running and paused cases, oldest version first (coordinators and admins)."""
    require_coordinator(actor)
    rows = session.execute(
        select(Case.id, Case.title, Case.status, Case.model_version_id, ModelVersion.number)
        .join(ModelVersion, ModelVersion.id == Case.model_version_id)
        .where(Case.process_id == process_id, Case.status.in_(("running", "suspended")))
        .order_by(ModelVersion.number, Case.id)
    ).all()
    moves: dict[int, AuditEvent] = {}
    if rows:
        # The newest move per case: events come in id order, so later ones overwrite earlier ones.
        for event in session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "case_migrated", AuditEvent.case_id.in_([r.id for r in rows]))
            .order_by(AuditEvent.id)
        ):
            moves[event.case_id or 0] = event
    result = []
    for case_id, title, status, version_id, number in rows:
        last = moves.get(case_id)
        moved_from = None
        if last is not None and last.before and last.after and int(last.after.get("model_version_id", 0)) == version_id:
            moved_from = int(last.before.get("number", 0)) or None
        result.append(RunningCase(case_id, title, status, version_id, number, moved_from))
    return result
