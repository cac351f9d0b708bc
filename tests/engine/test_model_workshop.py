"""The model workshop through the services: drafts (validated on every save, publishable only when
clean), import with its refusals, diff between versions, and moving running cases (dry run, the
move, a case that cannot move, the way back)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.errors import InvalidModelError, PermissionDeniedError
from engine.persistence import AuditEvent, Case, ModelDraft, ModelVersion, ProcessModel, TaskIndexRow
from engine.services import send_signal
from engine.services.case_migration import dry_run, migrate_cases, undo_migration
from engine.services.drafts import (
    get_draft,
    import_model,
    open_draft,
    publish_draft,
    save_draft_document,
)
from engine.services.model_versions import diff_versions, model_overview
from engine.workflow.diff import diff_models
from engine.workflow.xml_repair import restore_loop_references
from engine.workflow.xml_safety import MAX_DOCUMENT_BYTES
from tests.bpmn_builder import SIMPLE_FORM, Process
from tests.factories import do, make_actor, ready, start_vgr

BPMN = Path(__file__).resolve().parents[2] / "bpmn"
NEW_TASK = (
    '<bpmn:userTask id="step_02b_kickoff" name="Uppstartsmöte">{props}'
    "<bpmn:incoming>flow_step_02_preparation_to_set_phase_planning</bpmn:incoming>"
    "<bpmn:outgoing>flow_02b</bpmn:outgoing></bpmn:userTask>"
)
FORM_PROPS = (
    "<bpmn:extensionElements><spiffworkflow:properties>"
    '<spiffworkflow:property name="formJsonSchemaFilename" value="kickoff.schema.json" />'
    "</spiffworkflow:properties></bpmn:extensionElements>"
)


def _with_kickoff(xml: str, *, form: bool) -> str:
    """VGR with a new user task in the Samordningsråd lane between step 2 and the phase change."""
    xml = xml.replace(
        "<bpmn:flowNodeRef>step_02_preparation</bpmn:flowNodeRef>",
        "<bpmn:flowNodeRef>step_02_preparation</bpmn:flowNodeRef><bpmn:flowNodeRef>step_02b_kickoff</bpmn:flowNodeRef>",
    )
    xml = xml.replace(
        'sourceRef="step_02_preparation" targetRef="set_phase_planning" />',
        'sourceRef="step_02_preparation" targetRef="step_02b_kickoff" />'
        '<bpmn:sequenceFlow id="flow_02b" sourceRef="step_02b_kickoff" targetRef="set_phase_planning" />',
    )
    xml = xml.replace(
        "<bpmn:incoming>flow_step_02_preparation_to_set_phase_planning</bpmn:incoming>",
        "<bpmn:incoming>flow_02b</bpmn:incoming>",
    )
    task = NEW_TASK.format(props=FORM_PROPS if form else "")
    return xml.replace('<bpmn:userTask id="step_02_preparation"', task + '<bpmn:userTask id="step_02_preparation"', 1)


KICKOFF_FORM = {**SIMPLE_FORM, "title": "Uppstartsmöte"}


def _version(session: Session, process_id: str, number: int) -> ModelVersion:
    return session.scalars(
        select(ModelVersion)
        .join(ProcessModel)
        .where(ProcessModel.process_id == process_id, ModelVersion.number == number)
    ).one()


def test_edit_validate_publish_diff_and_move_cases(published: Session) -> None:
    s = published
    old_case, team, _units = start_vgr(s, units=1, prefix="old")
    at_two, team2, _u2 = start_vgr(s, units=1, prefix="two")
    s.commit()
    coordinator = team.coordinator
    with pytest.raises(PermissionDeniedError):
        open_draft(s, team.by_role["rpt"], "vgr_introduction")

    draft = open_draft(s, coordinator, "vgr_introduction")
    assert open_draft(s, coordinator, "vgr_introduction").id == draft.id  # one open draft per model
    v1 = _version(s, "vgr_introduction", 1)
    assert draft.base_version_id == v1.id and "step_02_preparation" in draft.bpmn_xml

    # A user task without a form: saved, with the issue pinned to the new element; not publishable.
    saved = save_draft_document(s, coordinator, draft.id, _with_kickoff(draft.bpmn_xml, form=False))
    assert [(i["code"], i["element_id"]) for i in saved.issues] == [("missing_form", "step_02b_kickoff")]
    assert not saved.publishable
    s.commit()  # as the web edge does after every save
    with pytest.raises(InvalidModelError):
        publish_draft(s, coordinator, draft.id)
    s.rollback()
    assert s.scalar(select(func.count()).select_from(ModelVersion).join(ProcessModel)
                    .where(ProcessModel.process_id == "vgr_introduction")) == 1  # fmt: skip

    # The form picked and added beside the diagram: clean, published as version 2.
    forms = {**saved.forms, "kickoff.schema.json": KICKOFF_FORM}
    clean = save_draft_document(s, coordinator, draft.id, _with_kickoff(draft.bpmn_xml, form=True), forms)
    assert clean.issues == [] and clean.publishable
    info = publish_draft(s, coordinator, draft.id)
    s.commit()
    assert (info.number, info.created) == (2, True)
    assert get_draft(s, coordinator, draft.id).status == "published"
    actions = s.scalars(select(AuditEvent.action).where(AuditEvent.entity == "model_draft")).all()
    assert actions == ["model_draft_opened", "model_draft_saved", "model_draft_saved", "model_draft_published"]

    # New cases use version 2; the running ones stay on version 1.
    new_case, _t, _u = start_vgr(s, units=1, prefix="new")
    s.commit()
    v2 = _version(s, "vgr_introduction", 2)
    assert s.get(Case, new_case).model_version_id == v2.id  # type: ignore[union-attr]
    assert s.get(Case, old_case).model_version_id == v1.id  # type: ignore[union-attr]
    overview = {m.process_id: m for m in model_overview(s, coordinator)}["vgr_introduction"]
    assert [(v.number, v.running_cases) for v in overview.versions] == [(2, 1), (1, 2)]

    # The diff names the new task and flow, and the changed flow, task and lane.
    diff = diff_versions(s, coordinator, v1.id, v2.id)
    assert {c.element_id for c in diff.added} == {"step_02b_kickoff", "flow_02b"}
    assert diff.removed == []
    changed = {c.element_id: c.aspects for c in diff.changed}
    assert changed["flow_step_02_preparation_to_set_phase_planning"] == ("flows",)
    assert changed["lane_samordningsrad"] == ("flows",)
    assert "flows" in changed["set_phase_planning"]

    # Move the old case after a dry run; it then runs the new step.
    (check,) = dry_run(s, coordinator, [old_case], v2.id)
    assert (check.ok, check.from_version, check.to_version, check.reasons) == (True, 1, 2, [])
    s.rollback()
    assert s.get(Case, old_case).model_version_id == v1.id  # type: ignore[union-attr]  # a dry run changes nothing
    (moved,) = migrate_cases(s, coordinator, [old_case], v2.id)
    s.commit()
    assert moved.ok and s.get(Case, old_case).model_version_id == v2.id  # type: ignore[union-attr]
    event = s.scalars(
        select(AuditEvent).where(AuditEvent.case_id == old_case, AuditEvent.action == "case_migrated")
    ).one()
    assert (event.before, event.after) == (
        {"model_version_id": v1.id, "number": 1},
        {"model_version_id": v2.id, "number": 2},
    )

    # Undo: back to version 1 (the case is still at step 1, which both versions have).
    back = undo_migration(s, coordinator, old_case)
    s.commit()
    assert back.ok and s.get(Case, old_case).model_version_id == v1.id  # type: ignore[union-attr]
    migrate_cases(s, coordinator, [old_case], v2.id)
    s.commit()
    do(s, team, old_case, "step_01_consultation")
    send_signal(s, coordinator, old_case, "godkand_nationellt")
    s.commit()
    do(s, team, old_case, "step_02_preparation")
    assert ready(s, old_case) == [("step_02b_kickoff", None)]

    # A case standing at the new step cannot go back to version 1, and says why; nothing changes.
    before = s.scalar(select(Case.state).where(Case.id == old_case))
    (refused,) = migrate_cases(s, coordinator, [old_case], v1.id)
    assert not refused.ok
    assert refused.reasons == ["Steget 'Uppstartsmöte' väntar på att utföras men finns inte i den nya versionen."]
    assert s.scalar(select(Case.state).where(Case.id == old_case)) == before
    # Several at once: one moves, one is refused.
    answers = migrate_cases(s, coordinator, [at_two, old_case], v1.id)
    assert [(a.case_id, a.ok) for a in answers] == [(at_two, False), (old_case, False)]
    assert answers[0].reasons == ["Ärendet använder redan den versionen."]
    s.commit()
    task = s.scalars(select(TaskIndexRow).where(TaskIndexRow.case_id == old_case)).one()
    assert task.bpmn_id == "step_02b_kickoff" and task.form == "kickoff.schema.json"
    assert team2.coordinator.user_id  # the second team took part only as a case on version 1


def _simple(pid: str) -> bytes:
    p = Process(pid, name="Importerad process")
    p.start()
    p.user_task("a", "Första steget")
    p.end()
    p.chain("start", "a", "end")
    return p.xml()


def test_import_a_new_model_and_refuse_a_clashing_id(published: Session) -> None:
    coordinator = make_actor(published, "imp.koord", "coordinator")
    draft = import_model(
        published, coordinator, _simple("kronoberg_test"), {"simple.schema.json": json.dumps(SIMPLE_FORM)}
    )
    assert (draft.process_id, draft.issues) == ("kronoberg_test", [])
    info = publish_draft(published, coordinator, draft.id)
    assert info.number == 1 and info.process_id == "kronoberg_test"
    count = published.scalar(select(func.count()).select_from(ModelDraft))
    with pytest.raises(InvalidModelError) as err:
        import_model(published, coordinator, (BPMN / "pdsa_cycle.bpmn").read_bytes(), {})
    assert err.value.issues[0].code == "process_id_clash"
    assert published.scalar(select(func.count()).select_from(ModelDraft)) == count


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"<bpmn:definitions", "invalid_xml"),
        (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>', "invalid_xml"),
        (
            b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><l>&b;</l>',
            "invalid_xml",
        ),
        (b'<?xml version="1.0"?><html><body>nej</body></html>', "invalid_xml"),
        (b" " * (MAX_DOCUMENT_BYTES + 1), "too_large"),
    ],
    ids=["malformed", "external-entity", "entity-expansion", "not-bpmn", "too-large"],
)
def test_bad_files_are_refused_and_nothing_is_stored(published: Session, payload: bytes, code: str) -> None:
    coordinator = make_actor(published, f"bad.{code}", "coordinator")
    draft = open_draft(published, coordinator, "pdsa_cycle")
    count = published.scalar(select(func.count()).select_from(ModelDraft))
    with pytest.raises(InvalidModelError) as err:
        import_model(published, coordinator, payload, {})
    assert err.value.issues[0].code == code and err.value.issues[0].message
    with pytest.raises(InvalidModelError):
        save_draft_document(published, coordinator, draft.id, payload.decode("utf-8", "replace"))
    assert published.scalar(select(func.count()).select_from(ModelDraft)) == count
    assert get_draft(published, coordinator, draft.id).bpmn_xml == draft.bpmn_xml


def test_a_save_cannot_change_the_process_id(published: Session) -> None:
    coordinator = make_actor(published, "pid.koord", "coordinator")
    draft = open_draft(published, coordinator, "pdsa_cycle")
    renamed = draft.bpmn_xml.replace('<bpmn:process id="pdsa_cycle"', '<bpmn:process id="vgr_unit"')
    with pytest.raises(InvalidModelError) as err:
        save_draft_document(published, coordinator, draft.id, renamed)
    assert err.value.issues[0].code == "process_id_changed"
    assert get_draft(published, coordinator, draft.id).bpmn_xml == draft.bpmn_xml


def test_a_modeler_dropping_the_per_unit_loop_gets_it_back(published: Session) -> None:
    # bpmn-js drops <loopDataInputRef>units</...> (to it, a reference to a missing element id).
    coordinator = make_actor(published, "loop.koord", "coordinator")
    draft = open_draft(published, coordinator, "vgr_introduction")
    stripped = draft.bpmn_xml.replace("<bpmn:loopDataInputRef>units</bpmn:loopDataInputRef>", "")
    assert "loopDataInputRef" not in stripped
    saved = save_draft_document(published, coordinator, draft.id, stripped)
    assert saved.issues == [] and "<bpmn:loopDataInputRef>units</bpmn:loopDataInputRef>" in saved.bpmn_xml
    # Restored with other whitespace than the original: not a change in the diff.
    assert diff_models(draft.bpmn_xml.encode(), saved.bpmn_xml.encode()).empty
    relaid = saved.bpmn_xml.replace("<bpmn:loopDataInputRef>", "\n          <bpmn:loopDataInputRef>")
    assert diff_models(draft.bpmn_xml.encode(), relaid.encode()).empty
    # A new per-unit loop (item named "unit") loops over the case's units without the reference.
    fresh = restore_loop_references(
        stripped.replace('id="unit" name="unit"', 'id="unit_item" name="unit"').encode(), None
    )
    assert b"<bpmn:loopDataInputRef>units</bpmn:loopDataInputRef>" in fresh
