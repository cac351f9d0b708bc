"""Publishing process models: validate, compile, store an immutable content-hashed version."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.errors import InvalidModelError, ModelIssue, NotFoundError
from engine.persistence import ModelVersion, ProcessModel
from engine.services.actors import Actor, require_coordinator
from engine.services.audit import audit_row, write_audit
from engine.services.catalogue import role_lookup
from engine.workflow import compile_bundle
from engine.workflow.validation import NS
from engine.workflow.xml_safety import UnsafeXmlError, parse_bpmn_xml


@dataclass(frozen=True)
class ModelVersionInfo:
    """A published version, as the services return it."""

    id: int
    process_id: str
    name: str
    number: int
    content_hash: str
    status: str
    published_at: datetime
    created: bool


def publish_model_version(
    session: Session,
    actor: Actor,
    process_id: str,
    documents: Mapping[str, bytes],
    forms: Mapping[str, str | bytes | dict[str, Any]],
) -> ModelVersionInfo:
    """Validate and publish ``process_id`` from the given BPMN documents and forms.

    Publishing identical content again returns the existing version (``created`` False).
    Raises InvalidModelError with every problem; nothing is stored then.
    """
    require_coordinator(actor)
    bundle = compile_bundle(process_id, documents, forms, role_lookup(session))
    existing = session.scalar(select(ModelVersion).where(ModelVersion.content_hash == bundle.content_hash))
    if existing is not None:
        return _info(existing, bundle.process_id, created=False)
    model = session.scalar(select(ProcessModel).where(ProcessModel.process_id == process_id))
    if model is None:
        model = ProcessModel(process_id=process_id, name=bundle.name)
        session.add(model)
        session.flush()
    else:
        model.name = bundle.name
    number = (
        session.scalar(select(func.max(ModelVersion.number)).where(ModelVersion.process_model_id == model.id)) or 0
    ) + 1
    version = ModelVersion(
        process_model_id=model.id,
        number=number,
        content_hash=bundle.content_hash,
        status="published",
        bpmn_xml=bundle.main_xml,
        called_documents=bundle.called_documents,
        forms=bundle.forms,
        spec_json=bundle.spec_json,
        catalogue=bundle.model.catalogue(),
        published_by_id=actor.user_id,
    )
    session.add(version)
    session.flush()
    write_audit(
        session,
        [
            audit_row(
                actor,
                "model_published",
                entity="model_version",
                entity_id=str(version.id),
                after={"process_id": process_id, "number": number, "content_hash": bundle.content_hash},
            )
        ],
    )
    return _info(version, process_id, created=True)


def _info(version: ModelVersion, process_id: str, *, created: bool) -> ModelVersionInfo:
    return ModelVersionInfo(
        id=version.id,
        process_id=process_id,
        name=version.catalogue.get("name", process_id),
        number=version.number,
        content_hash=version.content_hash,
        status=version.status,
        published_at=version.published_at,
        created=created,
    )


def read_model_directory(directory: Path) -> tuple[dict[str, bytes], dict[str, str]]:
    """The BPMN documents (``*.bpmn``) and forms (``forms/*.json``) of a model directory."""
    documents = {p.name: p.read_bytes() for p in sorted(directory.glob("*.bpmn"))}
    forms = {p.name: p.read_text(encoding="utf-8") for p in sorted((directory / "forms").glob("*.json"))}
    return documents, forms


def executable_process_ids(documents: Mapping[str, bytes]) -> list[str]:
    """Ids of the executable processes in the documents, in file order."""
    ids: list[str] = []
    for filename, data in documents.items():
        try:
            root = parse_bpmn_xml(data)
        except UnsafeXmlError as err:
            raise InvalidModelError([ModelIssue("invalid_xml", str(err), file=filename)]) from err
        ids.extend(p.get("id") or "" for p in root.iterfind("bpmn:process", NS) if p.get("isExecutable") != "false")
    return ids


def publish_directory(session: Session, actor: Actor, directory: Path) -> list[ModelVersionInfo]:
    """Publish every process of a model directory (the shipped ``bpmn/``), each with what it calls."""
    documents, forms = read_model_directory(directory)
    return [publish_model_version(session, actor, pid, documents, forms) for pid in executable_process_ids(documents)]


def current_version(session: Session, process_id: str) -> ModelVersion:
    """The newest published version of a process; new cases use it."""
    version = session.scalar(
        select(ModelVersion)
        .join(ProcessModel)
        .where(ProcessModel.process_id == process_id, ModelVersion.status == "published")
        .order_by(ModelVersion.number.desc())
        .limit(1)
    )
    if version is None:
        raise NotFoundError(f"Processen '{process_id}' har ingen publicerad version.")
    return version
