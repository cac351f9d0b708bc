"""A whole case as one file: for archiving a finished introduction, handing it to another region,
or answering a request to see what was recorded.

The export is a zip (``infora-arende-<id>.zip``) holding the case's facts, the model version's
diagrams and forms exactly as the case runs them, the history (audit events, comments, form
submissions), the PDSA ramps and cycles, the measures with their data points as CSV in the format
the import reads, and a README saying what each file is. People appear by id, username and name
only (no e-mail addresses).

The same data gives the same bytes: rows are ordered, JSON keys sorted, and every zip entry carries
the time of the case's last change rather than the time of the export. That is also why the audit
event of an export is written outside the case's history (``case_id`` empty, ``entity_id`` the
case): exporting twice must not change what is exported.
"""

from __future__ import annotations

import io
import json
import re
import unicodedata
import zipfile
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, undefer

from engine.errors import NotFoundError, PermissionDeniedError
from engine.persistence import (
    AuditEvent,
    Case,
    CaseParticipant,
    CaseUnit,
    Comment,
    DataPoint,
    FormSubmission,
    Measure,
    ModelVersion,
    Organisation,
    Pathway,
    PdsaCycle,
    PdsaRamp,
    ProcessModel,
    Region,
    Role,
    TaskIndexRow,
    Unit,
    User,
)
from engine.persistence.base import Base
from engine.persistence.pdsa import ramp_measures
from engine.services.access import participant_roles
from engine.services.actors import Actor
from engine.services.audit import audit_row, write_audit
from engine.services.drafts import forms_as_text
from engine.services.measures import export_data_points_csv
from engine.workdays import STOCKHOLM

FORMAT = "infora-case-export/1"
_EARLIEST_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class CaseExport:
    """The export file: its suggested name and its bytes."""

    case_id: int
    filename: str
    content: bytes


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _row(obj: Base, *, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """Every column of a row (new columns are exported without changing this module)."""
    return {attr.key: _plain(getattr(obj, attr.key)) for attr in obj.__mapper__.column_attrs if attr.key not in skip}


def _json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:40] or "matetal"


def _authorise(session: Session, actor: Actor, case_id: int) -> None:
    if actor.is_admin:
        return
    if not participant_roles(session, actor, case_id).is_coordinator:
        raise PermissionDeniedError("Bara ärendets koordinator eller en administratör får exportera hela ärendet.")


README = """\
Infora – export av ärende {case_id}: {title}
Format: {format}

Filerna
-------
case.json              Ärendet: titel, vårdförlopp, region, status, fas, låsversion, tider,
                       processmodellens version (nummer och innehållshash), enheter, deltagare
                       med roller, öppna steg, och personerna som förekommer i exporten
                       (id, användarnamn, namn).
model/                 Processmodellen exakt som ärendet kör den: {process_id}.bpmn, de
                       anropade processerna (<process-id>.bpmn) och formulären i forms/
                       (JSON Schema). Katalogen kan publiceras igen med
                       `infora model publish model/`.
history.json           Historiken: varje händelse i ärendet (vem, vad, när, före och efter),
                       äldst först.
comments.json          Kommentarer till ärendet och dess steg.
form-submissions.json  Allt som skickats in i ärendets formulär: vem, när, för vilket steg och
                       enhet, och värdena.
pdsa.json              PDSA: varje enhets ramper (förändringsidé, status) med cyklerna
                       (Plan, Do, Study, Act) och vilka mätetal rampen påverkar.
measures.json          Mätetalen: definition, riktning, mål, diagramtyp och regler.
measures/*.csv         Mätpunkterna per mätetal, i samma format som importen på mätetalssidan
                       läser (semikolon, decimalkomma).
workflow-state.json    Processmotorns sparade tillstånd (för teknisk felsökning och
                       återställning; behövs inte för att läsa ärendet).

Tider är i UTC (ISO 8601). Personer anges med sitt id i Infora; namnen finns i case.json.
Exporten innehåller personuppgifter: hantera filen enligt regionens informationssäkerhetsregler.
"""


def export_case(session: Session, actor: Actor, case_id: int) -> CaseExport:
    """The case as a zip file (see the module docstring); the case's coordinator or an admin.

    Raises:
        NotFoundError: no such case.
        PermissionDeniedError: the actor neither coordinates the case nor is an admin.
    """
    case = session.scalar(select(Case).where(Case.id == case_id).options(undefer(Case.state)))
    if case is None:
        raise NotFoundError("Ärendet finns inte.")
    _authorise(session, actor, case_id)

    version = session.scalar(
        select(ModelVersion)
        .where(ModelVersion.id == case.model_version_id)
        .options(undefer(ModelVersion.bpmn_xml), undefer(ModelVersion.called_documents), undefer(ModelVersion.forms))
    )
    assert version is not None  # a foreign key guarantees it
    process_model = session.get(ProcessModel, version.process_model_id)
    people: set[int] = set()

    def person(user_id: int | None) -> int | None:
        if user_id is not None:
            people.add(user_id)
        return user_id

    files: dict[str, str] = {}
    main_id = process_model.process_id if process_model else case.process_id
    files[f"model/{main_id}.bpmn"] = version.bpmn_xml
    for process_id, xml in sorted((version.called_documents or {}).items()):
        files.setdefault(f"model/{process_id}.bpmn", xml)
    for name, text in sorted(forms_as_text(version.forms or {}).items()):
        files[f"model/forms/{name}"] = text

    units = [
        {"id": u.id, "name": u.name, "kind": u.kind, "organisation": org}
        for u, org in session.execute(
            select(Unit, Organisation.name)
            .join(CaseUnit, CaseUnit.unit_id == Unit.id)
            .join(Organisation, Organisation.id == Unit.organisation_id)
            .where(CaseUnit.case_id == case_id)
            .order_by(Unit.id)
        )
    ]
    participants = [
        {"id": p.id, "user_id": person(p.user_id), "role_code": p.role_code, "role": role, "unit_id": p.unit_id}
        for p, role in session.execute(
            select(CaseParticipant, Role.name_sv)
            .join(Role, Role.code == CaseParticipant.role_code)
            .where(CaseParticipant.case_id == case_id)
            .order_by(CaseParticipant.id)
        )
    ]
    open_steps = [
        _row(r, skip=("id",))
        for r in session.scalars(
            select(TaskIndexRow).where(TaskIndexRow.case_id == case_id).order_by(TaskIndexRow.ready_at, TaskIndexRow.id)
        )
    ]
    for step in open_steps:
        person(step.get("assignee_id"))

    history = []
    for event in session.scalars(
        select(AuditEvent).where(AuditEvent.case_id == case_id).order_by(AuditEvent.at, AuditEvent.id)
    ):
        person(event.actor_id)
        history.append(_row(event, skip=("case_id",)))
    comments = []
    for comment in session.scalars(select(Comment).where(Comment.case_id == case_id).order_by(Comment.at, Comment.id)):
        person(comment.user_id)
        comments.append(_row(comment, skip=("case_id",)))
    submissions = []
    for submission in session.scalars(
        select(FormSubmission)
        .where(FormSubmission.case_id == case_id)
        .order_by(FormSubmission.submitted_at, FormSubmission.id)
    ):
        person(submission.submitted_by_id)
        submissions.append(_row(submission, skip=("case_id",)))

    ramp_links: dict[int, list[int]] = {}
    for ramp_id, measure_id in session.execute(
        select(ramp_measures.c.ramp_id, ramp_measures.c.measure_id)
        .join(PdsaRamp, PdsaRamp.id == ramp_measures.c.ramp_id)
        .where(PdsaRamp.case_id == case_id)
        .order_by(ramp_measures.c.ramp_id, ramp_measures.c.measure_id)
    ):
        ramp_links.setdefault(ramp_id, []).append(measure_id)
    cycles: dict[int, list[dict[str, Any]]] = {}
    for cycle in session.scalars(
        select(PdsaCycle).where(PdsaCycle.case_id == case_id).order_by(PdsaCycle.ramp_id, PdsaCycle.number)
    ):
        # search_text is derived from the record (the learning library's index), not recorded.
        cycles.setdefault(cycle.ramp_id, []).append(_row(cycle, skip=("case_id", "search_text")))
    ramps = [
        {**_row(ramp, skip=("case_id",)), "measure_ids": ramp_links.get(ramp.id, []), "cycles": cycles.get(ramp.id, [])}
        for ramp in session.scalars(select(PdsaRamp).where(PdsaRamp.case_id == case_id).order_by(PdsaRamp.id))
    ]

    measures = []
    for measure in session.scalars(select(Measure).where(Measure.case_id == case_id).order_by(Measure.id)):
        path = f"measures/{measure.id}-{_slug(measure.name)}.csv"
        count = session.scalar(select(func.count()).select_from(DataPoint).where(DataPoint.measure_id == measure.id))
        measures.append({**_row(measure, skip=("case_id",)), "data_points": count or 0, "file": path})
        files[path] = export_data_points_csv(session, actor, measure.id, "all")
    for (creator,) in session.execute(
        select(DataPoint.created_by_id)
        .join(Measure, Measure.id == DataPoint.measure_id)
        .where(Measure.case_id == case_id, DataPoint.created_by_id.is_not(None))
        .distinct()
    ):
        person(creator)
    person(case.created_by_id)
    person(version.published_by_id)

    pathway = session.get(Pathway, case.pathway_id) if case.pathway_id else None
    region = session.get(Region, case.region_id) if case.region_id else None
    facts = {
        "format": FORMAT,
        "case": _row(case, skip=("state", "model_version_id")),
        "pathway": {"id": pathway.id, "code": pathway.code, "name": pathway.name} if pathway else None,
        "region": {"id": region.id, "code": region.code, "name": region.name} if region else None,
        "model_version": {
            "id": version.id,
            "process_id": main_id,
            "name": (version.catalogue or {}).get("name", main_id),
            "number": version.number,
            "content_hash": version.content_hash,
            "status": version.status,
            "published_at": _plain(version.published_at),
            "published_by_id": version.published_by_id,
            "called_processes": sorted((version.called_documents or {}).keys()),
            "forms": sorted((version.forms or {}).keys()),
        },
        "units": units,
        "participants": participants,
        "open_steps": open_steps,
        "people": [
            {"id": u.id, "username": u.username, "name": u.display_name, "active": u.active}
            for u in session.scalars(select(User).where(User.id.in_(people)).order_by(User.id))
        ],
    }
    files["case.json"] = _json(facts)
    files["history.json"] = _json(history)
    files["comments.json"] = _json(comments)
    files["form-submissions.json"] = _json(submissions)
    files["pdsa.json"] = _json(ramps)
    files["measures.json"] = _json(measures)
    files["workflow-state.json"] = case.state if case.state.endswith("\n") else case.state + "\n"
    files["README.txt"] = README.format(case_id=case.id, title=case.title, format=FORMAT, process_id=main_id)

    last_change = case.updated_at
    latest_event = session.scalar(select(func.max(AuditEvent.at)).where(AuditEvent.case_id == case_id))
    if latest_event is not None and latest_event > last_change:
        last_change = latest_event
    content = _zip(f"infora-arende-{case.id}/", files, last_change)

    # Outside the case's history (see the module docstring), but on record: who took the data out.
    write_audit(session, [audit_row(actor, "case_exported", entity="case", entity_id=str(case.id))])
    return CaseExport(case.id, f"infora-arende-{case.id}.zip", content)


def _zip(folder: str, files: dict[str, str], moment: datetime) -> bytes:
    """The files in a zip under ``folder``, byte-for-byte the same for the same files and moment."""
    local = moment.astimezone(STOCKHOLM)
    stamp = max((local.year, local.month, local.day, local.hour, local.minute, local.second), _EARLIEST_ZIP_TIME)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(folder + name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, whatever system made the export
            info.external_attr = 0o644 << 16
            archive.writestr(info, files[name].encode("utf-8"))
    return buffer.getvalue()
