"""Use cases on whole cases: start, signal, suspend, resume, cancel, read, history."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from engine.clock import utcnow
from engine.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from engine.persistence import (
    AuditEvent,
    Case,
    CaseParticipant,
    CaseUnit,
    Pathway,
    Region,
    Role,
    TaskIndexRow,
    Unit,
    User,
)
from engine.persistence.catalogue import Organisation
from engine.services.access import COORDINATOR_ROLE, case_roles, participant_roles
from engine.services.actors import Actor, require_coordinator
from engine.services.audit import audit_row, write_audit
from engine.services.case_store import CaseRow, LockedCase, lock_case, require_running, save_case, update_case
from engine.services.models import current_version
from engine.services.versions import load_version
from engine.workflow import CaseWorkflow
from engine.workflow.expressions import is_iso_literal

DEFAULT_CYCLE_DURATION = "P3M"
DEFAULT_FOLLOW_UP_INTERVAL = "P6M"


@dataclass(frozen=True)
class ParticipantSpec:
    """A person to put in a role of a new case (``unit_id`` None: for the whole case)."""

    user_id: int
    role: str
    unit_id: int | None = None


@dataclass(frozen=True)
class CaseInfo:
    """A case as the services return it."""

    id: int
    title: str
    process_id: str
    model_version_id: int
    pathway_id: int | None
    region_id: int | None
    status: str
    phase: str | None
    version: int
    next_timer_at: datetime | None
    created_at: datetime
    unit_ids: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class HistoryEntry:
    """One line of a case's history."""

    at: datetime
    action: str
    actor_id: int | None
    actor_name: str | None
    task_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    details: dict[str, Any] | None


def case_info(case: Case) -> CaseInfo:
    """The plain view of a case row."""
    return CaseInfo(
        id=case.id,
        title=case.title,
        process_id=case.process_id,
        model_version_id=case.model_version_id,
        pathway_id=case.pathway_id,
        region_id=case.region_id,
        status=case.status,
        phase=case.phase,
        version=case.version,
        next_timer_at=case.next_timer_at,
        created_at=case.created_at,
        unit_ids=[u.unit_id for u in case.units],
    )


def _reloaded(session: Session, case_id: int) -> CaseInfo:
    """The case as stored now (the hot path writes through the Core, so refresh the ORM view)."""
    case = session.get(Case, case_id, populate_existing=True)
    if case is None:
        raise NotFoundError("Ärendet finns inte.")
    return case_info(case)


def start_case(
    session: Session,
    actor: Actor,
    *,
    process_id: str,
    title: str,
    pathway_id: int | None = None,
    region_id: int | None = None,
    unit_ids: Sequence[int] = (),
    participants: Sequence[ParticipantSpec] = (),
    cycle_duration: str = DEFAULT_CYCLE_DURATION,
    follow_up_interval: str = DEFAULT_FOLLOW_UP_INTERVAL,
) -> CaseInfo:
    """Start a case of the newest published version of ``process_id`` and run it to its first waits.

    The actor (a coordinator) becomes the case's coordinator. Raises ValidationError for unknown
    pathway, region, units, users or roles, NotFoundError when the process has no published version.
    """
    require_coordinator(actor)
    errors: dict[str, list[str]] = {}
    title = title.strip()
    if not title:
        errors["title"] = ["Ge ärendet en rubrik."]
    elif len(title) > 300:
        errors["title"] = ["Högst 300 tecken."]
    if pathway_id is not None and session.get(Pathway, pathway_id) is None:
        errors["pathway_id"] = ["Vårdförloppet finns inte."]
    unit_list = list(dict.fromkeys(unit_ids))
    found = (
        session.execute(select(Unit.id, Organisation.region_id).join(Organisation).where(Unit.id.in_(unit_list))).all()
        if unit_list
        else []
    )
    # Units found in the region prove it exists; only without them is the region looked up.
    region_known = bool(found) and all(r.region_id == region_id for r in found)
    if region_id is not None and not region_known and session.get(Region, region_id) is None:
        errors["region_id"] = ["Regionen finns inte."]
    if unit_list:
        missing = set(unit_list) - {r.id for r in found}
        if missing:
            errors["unit_ids"] = [f"Enheterna {sorted(missing)} finns inte."]
        elif region_id is not None and any(r.region_id != region_id for r in found):
            errors["unit_ids"] = ["Alla enheter ska höra till ärendets region."]
    for key, value in (("cycle_duration", cycle_duration), ("follow_up_interval", follow_up_interval)):
        if not (value.startswith("P") and is_iso_literal(value)):
            errors[key] = ["Ange en tidslängd enligt ISO 8601, t.ex. P3M."]
    participant_list = list(dict.fromkeys(participants))
    if actor.user_id is not None and not any(
        p.user_id == actor.user_id and p.role == COORDINATOR_ROLE for p in participant_list
    ):
        participant_list.insert(0, ParticipantSpec(actor.user_id, COORDINATOR_ROLE))
    if participant_list:
        roles = set(session.scalars(select(Role.code)))
        users = set(session.scalars(select(User.id).where(User.id.in_({p.user_id for p in participant_list}))))
        for i, p in enumerate(participant_list):
            if p.role not in roles:
                errors.setdefault(f"participants/{i}/role", []).append(f"Rollen '{p.role}' finns inte.")
            if p.user_id not in users:
                errors.setdefault(f"participants/{i}/user_id", []).append("Användaren finns inte.")
            if p.unit_id is not None and p.unit_id not in unit_list:
                errors.setdefault(f"participants/{i}/unit_id", []).append("Enheten ingår inte i ärendet.")
    version_row = current_version(session, process_id)
    version = load_version(session, version_row.id, version_row.content_hash)
    if "units" in version.model.variables and not unit_list and "unit_ids" not in errors:
        # A multi-instance over no units would skip the whole introduction in silence.
        errors["unit_ids"] = ["Välj minst en enhet som vårdförloppet ska införas i."]
    if errors:
        raise ValidationError("Ärendet kunde inte startas; rätta de markerade fälten.", errors)
    workflow = CaseWorkflow.start(
        version.model,
        {"units": unit_list, "cycle_duration": cycle_duration, "follow_up_interval": follow_up_interval},
    )
    now = utcnow()
    case = Case(
        model_version_id=version_row.id,
        process_id=process_id,
        pathway_id=pathway_id,
        region_id=region_id,
        title=title,
        status="running",
        phase=None,
        created_at=now,
        updated_at=now,
        created_by_id=actor.user_id,
        state="",
    )
    session.add(case)
    session.flush()
    # Units and participants through the Core, one executemany each (the ORM's relationship flush
    # sends one INSERT … RETURNING per row, which was most of a case start's time).
    if unit_list:
        session.execute(insert(CaseUnit), [{"case_id": case.id, "unit_id": u} for u in unit_list])
    if participant_list:
        session.execute(
            insert(CaseParticipant),
            [{"case_id": case.id, "user_id": p.user_id, "role_code": p.role, "unit_id": p.unit_id}
             for p in participant_list],
        )  # fmt: skip
    audit = [
        audit_row(
            actor,
            "case_started",
            case_id=case.id,
            after={
                "process_id": process_id,
                "model_version_id": version_row.id,
                "title": title,
                "unit_ids": unit_list,
                "participants": [[p.user_id, p.role, p.unit_id] for p in participant_list],
            },
        )
    ]
    row = CaseRow(
        id=case.id,
        model_version_id=case.model_version_id,
        process_id=process_id,
        title=title,
        status="running",
        phase=None,
        version=case.version,
        next_timer_at=None,
        completed_at=None,
        state="",
    )
    save_case(session, actor, LockedCase(row, version, workflow), audit, indexed={})
    return CaseInfo(
        id=case.id, title=title, process_id=process_id, model_version_id=version_row.id, pathway_id=pathway_id,
        region_id=region_id, status=row.status, phase=row.phase, version=row.version,
        next_timer_at=row.next_timer_at, created_at=now, unit_ids=list(unit_list),
    )  # fmt: skip


def _coordinated_case(session: Session, actor: Actor, case_id: int) -> LockedCase:
    locked = lock_case(session, case_id)
    if not (actor.is_admin or case_roles(session, case_id, actor.user_id).is_coordinator):
        raise PermissionDeniedError("Bara ärendets koordinator får göra detta.")
    return locked


def suspend_case(session: Session, actor: Actor, case_id: int, reason: str = "") -> CaseInfo:
    """Pause a running case: no task can be completed and no timer fires until it is resumed."""
    locked = _coordinated_case(session, actor, case_id)
    require_running(locked.case)
    return _set_status(session, actor, locked, "suspended", "case_suspended", reason)


def resume_case(session: Session, actor: Actor, case_id: int, reason: str = "") -> CaseInfo:
    """Resume a paused case; timers that fell due meanwhile fire at the next scheduler pass."""
    locked = _coordinated_case(session, actor, case_id)
    if locked.case.status != "suspended":
        raise ConflictError("Ärendet är inte pausat.")
    return _set_status(session, actor, locked, "running", "case_resumed", reason)


def cancel_case(session: Session, actor: Actor, case_id: int, reason: str = "") -> CaseInfo:
    """Cancel a running or paused case for good; its open tasks disappear from every inbox."""
    locked = _coordinated_case(session, actor, case_id)
    if locked.case.status not in ("running", "suspended"):
        raise ConflictError("Ärendet är redan avslutat.")
    info = _set_status(
        session, actor, locked, "cancelled", "case_cancelled", reason, next_timer_at=None, earliest_due_at=None
    )
    session.execute(delete(TaskIndexRow).where(TaskIndexRow.case_id == case_id))
    return info


def _set_status(
    session: Session, actor: Actor, locked: LockedCase, status: str, action: str, reason: str, **more: Any
) -> CaseInfo:
    case = locked.case
    before = case.status
    update_case(session, case, status=status, **more)
    write_audit(
        session,
        [
            audit_row(
                actor,
                action,
                case_id=case.id,
                before={"status": before},
                after={"status": status},
                details={"reason": reason[:1000]} if reason else None,
            )
        ],
    )
    return _reloaded(session, case.id)


def send_signal(session: Session, actor: Actor, case_id: int, name: str, payload: dict[str, Any] | None = None) -> bool:
    """Deliver a signal (e.g. ``godkand_nationellt``) to a case; False when nothing waited for it.

    Any participant of the case may send it; the audit trail records who did.
    """
    locked = lock_case(session, case_id)
    participant_roles(session, actor, case_id)
    require_running(locked.case)
    if name not in locked.version.model.signals and name not in locked.version.model.messages:
        raise ValidationError(f"Processen känner inte till signalen '{name}'.", {"name": ["Okänd signal."]})
    caught = locked.workflow.send_signal(name, payload) or locked.workflow.send_message(name, payload)
    if not caught:
        return False
    save_case(session, actor, locked, [audit_row(actor, "signal_received", case_id=case_id, details={"name": name})])
    return True


def get_case(session: Session, actor: Actor, case_id: int) -> CaseInfo:
    """A case the actor takes part in (admins: any)."""
    case = session.get(Case, case_id)
    if case is None:
        raise NotFoundError("Ärendet finns inte.")
    participant_roles(session, actor, case_id)
    return case_info(case)


def case_history(session: Session, actor: Actor, case_id: int) -> list[HistoryEntry]:
    """Everything that happened in a case, oldest first."""
    get_case(session, actor, case_id)
    rows = session.execute(
        select(AuditEvent, User.display_name)
        .outerjoin(User, User.id == AuditEvent.actor_id)
        .where(AuditEvent.case_id == case_id)
        .order_by(AuditEvent.at, AuditEvent.id)
    ).all()
    return [
        HistoryEntry(
            at=e.at,
            action=e.action,
            actor_id=e.actor_id,
            actor_name=name,
            task_id=e.task_id,
            before=e.before,
            after=e.after,
            details=e.details,
        )
        for e, name in rows
    ]
