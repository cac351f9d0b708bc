"""Moving running cases to another published version of their model: a dry run that says per case
whether it can move and why not, the move itself (per case: all or nothing), and the way back.

Only coordinators and admins move cases. Each move is one audit event on the case (from and to
version), so moving back is the same operation with the versions swapped, possible as long as the
case has not reached a step the old version lacks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.errors import ConflictError, NotFoundError, ValidationError
from engine.persistence import AuditEvent, Case, ModelVersion, ProcessModel, TaskIndexRow
from engine.services.actors import Actor, require_coordinator
from engine.services.audit import audit_row
from engine.services.case_store import LockedCase, lock_case, save_case
from engine.services.versions import load_version
from engine.workflow.migration import MigrationBlockedError, check_migration, migrate_case

MAX_CASES = 500


@dataclass(frozen=True)
class CaseMove:
    """One case's answer: can it move (dry run) or did it move, and if not, why."""

    case_id: int
    title: str
    from_version: int
    to_version: int
    ok: bool
    reasons: list[str] = field(default_factory=list)


def _target(session: Session, version_id: int) -> tuple[ModelVersion, str]:
    row = session.execute(
        select(ModelVersion, ProcessModel.process_id)
        .join(ProcessModel, ProcessModel.id == ModelVersion.process_model_id)
        .where(ModelVersion.id == version_id)
    ).one_or_none()
    if row is None:
        raise NotFoundError("Versionen finns inte.")
    return row[0], row[1]


def _check_ids(case_ids: list[int]) -> None:
    if not case_ids:
        raise ValidationError("Välj minst ett ärende.", {"case_ids": ["Välj minst ett ärende."]})
    if len(case_ids) > MAX_CASES:
        raise ValidationError("För många ärenden.", {"case_ids": [f"Högst {MAX_CASES} ärenden åt gången."]})


def _blocked(locked: LockedCase, process_id: str, target: ModelVersion) -> list[str]:
    if locked.case.process_id != process_id:
        return ["Ärendet kör en annan process."]
    if locked.case.status not in ("running", "suspended"):
        return ["Ärendet är avslutat."]
    if locked.case.model_version_id == target.id:
        return ["Ärendet använder redan den versionen."]
    return []


def dry_run(session: Session, actor: Actor, case_ids: list[int], version_id: int) -> list[CaseMove]:
    """Whether each case could move to the version, and why not; changes nothing."""
    require_coordinator(actor)
    _check_ids(case_ids)
    target, process_id = _target(session, version_id)
    loaded = load_version(session, target.id)
    answers = []
    for case_id in case_ids:
        locked = lock_case(session, case_id)
        reasons = _blocked(locked, process_id, target) or [
            i.message for i in check_migration(locked.version.model, locked.case.state, loaded.model)
        ]
        answers.append(_answer(session, locked, target, not reasons, reasons))
    return answers


def _answer(session: Session, locked: LockedCase, target: ModelVersion, ok: bool, reasons: list[str]) -> CaseMove:
    number = session.scalar(select(ModelVersion.number).where(ModelVersion.id == locked.case.model_version_id))
    return CaseMove(locked.case.id, locked.case.title, number or 0, target.number, ok, reasons)


def migrate_cases(session: Session, actor: Actor, case_ids: list[int], version_id: int) -> list[CaseMove]:
    """Move each case that can move to the version; the others are left as they are and reported.

    The caller commits once for all: a case that cannot move changes nothing, and the others are
    moved together.
    """
    require_coordinator(actor)
    _check_ids(case_ids)
    target, process_id = _target(session, version_id)
    loaded = load_version(session, target.id)
    answers = []
    for case_id in case_ids:
        locked = lock_case(session, case_id)
        reasons = _blocked(locked, process_id, target)
        if reasons:
            answers.append(_answer(session, locked, target, False, reasons))
            continue
        try:
            moved = migrate_case(locked.version.model, locked.case.state, loaded.model)
        except MigrationBlockedError as err:
            answers.append(_answer(session, locked, target, False, [i.message for i in err.issues]))
            continue
        answer = _answer(session, locked, target, True, [])
        source_id = locked.case.model_version_id
        audit = [
            audit_row(actor, "case_migrated", case_id=case_id, before={"model_version_id": source_id,
                      "number": answer.from_version}, after={"model_version_id": target.id, "number": target.number})
        ]  # fmt: skip
        save_case(session, actor, LockedCase(locked.case, loaded, moved), audit,
                  changes={"model_version_id": target.id})  # fmt: skip
        _refresh_kept_rows(session, case_id, moved, loaded)
        answers.append(answer)
    return answers


def _refresh_kept_rows(session: Session, case_id: int, workflow: object, loaded: object) -> None:
    """Index rows of tasks the move kept get the new version's name, role and form."""
    for task in workflow.human_tasks():  # type: ignore[attr-defined]
        info = task.info
        session.execute(
            update(TaskIndexRow)
            .where(TaskIndexRow.case_id == case_id, TaskIndexRow.task_id == task.task_id)
            .values(name=task.name, lane=info.role if info else None, form=info.form if info else None)
        )


def last_migration(session: Session, case_id: int) -> tuple[int, int] | None:
    """(from version id, to version id) of the case's latest move, for "move back"."""
    event = session.scalar(
        select(AuditEvent)
        .where(AuditEvent.case_id == case_id, AuditEvent.action == "case_migrated")
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )
    if event is None or not event.before or not event.after:
        return None
    return int(event.before["model_version_id"]), int(event.after["model_version_id"])


def undo_migration(session: Session, actor: Actor, case_id: int) -> CaseMove:
    """Move the case back to the version it had before its latest move."""
    require_coordinator(actor)
    case = session.get(Case, case_id)
    if case is None:  # before the history: an unknown case is 404, not "never moved" (409)
        raise NotFoundError("Ärendet finns inte.")
    last = last_migration(session, case_id)
    if last is None:
        raise ConflictError("Ärendet har inte flyttats.")
    if case.model_version_id != last[1]:
        raise ConflictError("Ärendet har ändrats sedan flytten och kan inte flyttas tillbaka härifrån.")
    (answer,) = migrate_cases(session, actor, [case_id], last[0])
    return answer
