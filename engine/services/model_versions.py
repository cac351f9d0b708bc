"""The models page: every process model with its versions (who published each and when, how many
running cases use it), the open draft, the diff between two versions, and retiring a version."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, undefer

from engine.errors import ConflictError, NotFoundError, ValidationError
from engine.persistence import Case, ModelDraft, ModelVersion, ProcessModel, User
from engine.services.actors import Actor, require_coordinator
from engine.services.audit import audit_row, write_audit
from engine.workflow.diff import ModelDiff, diff_models


@dataclass(frozen=True)
class VersionRow:
    """A version as the models page lists it."""

    id: int
    number: int
    status: str
    published_at: datetime
    published_by: str | None
    running_cases: int


@dataclass(frozen=True)
class ModelRow:
    """A process model with its versions (newest first) and its open draft, if any."""

    id: int
    process_id: str
    name: str
    versions: list[VersionRow]
    draft_id: int | None
    draft_issues: int


def model_overview(session: Session, actor: Actor) -> list[ModelRow]:
    """Every model, its versions and open draft (coordinators and admins)."""
    require_coordinator(actor)
    running = dict(
        session.execute(
            select(Case.model_version_id, func.count())
            .where(Case.status.in_(("running", "suspended")))
            .group_by(Case.model_version_id)
        ).all()
    )
    versions: dict[int, list[VersionRow]] = {}
    rows = session.execute(
        select(
            ModelVersion.id,
            ModelVersion.process_model_id,
            ModelVersion.number,
            ModelVersion.status,
            ModelVersion.published_at,
            User.display_name,
        )
        .outerjoin(User, User.id == ModelVersion.published_by_id)
        .order_by(ModelVersion.number.desc())
    )
    for vid, model_id, number, status, at, by in rows:
        versions.setdefault(model_id, []).append(VersionRow(vid, number, status, at, by, int(running.get(vid, 0))))
    drafts = {
        pid: (did, issues)
        for did, pid, issues in session.execute(
            select(ModelDraft.id, ModelDraft.process_id, ModelDraft.issues).where(ModelDraft.status == "open")
        )
    }
    result = [
        ModelRow(
            m.id,
            m.process_id,
            m.name,
            versions.get(m.id, []),
            drafts.get(m.process_id, (None, []))[0],
            len(drafts.get(m.process_id, (None, []))[1] or []),
        )
        for m in session.scalars(select(ProcessModel).order_by(ProcessModel.name))
    ]
    known = {m.process_id for m in result}
    # Imported models not yet published have only a draft.
    result += [
        ModelRow(0, pid, pid, [], did, len(issues or [])) for pid, (did, issues) in drafts.items() if pid not in known
    ]
    return result


def _xml(session: Session, version_id: int) -> tuple[ModelVersion, str]:
    version = session.scalar(
        select(ModelVersion).where(ModelVersion.id == version_id).options(undefer(ModelVersion.bpmn_xml))
    )
    if version is None:
        raise NotFoundError("Versionen finns inte.")
    return version, version.bpmn_xml


def diff_versions(session: Session, actor: Actor, old_id: int, new_id: int) -> ModelDiff:
    """What changed from one version of a model to another (of the same model)."""
    require_coordinator(actor)
    old, old_xml = _xml(session, old_id)
    new, new_xml = _xml(session, new_id)
    if old.process_model_id != new.process_model_id:
        raise ValidationError("Versionerna hör till olika modeller.", {"": ["Jämför två versioner av samma modell."]})
    return diff_models(old_xml.encode(), new_xml.encode())


def diff_draft(session: Session, actor: Actor, draft_id: int) -> ModelDiff:
    """What the draft changes against the version it was made from (all added for a new model)."""
    require_coordinator(actor)
    draft = session.scalar(select(ModelDraft).where(ModelDraft.id == draft_id).options(undefer(ModelDraft.bpmn_xml)))
    if draft is None:
        raise NotFoundError("Utkastet finns inte.")
    base = _xml(session, draft.base_version_id)[1] if draft.base_version_id else None
    empty = '<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"/>'
    return diff_models((base or empty).encode(), draft.bpmn_xml.encode())


def set_version_status(session: Session, actor: Actor, version_id: int, status: str) -> None:
    """Retire a version (new cases no longer start on it; running ones go on) or publish it again."""
    require_coordinator(actor)
    if status not in ("published", "retired"):
        raise ValidationError("Okänd status.", {"status": ["Välj publicerad eller tillbakadragen."]})
    version = session.get(ModelVersion, version_id)
    if version is None:
        raise NotFoundError("Versionen finns inte.")
    if status == "retired":
        others = session.scalar(
            select(func.count())
            .select_from(ModelVersion)
            .where(
                ModelVersion.process_model_id == version.process_model_id,
                ModelVersion.status == "published",
                ModelVersion.id != version.id,
            )
        )
        if not others:
            raise ConflictError("Den sista publicerade versionen kan inte dras tillbaka: nya ärenden behöver en.")
    before = version.status
    version.status = status
    write_audit(session, [audit_row(actor, "model_version_status", entity="model_version", entity_id=str(version.id),
                                    before={"status": before}, after={"status": status})])  # fmt: skip
