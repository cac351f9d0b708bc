"""The whole-case export: one zip with the case's facts, the model version exactly as the case runs
it, the history, form submissions, comments, PDSA ramps and cycles, measures with their data points
as the import reads them, and a README; the same bytes for the same data; only the case's
coordinator or an admin."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import datetime, timezone

import pytest
import time_machine
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.errors import NotFoundError, PermissionDeniedError
from engine.persistence import AuditEvent, Case, FormSubmission, ModelVersion, Unit
from engine.services import SYSTEM_ACTOR
from engine.services.case_export import FORMAT, export_case
from engine.services.measures import create_measure, export_data_points_csv, import_data_points_csv
from engine.services.task_view import add_comment
from tests.factories import Team, do, make_actor, start_vgr, walk_vgr_to_units

T0 = datetime(2026, 2, 2, 8, 0, tzinfo=timezone.utc)
PLAN = {
    "aim": "Alla patienter med hjärtsvikt har en vårdplan inom en vecka.",
    "objective": "Testa en checklista vid inskrivning.",
    "purpose": "test",
    "change_idea": "Checklista vid inskrivning",
    "questions": [{"question": "Används checklistan?", "prediction": "Ja, i 8 av 10."}],
    "plan_tasks": [
        {"who": "Avdelningschefen", "what": "Introducera checklistan", "where": "Avd 12", "when": "2026-02-09"}
    ],
    "data_collection": [{"measure": "Andel med vårdplan", "who": "Undersköterska", "when": "Varje vecka"}],
}


def _case_with_everything(session: Session) -> tuple[int, Team, int, int]:
    """A VGR case in its unit's first PDSA cycle, with a measure, data points and a comment."""
    with time_machine.travel(T0, tick=False):
        case_id, team, (unit,) = start_vgr(session, units=1)
        session.commit()
        measure = create_measure(session, team.coordinator, case_id, name="Andel med vårdplan", direction="higher")
        unit_name = session.get(Unit, unit).name  # type: ignore[union-attr]
        csv_text = "period;value;unit;annotation\n" + "".join(
            f"2025-{m:02d}-01;{50 + m % 3},5;{unit_name};{'Ny rutin' if m == 6 else ''}\n" for m in range(1, 13)
        )
        import_data_points_csv(session, team.by_unit[unit], measure.id, csv_text)
        session.commit()
        walk_vgr_to_units(session, team, case_id)
        do(session, team, case_id, "step_06_local_anchoring", unit=unit)
        do(session, team, case_id, "step_07_implementation_plan", {"already_compliant": False}, unit=unit)
        do(session, team, case_id, "pdsa_plan", PLAN, unit=unit)
        add_comment(session, team.coordinator, case_id, "Bra start på enheten.")
        session.commit()
    return case_id, team, unit, measure.id


def _files(content: bytes, case_id: int) -> dict[str, bytes]:
    prefix = f"infora-arende-{case_id}/"
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert archive.testzip() is None
        assert all(name.startswith(prefix) for name in archive.namelist())
        return {name[len(prefix) :]: archive.read(name) for name in archive.namelist()}


def test_the_zip_holds_the_whole_case(published: Session) -> None:
    s = published
    case_id, team, unit, measure_id = _case_with_everything(s)
    exported = export_case(s, team.coordinator, case_id)
    assert exported.filename == f"infora-arende-{case_id}.zip"
    files = _files(exported.content, case_id)
    case = s.get(Case, case_id)
    assert case is not None
    version = s.get(ModelVersion, case.model_version_id)
    assert version is not None

    # The model exactly as the case runs it: the main diagram, what it calls, and the forms.
    assert files["model/vgr_introduction.bpmn"].decode() == version.bpmn_xml
    for process_id, xml in version.called_documents.items():
        assert files[f"model/{process_id}.bpmn"].decode() == xml
    forms = {name[len("model/forms/") :] for name in files if name.startswith("model/forms/")}
    assert forms == set(version.forms) and forms
    for name, schema in version.forms.items():
        assert json.loads(files[f"model/forms/{name}"]) == schema

    facts = json.loads(files["case.json"])
    assert facts["format"] == FORMAT
    assert facts["case"]["id"] == case_id and facts["case"]["title"] == "Hjärtsvikt – VGR"
    assert (facts["case"]["status"], facts["case"]["version"]) == ("running", case.version)
    assert facts["model_version"]["number"] == version.number
    assert facts["model_version"]["content_hash"] == version.content_hash
    assert [u["id"] for u in facts["units"]] == [unit]
    assert {(p["user_id"], p["role_code"]) for p in facts["participants"]} >= {
        (team.coordinator.user_id, "koordinator"),
        (team.by_unit[unit].user_id, "lokal_verksamhet"),
    }
    assert any(step["bpmn_id"] == "pdsa_do" for step in facts["open_steps"])
    people = {p["id"]: p for p in facts["people"]}
    assert people[team.coordinator.user_id]["username"] == team.coordinator.username
    assert all("email" not in p for p in facts["people"])

    history = json.loads(files["history.json"])
    in_db = s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.case_id == case_id))
    assert len(history) == in_db
    assert [e["at"] for e in history] == sorted(e["at"] for e in history)
    completed = [e for e in history if e["action"] == "task_completed"]
    assert completed and all(e["actor_id"] in people for e in completed)
    submissions = json.loads(files["form-submissions.json"])
    assert len(submissions) == s.scalar(
        select(func.count()).select_from(FormSubmission).where(FormSubmission.case_id == case_id)
    )
    plan = next(x for x in submissions if x["bpmn_id"] == "pdsa_plan")
    assert plan["data"]["change_idea"] == "Checklista vid inskrivning" and plan["unit_id"] == unit
    assert [c["text"] for c in json.loads(files["comments.json"])] == ["Bra start på enheten."]

    (ramp,) = json.loads(files["pdsa.json"])
    assert ramp["unit_id"] == unit and ramp["change_idea"] == "Checklista vid inskrivning"
    assert ramp["measure_ids"] == [measure_id]
    (cycle,) = ramp["cycles"]
    assert (cycle["number"], cycle["stage"]) == (1, "do") and cycle["objective"] == PLAN["objective"]

    (measure,) = json.loads(files["measures.json"])
    assert measure["name"] == "Andel med vårdplan" and measure["data_points"] == 12
    csv_text = files[measure["file"]].decode()
    assert csv_text == export_data_points_csv(s, SYSTEM_ACTOR, measure_id)
    assert csv_text.splitlines()[0] == "period;value;unit;numerator;denominator;annotation;excluded;astronomical"
    assert "2025-06-01;50,5;" in csv_text and "Ny rutin" in csv_text

    state = json.loads(files["workflow-state.json"])
    assert isinstance(state, dict)
    readme = files["README.txt"].decode()
    for name in ("case.json", "model/", "history.json", "comments.json", "form-submissions.json", "pdsa.json",
                 "measures.json", "measures/*.csv", "workflow-state.json"):  # fmt: skip
        assert name in readme


def test_the_same_data_gives_the_same_bytes_and_the_export_is_audited_outside_the_history(
    published: Session,
) -> None:
    s = published
    case_id, team, _unit, _measure = _case_with_everything(s)
    first = export_case(s, team.coordinator, case_id)
    s.commit()
    second = export_case(s, team.coordinator, case_id)
    s.commit()
    assert first.content == second.content
    with zipfile.ZipFile(io.BytesIO(first.content)) as archive:
        stamps = {info.date_time for info in archive.infolist()}
    assert len(stamps) == 1  # the case's last change, not the moment of the export
    exports = list(s.scalars(select(AuditEvent).where(AuditEvent.action == "case_exported")))
    assert [(e.case_id, e.entity, e.entity_id, e.actor_id) for e in exports] == [
        (None, "case", str(case_id), team.coordinator.user_id)
    ] * 2
    # A change to the case changes the export.
    add_comment(s, team.coordinator, case_id, "En till kommentar.")
    s.commit()
    assert export_case(s, team.coordinator, case_id).content != first.content


def test_only_the_coordinator_or_an_admin_may_export(published: Session) -> None:
    s = published
    with time_machine.travel(T0, tick=False):
        case_id, team, _units = start_vgr(s, units=1)
        s.commit()
    assert team.outsider is not None
    with pytest.raises(PermissionDeniedError):
        export_case(s, team.outsider, case_id)
    with pytest.raises(PermissionDeniedError, match="koordinator eller en administratör"):
        export_case(s, team.by_role["rpt"], case_id)  # takes part, but does not coordinate
    other_coordinator = make_actor(s, "annan.koordinator", "coordinator")
    with pytest.raises(PermissionDeniedError):
        export_case(s, other_coordinator, case_id)
    admin = make_actor(s, "admin.export", "admin")
    assert export_case(s, admin, case_id).case_id == case_id
    assert export_case(s, SYSTEM_ACTOR, case_id).content
    with pytest.raises(NotFoundError):
        export_case(s, admin, 999_999)
