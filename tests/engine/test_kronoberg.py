"""Region Kronoberg's variant, the third shipped process: decide whether to introduce, map the current
state, appoint the people responsible and a process team, introduce per unit (PDSA loops where a
unit does not already work per the pathway), follow up. Walked through the services on every
branch; the files are checked to be bpmn-js's export with a diagram element for every process
element, and to pass every validation rule, also when imported through the model workshop."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import time_machine
from lxml import etree
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.catalogue.demo import load_demo_data
from engine.errors import PermissionDeniedError, ValidationError
from engine.persistence import AuditEvent, Case, FormSubmission, PdsaCycle, TaskIndexRow, Unit
from engine.services import SYSTEM_ACTOR, case_history, complete_task, fire_case_timers, start_case
from engine.services.drafts import import_model, publish_draft, validate_document
from engine.services.models import executable_process_ids, publish_model_version, read_model_directory
from engine.workflow.validation import NS
from engine.workflow.xml_repair import restore_loop_references
from engine.workflow.xml_safety import parse_bpmn_xml
from tests.factories import Team, do, form_data, make_actor, make_team, ready, region_units, task_row

MODELS_DIR = Path(__file__).resolve().parents[2] / "bpmn"
FILES = ("kronoberg_introduction", "kronoberg_unit")
ROLES = ["kunskapsstyrning", "processagare", "processledare", "medicinskt_ansvarig", "processteam"]
DI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)


def _start(session: Session, units: int = 2) -> tuple[int, Team, list[int]]:
    region_id, unit_ids = region_units(session, "kronoberg", units)
    team = make_team(session, "kb", ROLES, unit_ids)
    info = start_case(
        session,
        team.coordinator,
        process_id="kronoberg_introduction",
        title="KOL – Region Kronoberg",
        region_id=region_id,
        unit_ids=unit_ids,
        participants=team.participants(),
    )
    session.commit()
    return info.id, team, unit_ids


def _case(session: Session, case_id: int) -> Case:
    session.expire_all()
    case = session.get(Case, case_id)
    assert case is not None
    return case


def _submitted(session: Session, case_id: int, bpmn_id: str) -> dict[str, object]:
    return session.scalars(
        select(FormSubmission.data).where(FormSubmission.case_id == case_id, FormSubmission.bpmn_id == bpmn_id)
    ).one()


def test_the_kronoberg_region_has_units_and_the_model_is_published_with_the_shipped_ones(published: Session) -> None:
    _, units = region_units(published, "kronoberg", 5)
    assert len(units) == 2  # Vårdcentralen Teleborg and Vårdcentralen Ljungby (engine/catalogue/reference.py)
    case_id, _team, _units = _start(published)
    assert _case(published, case_id).process_id == "kronoberg_introduction"


def test_no_at_the_decision_ends_the_case_with_the_reason(published: Session) -> None:
    s = published
    case_id, team, _units = _start(s)
    assert _case(s, case_id).phase == "godkand_nationellt"
    assert ready(s, case_id) == [("decide_introduction", None)]
    row = task_row(s, case_id, "decide_introduction")
    assert row.lane == "kunskapsstyrning"
    decider = team.by_role["kunskapsstyrning"]
    # The form asks for the reason when the answer is no, and for the way of working when it is yes.
    for answer, missing in ((False, "reason"), (True, "approach")):
        data = form_data(s, case_id, row, {"introduce": answer})
        del data[missing]
        with pytest.raises(ValidationError):
            complete_task(s, decider, row.task_id, data)
        s.rollback()

    reason = "Regionen inför redan motsvarande arbetssätt inom ett eget projekt."
    do(s, team, case_id, "decide_introduction", {"introduce": False, "reason": reason})
    case = _case(s, case_id)
    assert (case.status, case.phase) == ("completed", "godkand_nationellt")
    assert ready(s, case_id) == []
    assert _submitted(s, case_id, "decide_introduction")["reason"] == reason
    history = case_history(s, team.coordinator, case_id)
    assert len([h for h in history if h.action == "task_completed"]) == 1
    assert history[-1].action == "case_completed"


def test_yes_maps_appoints_and_introduces_in_the_units_in_parallel(published: Session) -> None:
    s = published
    with time_machine.travel(T0, tick=False) as traveller:
        case_id, team, (compliant, improving) = _start(s)
        do(s, team, case_id, "decide_introduction", {"introduce": True})
        assert _case(s, case_id).phase == "planering_pagar"
        assert ready(s, case_id) == [("mapping", None)]
        assert task_row(s, case_id, "mapping").lane == "koordinator"
        do(s, team, case_id, "mapping")
        do(s, team, case_id, "appoint")
        assert _submitted(s, case_id, "appoint").keys() >= {"process_owner", "process_lead", "medical_lead", "team"}
        assert _case(s, case_id).phase == "introducerad"

        # Once per unit, in parallel; each unit staff member sees only their own unit's task.
        assert ready(s, case_id) == [("unit_introduction", compliant), ("unit_introduction", improving)]
        assert task_row(s, case_id, "unit_introduction", compliant).lane == "lokal_verksamhet"
        do(s, team, case_id, "unit_introduction", {"already_compliant": True}, unit=compliant)
        assert ready(s, case_id) == [("unit_introduction", improving)]
        do(s, team, case_id, "unit_introduction", {"already_compliant": False}, unit=improving)

        # The unit that does not work per the pathway runs the shipped PDSA loop.
        do(s, team, case_id, "pdsa_plan", unit=improving)
        do(s, team, case_id, "pdsa_do", unit=improving)
        assert ready(s, case_id) == []
        due = _case(s, case_id).next_timer_at
        assert due is not None and due > T0 + timedelta(days=88)  # the three-month learning loop
        traveller.move_to(due + timedelta(seconds=1))
        assert fire_case_timers(s, case_id) is True
        s.commit()
        do(s, team, case_id, "pdsa_study", unit=improving)
        assert _case(s, case_id).phase == "introducerad"
        do(s, team, case_id, "pdsa_act", {"act_decision": "adopt"}, unit=improving)

        # Every unit done: the process lead follows up, then the case is complete.
        assert _case(s, case_id).phase == "uppfoljning"
        assert [bpmn_id for bpmn_id, _unit in ready(s, case_id)] == ["follow_up"]
        follow_up = task_row(s, case_id, "follow_up")
        assert follow_up.lane == "processledare"
        with pytest.raises(PermissionDeniedError):
            complete_task(s, team.by_unit[compliant], follow_up.task_id, form_data(s, case_id, follow_up))
        s.rollback()
        do(s, team, case_id, "follow_up")

        case = _case(s, case_id)
        assert (case.status, case.phase) == ("completed", "uppfoljning")
        assert case.next_timer_at is None
        assert s.scalar(select(func.count()).select_from(TaskIndexRow).where(TaskIndexRow.case_id == case_id)) == 0
        cycles = s.scalars(select(PdsaCycle).where(PdsaCycle.case_id == case_id)).all()
        assert [(c.unit_id, c.number) for c in cycles] == [(improving, 1)]
        history = case_history(s, team.coordinator, case_id)
        assert len([h for h in history if h.action == "task_completed"]) == 4 + 2 + 4  # case, units, PDSA
        assert history[-1].action == "case_completed"
        fired = s.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.case_id == case_id, AuditEvent.action == "timer_fired")
        )
        assert fired == 1


def test_the_follow_up_after_the_units_belongs_to_the_whole_case(published: Session) -> None:
    s = published
    case_id, team, units = _start(s)
    for bpmn_id, values in (("decide_introduction", {"introduce": True}), ("mapping", {}), ("appoint", {})):
        do(s, team, case_id, bpmn_id, values)
    for unit in units:
        do(s, team, case_id, "unit_introduction", {"already_compliant": True}, unit=unit)
    assert ready(s, case_id) == [("follow_up", None)]


def test_the_demo_case_stands_in_teleborgs_first_pdsa_cycle(published: Session) -> None:
    load_demo_data(published)
    published.flush()
    case = published.scalars(select(Case).where(Case.process_id == "kronoberg_introduction")).one()
    teleborg = published.scalar(select(Unit.id).where(Unit.name == "Vårdcentralen Teleborg"))
    assert (case.phase, ready(published, case.id)) == ("introducerad", [("pdsa_do", teleborg)])
    cycle = published.scalars(select(PdsaCycle).where(PdsaCycle.case_id == case.id)).one()
    assert (cycle.unit_id, cycle.number) == (teleborg, 1)


# --------------------------------------------------------------------------------------------------
# The files


def _document(name: str) -> bytes:
    return (MODELS_DIR / f"{name}.bpmn").read_bytes()


def _canonical(xml: bytes) -> bytes:
    parser = etree.XMLParser(remove_blank_text=True)
    return etree.tostring(etree.fromstring(xml, parser), method="c14n")


@pytest.mark.parametrize("name", FILES)
def test_the_file_is_the_bpmn_js_export_with_a_diagram_element_for_every_process_element(name: str) -> None:
    root = parse_bpmn_xml(_document(name))
    assert root.get("exporter") == "bpmn-js" and root.get("exporterVersion")
    (process,) = root.iterfind("bpmn:process", NS)
    assert process.get("id") == name
    shapes: dict[str, tuple[float, float, float, float]] = {}
    for shape in root.iter(f"{{{DI_NS}}}BPMNShape"):
        bounds = shape.find("{http://www.omg.org/spec/DD/20100524/DC}Bounds")
        assert bounds is not None
        x, y, w, h = (float(bounds.get(k) or "nan") for k in ("x", "y", "width", "height"))
        shapes[shape.get("bpmnElement") or ""] = (x, y, w, h)
    edges = {e.get("bpmnElement") for e in root.iter(f"{{{DI_NS}}}BPMNEdge")}
    elements = [e for e in process if isinstance(e.tag, str) and etree.QName(e).localname != "laneSet"]
    assert elements
    for element in elements:
        kind, element_id = etree.QName(element).localname, element.get("id")
        assert element_id in (edges if kind == "sequenceFlow" else shapes), f"{kind} {element_id} is not drawn"
    participants = [p.get("id") for p in root.iterfind("bpmn:collaboration/bpmn:participant", NS)]
    lanes = list(process.iterfind(".//bpmn:lane", NS))
    assert participants and all(p in shapes for p in participants)
    # Every node is drawn inside the lane (role) it belongs to.
    for lane in lanes:
        lx, ly, lw, lh = shapes[lane.get("id") or ""]
        for ref in lane.iterfind("bpmn:flowNodeRef", NS):
            x, y, w, h = shapes[ref.text or ""]
            assert lx <= x + w / 2 <= lx + lw and ly <= y + h / 2 <= ly + lh, (ref.text, lane.get("name"))


def test_the_per_unit_loop_is_what_the_editor_restores_after_bpmn_js_drops_it() -> None:
    saved = _document("kronoberg_introduction")
    loop = b"<bpmn:loopDataInputRef>units</bpmn:loopDataInputRef>"
    assert saved.count(loop) == 1
    as_bpmn_js_saves_it = saved.replace(loop, b"")
    assert _canonical(restore_loop_references(as_bpmn_js_saves_it, None)) == _canonical(saved)
    assert _canonical(restore_loop_references(as_bpmn_js_saves_it, saved)) == _canonical(saved)


@pytest.mark.parametrize("name", FILES)
def test_the_file_validates_with_zero_issues(published: Session, name: str) -> None:
    _documents, forms = read_model_directory(MODELS_DIR)
    issues, bundle = validate_document(published, name, _document(name), forms)
    assert issues == []
    assert bundle is not None and bundle.name.startswith("Region Kronoberg")


def test_a_coordinator_imports_and_publishes_the_files_in_the_model_workshop(reference: Session) -> None:
    s = reference
    documents, forms = read_model_directory(MODELS_DIR)
    others = {f: d for f, d in documents.items() if not f.startswith("kronoberg_")}
    for pid in executable_process_ids(others):
        publish_model_version(s, SYSTEM_ACTOR, pid, others, forms)
    coordinator = make_actor(s, "kb.import", "coordinator")
    for name in ("kronoberg_unit", "kronoberg_introduction"):  # the called process first
        own_forms = {f: text for f, text in forms.items() if f.startswith("kronoberg_")}
        draft = import_model(s, coordinator, _document(name), own_forms)
        assert (draft.process_id, draft.issues) == (name, [])
        assert publish_draft(s, coordinator, draft.id).number == 1
    s.commit()
    case_id, _team, units = _start(s)
    assert _case(s, case_id).phase == "godkand_nationellt" and len(units) == 2
