"""The model workshop's drafts: open a model for editing, save (validated on every save, kept even
with errors), import a file made elsewhere, publish, discard.

A draft is one BPMN document and its forms. It is validated together with the newest published
version of every other model (the processes it calls live there) and with every form those
versions use, so the editor shows exactly what publishing would say. Only coordinators and admins
touch drafts; every save, import, publish and discard is in the audit trail.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, undefer

from engine.clock import utcnow
from engine.errors import ConflictError, InvalidModelError, ModelIssue, NotFoundError, ValidationError
from engine.persistence import ModelDraft, ModelVersion, ProcessModel
from engine.services.actors import Actor, require_coordinator
from engine.services.audit import audit_row, write_audit
from engine.services.catalogue import role_lookup
from engine.services.models import ModelVersionInfo, current_version, executable_process_ids, publish_model_version
from engine.workflow import compile_bundle
from engine.workflow.validation import NS, load_form
from engine.workflow.xml_repair import restore_loop_references
from engine.workflow.xml_safety import MAX_DOCUMENT_BYTES, parse_bpmn_xml

MAX_FORMS = 200


@dataclass(frozen=True)
class DraftView:
    """A draft as the editor shows it."""

    id: int
    process_id: str
    name: str
    bpmn_xml: str
    forms: dict[str, Any]
    issues: list[dict[str, Any]]
    status: str
    base_version_id: int | None
    updated_at: datetime

    @property
    def publishable(self) -> bool:
        """Whether the draft validates cleanly (a draft with errors can be saved, not published)."""
        return not any(i.get("severity", "error") == "error" for i in self.issues)


def _view(draft: ModelDraft) -> DraftView:
    return DraftView(
        draft.id, draft.process_id, draft.name, draft.bpmn_xml, dict(draft.forms or {}), list(draft.issues or []),
        draft.status, draft.base_version_id, draft.updated_at,
    )  # fmt: skip


def _issue_dict(issue: ModelIssue) -> dict[str, Any]:
    return {"code": issue.code, "message": issue.message, "element_id": issue.element_id, "file": issue.file,
            "severity": issue.severity}  # fmt: skip


def _draft(session: Session, draft_id: int, *, open_only: bool = True) -> ModelDraft:
    draft = session.scalar(
        select(ModelDraft)
        .where(ModelDraft.id == draft_id)
        .options(undefer(ModelDraft.bpmn_xml), undefer(ModelDraft.forms))
    )
    if draft is None:
        raise NotFoundError("Utkastet finns inte.")
    if open_only and draft.status != "open":
        raise ConflictError("Utkastet är redan publicerat eller kastat.")
    return draft


def get_draft(session: Session, actor: Actor, draft_id: int) -> DraftView:
    """A draft (coordinators and admins)."""
    require_coordinator(actor)
    return _view(_draft(session, draft_id, open_only=False))


def open_draft(session: Session, actor: Actor, process_id: str) -> DraftView:
    """The model's open draft, or a new one made from its newest published version."""
    require_coordinator(actor)
    existing = session.scalar(
        select(ModelDraft.id).where(ModelDraft.process_id == process_id, ModelDraft.status == "open")
    )
    if existing is not None:
        return _view(_draft(session, existing))
    version = current_version(session, process_id)
    model = session.get(ProcessModel, version.process_model_id)
    draft = ModelDraft(
        process_id=process_id, name=model.name if model else process_id, bpmn_xml=version.bpmn_xml,
        forms=dict(version.forms), issues=[], base_version_id=version.id, created_by_id=actor.user_id,
        updated_by_id=actor.user_id,
    )  # fmt: skip
    session.add(draft)
    session.flush()
    write_audit(session, [audit_row(actor, "model_draft_opened", entity="model_draft", entity_id=str(draft.id),
                                    details={"process_id": process_id, "base_version_id": version.id})])  # fmt: skip
    return _view(draft)


def _parse_forms(forms: Mapping[str, Any]) -> dict[str, Any]:
    """Forms as stored: file name -> parsed JSON Schema. Refuses names and documents that are not forms."""
    if len(forms) > MAX_FORMS:
        raise ValidationError("För många formulär.", {"forms": [f"Högst {MAX_FORMS} formulär."]})
    parsed: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for name, raw in forms.items():
        if not name.endswith(".json") or "/" in name or "\\" in name or len(name) > 120:
            errors[f"forms.{name}"] = ["Formulärets filnamn ska sluta på .json och inte innehålla snedstreck."]
            continue
        schema, error = load_form(name, raw)
        if schema is None:
            errors[f"forms.{name}"] = [f"Formuläret är ingen giltig JSON Schema: {error}"]
            continue
        parsed[name] = schema
    if errors:
        raise ValidationError("Formulären kunde inte läsas.", errors)
    return parsed


def _main_process_id(xml: bytes, wanted: str | None = None) -> str:
    """The process a document is the model of (InvalidModelError when it cannot be told).

    A document may hold several executable processes (a collaboration, or a process together with
    the ones it calls); the model is ``wanted`` when the document has it, else the only executable
    process, else the only one no other process of the document calls.
    """
    if len(xml) > MAX_DOCUMENT_BYTES:
        raise InvalidModelError(
            [ModelIssue("too_large", f"Filen är större än {MAX_DOCUMENT_BYTES // 1024 // 1024} MB.")]
        )
    ids = executable_process_ids({"model.bpmn": xml})
    if wanted is not None and wanted in ids:
        return wanted
    if len(ids) == 1:
        return ids[0]
    called = {c.get("calledElement") for c in parse_bpmn_xml(xml).iterfind(".//bpmn:callActivity", NS)}
    top = [pid for pid in ids if pid not in called]
    if len(top) == 1:
        return top[0]
    listed = ", ".join(ids) or "ingen"
    raise InvalidModelError(
        [
            ModelIssue(
                "process_count",
                f"Dokumentet ska ha en huvudprocess; det har {len(top) or len(ids)} "
                f"körbara processer som ingen annan anropar ({listed}). Dela upp filen, en process per fil.",
            )
        ]
    )


def _context(session: Session, process_id: str) -> tuple[dict[str, bytes], dict[str, Any]]:
    """The newest published documents of every other model and the forms they use."""
    documents: dict[str, bytes] = {}
    forms: dict[str, Any] = {}
    for pid in session.scalars(select(ProcessModel.process_id).where(ProcessModel.process_id != process_id)):
        try:
            version = current_version(session, pid)
        except NotFoundError:
            continue
        documents[f"{pid}.bpmn"] = version.bpmn_xml.encode()
        forms.update(version.forms)
    return documents, forms


def validate_document(
    session: Session, process_id: str, xml: bytes, forms: Mapping[str, Any]
) -> tuple[list[dict[str, Any]], Any]:
    """Every issue publishing would report for the document, and the compiled bundle when none."""
    documents, known_forms = _context(session, process_id)
    documents[f"{process_id}.bpmn"] = xml
    try:
        bundle = compile_bundle(process_id, documents, {**known_forms, **forms}, role_lookup(session))
    except InvalidModelError as err:
        return [_issue_dict(i) for i in err.issues], None
    return [], bundle


def save_draft_document(
    session: Session, actor: Actor, draft_id: int, bpmn_xml: str, forms: Mapping[str, Any] | None = None
) -> DraftView:
    """Save the editor's document (and forms) into the draft and validate it.

    Refused, with nothing stored, when the XML is unsafe, not BPMN, too large, has other than one
    executable process, or names a process id other than the draft's. Validation issues are stored
    with the draft (the editor pins them to shapes); they do not stop the save.
    """
    require_coordinator(actor)
    draft = _draft(session, draft_id)
    xml = bpmn_xml.encode("utf-8")
    process_id = _main_process_id(xml, draft.process_id)
    if process_id != draft.process_id:
        raise InvalidModelError(
            [
                ModelIssue(
                    "process_id_changed",
                    f"Processens id är '{process_id}' men modellen heter '{draft.process_id}'. "
                    "Ett id kan inte bytas: ärendena hittar sin process med det.",
                )
            ]
        )
    parsed = _parse_forms(forms) if forms is not None else dict(draft.forms or {})
    xml = restore_loop_references(xml, draft.bpmn_xml.encode())
    issues, bundle = validate_document(session, draft.process_id, xml, parsed)
    before = {"issues": len(draft.issues or [])}
    draft.bpmn_xml, draft.forms, draft.issues = xml.decode("utf-8"), parsed, issues
    if bundle is not None:
        draft.name = bundle.name
    draft.updated_by_id, draft.updated_at = actor.user_id, utcnow()
    session.flush()
    write_audit(session, [audit_row(actor, "model_draft_saved", entity="model_draft", entity_id=str(draft.id),
                                    before=before, after={"issues": len(issues)},
                                    details={"process_id": draft.process_id})])  # fmt: skip
    return _view(draft)


def import_model(
    session: Session, actor: Actor, bpmn_xml: bytes, forms: Mapping[str, Any], *, into_process_id: str | None = None
) -> DraftView:
    """Start a draft from a file made in Camunda Modeler, bpmn-js or spiff-arena.

    ``into_process_id`` None makes a new model: its process id must not belong to another model.
    Otherwise the file must be that model's process and replaces its open draft's content.
    """
    require_coordinator(actor)
    try:
        text = bpmn_xml.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InvalidModelError([ModelIssue("encoding", "Filen är inte UTF-8-kodad XML.")]) from err
    process_id = _main_process_id(bpmn_xml, into_process_id)
    parsed = _parse_forms(forms)
    exists = session.scalar(select(ProcessModel.id).where(ProcessModel.process_id == process_id)) is not None
    open_new = session.scalar(
        select(ModelDraft.id).where(ModelDraft.process_id == process_id, ModelDraft.status == "open")
    )
    if into_process_id is None and (exists or open_new is not None):
        raise InvalidModelError(
            [
                ModelIssue(
                    "process_id_clash",
                    f"Det finns redan en modell med processens id '{process_id}'. Importera filen som ett "
                    "utkast av den modellen, eller ge processen ett annat id.",
                )
            ]
        )
    if into_process_id is not None and process_id != into_process_id:
        raise InvalidModelError(
            [ModelIssue("process_id_changed", f"Filens process heter '{process_id}', inte '{into_process_id}'.")]
        )
    if into_process_id is not None and exists:
        draft = open_draft(session, actor, process_id)
        return save_draft_document(session, actor, draft.id, text, {**draft.forms, **parsed})
    issues, bundle = validate_document(session, process_id, bpmn_xml, parsed)
    draft_row = ModelDraft(
        process_id=process_id, name=bundle.name if bundle else process_id, bpmn_xml=text, forms=parsed,
        issues=issues, created_by_id=actor.user_id, updated_by_id=actor.user_id,
    )  # fmt: skip
    session.add(draft_row)
    session.flush()
    write_audit(session, [audit_row(actor, "model_imported", entity="model_draft", entity_id=str(draft_row.id),
                                    details={"process_id": process_id, "issues": len(issues)})])  # fmt: skip
    return _view(draft_row)


def publish_draft(session: Session, actor: Actor, draft_id: int) -> ModelVersionInfo:
    """Publish the draft as a new immutable version (InvalidModelError with every issue when it
    does not validate; nothing is stored then)."""
    require_coordinator(actor)
    draft = _draft(session, draft_id)
    documents, known_forms = _context(session, draft.process_id)
    documents[f"{draft.process_id}.bpmn"] = draft.bpmn_xml.encode()
    info = publish_model_version(session, actor, draft.process_id, documents, {**known_forms, **(draft.forms or {})})
    draft.status, draft.published_version_id, draft.issues = "published", info.id, []
    draft.updated_by_id, draft.updated_at = actor.user_id, utcnow()
    session.flush()
    write_audit(session, [audit_row(actor, "model_draft_published", entity="model_draft", entity_id=str(draft.id),
                                    after={"version_id": info.id, "number": info.number})])  # fmt: skip
    return info


def discard_draft(session: Session, actor: Actor, draft_id: int) -> None:
    """Throw the draft away (kept, marked discarded, for the audit trail)."""
    require_coordinator(actor)
    draft = _draft(session, draft_id)
    draft.status, draft.updated_by_id, draft.updated_at = "discarded", actor.user_id, utcnow()
    write_audit(session, [audit_row(actor, "model_draft_discarded", entity="model_draft", entity_id=str(draft.id),
                                    details={"process_id": draft.process_id})])  # fmt: skip


def export_version(session: Session, actor: Actor, version_id: int) -> tuple[str, str, dict[str, Any]]:
    """(process id, BPMN XML, forms) of a published version, for download (coordinators)."""
    require_coordinator(actor)
    version = session.scalar(
        select(ModelVersion)
        .where(ModelVersion.id == version_id)
        .options(undefer(ModelVersion.bpmn_xml), undefer(ModelVersion.forms))
    )
    if version is None:
        raise NotFoundError("Versionen finns inte.")
    model = session.get(ProcessModel, version.process_model_id)
    return (model.process_id if model else "", version.bpmn_xml, dict(version.forms))


def forms_as_text(forms: Mapping[str, Any]) -> dict[str, str]:
    """Forms as the files a download holds (pretty JSON, UTF-8)."""
    return {name: json.dumps(schema, ensure_ascii=False, indent=2) + "\n" for name, schema in forms.items()}
