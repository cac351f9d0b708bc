"""The model workshop in a real browser: every shipped model opens in the bpmn-js modeler and saves
back without a validation issue; a coordinator adds a user task to the VGR model, sees the issue
pinned to it, picks a form in the settings panel, saves clean and publishes; new cases use the new
version while an old case stays on its own, until it is moved after a dry run (and moved back).
(No console errors: the autouse guard in conftest fails any test that has one.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Dialog, Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.persistence import AuditEvent, Case, ModelDraft, ModelVersion, ProcessModel
from tests.browser import snap
from tests.browser.test_flows import sign_in
from tests.factories import make_actor, start_vgr

BPMN = Path(__file__).resolve().parents[2] / "bpmn"
SHIPPED = sorted(path.stem for path in BPMN.glob("*.bpmn"))  # every shipped model, present and future


def open_editor(page: Page, process_id: str) -> None:
    page.goto(f"/modeller/{process_id}/utkast")
    expect(page.locator("#modeler")).to_have_attribute("data-loaded", "true")


def save(page: Page) -> None:
    """Save with the keyboard shortcut and wait for the server's answer."""
    saved = int(page.locator("#modeler").get_attribute("data-saved") or "0")
    page.keyboard.press("Control+s")
    expect(page.locator("#modeler")).to_have_attribute("data-saved", str(saved + 1))


def fresh(session: Session) -> None:
    """Read what the server wrote: a new transaction (snapshot), and no object kept from before
    (the sessions do not expire objects on commit)."""
    session.commit()
    session.expire_all()


def _version(session: Session, process_id: str, number: int) -> ModelVersion:
    return session.scalars(
        select(ModelVersion).join(ProcessModel)
        .where(ProcessModel.process_id == process_id, ModelVersion.number == number)
    ).one()  # fmt: skip


@pytest.mark.parametrize("process_id", SHIPPED)
def test_every_shipped_model_opens_and_saves_back_clean(page: Page, published: Session, process_id: str) -> None:
    coordinator = make_actor(published, "modell.koord", "coordinator")
    sign_in(page, published, coordinator.username)
    open_editor(page, process_id)
    expect(page.locator("#modeler")).to_have_attribute("data-import-warnings", "0")
    page.locator("#modeler").click(position={"x": 5, "y": 5})  # focus the canvas: Ctrl+S must work from there
    save(page)
    expect(page.locator("#issue-list li")).to_have_count(0)
    expect(page.locator("#issue-summary")).to_contain_text("Inga problem")
    expect(page.get_by_role("button", name="Publicera som ny version")).to_be_enabled()
    fresh(published)
    draft = published.scalars(select(ModelDraft).where(ModelDraft.process_id == process_id)).one()
    assert draft.issues == []
    saves = published.scalars(select(AuditEvent.entity_id).where(AuditEvent.action == "model_draft_saved")).all()
    assert saves == [str(draft.id)]
    # Every Infora setting survived the modeler's reading and writing of the document.
    original = _version(published, process_id, 1)
    for marker in re.findall(r'<spiffworkflow:property name="[^"]+" value="[^"]*"', original.bpmn_xml):
        assert marker in draft.bpmn_xml
    assert draft.bpmn_xml.count("loopDataInputRef>") == original.bpmn_xml.count("loopDataInputRef>")
    assert draft.bpmn_xml.count("instructionsForEndUser>") == original.bpmn_xml.count("instructionsForEndUser>")
    assert draft.bpmn_xml.count("<spiffworkflow:parameter ") == original.bpmn_xml.count("<spiffworkflow:parameter ")


ADD_KICKOFF = """() => {
  const modeler = window.inforaModeler;
  const registry = modeler.get("elementRegistry");
  const modeling = modeler.get("modeling");
  const factory = modeler.get("elementFactory");
  const task = modeling.createShape(factory.createShape({ type: "bpmn:UserTask" }), { x: 1000, y: 350 },
                                    registry.get("lane_samordningsrad"));
  modeling.updateLabel(task, "Uppstartsmöte");
  modeling.removeElements([registry.get("flow_step_02_preparation_to_set_phase_planning")]);
  modeling.connect(registry.get("step_02_preparation"), task);
  modeling.connect(task, registry.get("set_phase_planning"));
  return task.id;
}"""


def test_a_coordinator_adds_a_task_publishes_and_moves_an_old_case(page: Page, published: Session) -> None:
    old_case, team, _units = start_vgr(published, units=1, prefix="old")
    published.commit()
    v1 = _version(published, "vgr_introduction", 1)
    sign_in(page, published, team.coordinator.username)
    page.get_by_role("link", name="Processmodeller").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Processmodeller")
    page.get_by_role("link", name="Redigera – VGR: införande av vårdförlopp").click()
    expect(page.locator("#modeler")).to_have_attribute("data-loaded", "true")
    publish = page.get_by_role("button", name="Publicera som ny version")

    # A new user task in the Samordningsråd lane, between step 2 and the phase change; no form yet.
    task_id = page.evaluate(ADD_KICKOFF)
    expect(page.locator("#save-status")).to_have_text("Osparade ändringar.")
    expect(publish).to_be_disabled()
    page.get_by_role("button", name="Spara utkastet").click()
    issue = page.locator("#issue-list li")
    expect(issue).to_have_count(1)
    expect(issue).to_contain_text("Användaruppgiften 'Uppstartsmöte' saknar formulär")
    expect(page.locator(f'#modeler g.djs-element[data-element-id="{task_id}"].infora-issue')).to_have_count(1)
    expect(page.locator(f'#modeler .djs-overlays[data-container-id="{task_id}"] .issue-badge')).to_be_visible()
    expect(publish).to_be_disabled()
    snap(page, "model-editor-issue")
    fresh(published)
    draft = published.scalars(select(ModelDraft).where(ModelDraft.process_id == "vgr_introduction")).one()
    assert [(i["code"], i["element_id"]) for i in draft.issues] == [("missing_form", task_id)]

    # The issue leads to the element; a new form is written beside the diagram and previewed.
    issue.get_by_role("button").click()
    expect(page.locator("#panel-heading")).to_be_focused()
    expect(page.locator("#panel-element-title")).to_have_text("Uppstartsmöte (Användaruppgift)")
    page.get_by_label("Nytt formulärs filnamn").fill("uppstartsmote")
    page.get_by_role("button", name="Lägg till formulär").click()
    expect(page.get_by_label("Formulär att redigera")).to_have_value("uppstartsmote.schema.json")
    preview = page.locator("#form-preview")
    expect(preview.get_by_label("Kommentar")).to_be_visible()
    schema = page.get_by_label("JSON Schema")
    schema.fill(
        '{"type": "object", "title": "Uppstartsmöte", "required": ["datum"], "properties": {'
        '"datum": {"type": "string", "format": "date", "title": "Datum för mötet"}}}'
    )
    expect(preview.get_by_label(re.compile("Datum för mötet"))).to_be_visible()
    expect(preview.get_by_label("Kommentar")).to_have_count(0)
    settings = page.get_by_role("region", name="Inställningar")
    settings.get_by_label("Formulär", exact=True).select_option("uppstartsmote.schema.json")
    settings.get_by_label("Förfallotid").fill("P14D")
    settings.get_by_label("Förfallotid").press("Tab")
    save(page)
    expect(page.locator("#issue-list li")).to_have_count(0)
    expect(page.locator("#issue-summary")).to_contain_text("Inga problem")
    expect(page.locator(f'#modeler g.djs-element[data-element-id="{task_id}"].infora-issue')).to_have_count(0)
    expect(publish).to_be_enabled()
    snap(page, "model-editor-clean")
    publish.click()
    expect(page.get_by_role("status")).to_contain_text("VGR: införande av vårdförlopp version 2 är publicerad")

    fresh(published)
    v2 = _version(published, "vgr_introduction", 2)
    assert "uppstartsmote.schema.json" in v2.forms
    assert 'name="formJsonSchemaFilename" value="uppstartsmote.schema.json"' in v2.bpmn_xml
    assert 'name="dueDuration" value="P14D"' in v2.bpmn_xml
    # New cases use version 2; the old case stays on version 1.
    new_case, _t, _u = start_vgr(published, units=1, prefix="new")
    published.commit()
    assert published.get(Case, new_case).model_version_id == v2.id  # type: ignore[union-attr]
    assert published.get(Case, old_case).model_version_id == v1.id  # type: ignore[union-attr]
    page.reload()
    versions = page.get_by_role("table", name="Versioner av VGR: införande av vårdförlopp")
    expect(versions.get_by_role("row", name=re.compile("^2"))).to_contain_text("Publicerad")
    expect(versions.get_by_role("row", name=re.compile("^2")).get_by_role("cell").nth(2)).to_have_text("1")
    expect(versions.get_by_role("row", name=re.compile("^1")).get_by_role("cell").nth(2)).to_have_text("1")
    snap(page, "models")

    # The diff names the new task and shows it on the new diagram.
    page.get_by_role("button", name="Visa skillnaderna – VGR: införande av vårdförlopp").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Skillnader mellan version 1 och version 2")
    expect(page.locator("#added-heading + ul")).to_contain_text("Uppstartsmöte")
    expect(page.locator(f'#diff-new g.djs-element[data-element-id="{task_id}"].infora-added')).to_have_count(1)
    expect(page.locator('#diff-old g.djs-element[data-element-id="flow_step_02_preparation_to_set_phase_planning"]'
                        ".infora-removed")).to_have_count(1)  # fmt: skip
    snap(page, "model-diff")

    # Move the old case after a dry run, then back again.
    page.goto("/modeller")
    page.get_by_role(
        "link", name="Flytta pågående ärenden till en annan version – VGR: införande av vårdförlopp"
    ).click()
    expect(page.get_by_label("Flytta till version")).to_have_value(str(v2.id))
    page.locator(f"#case-{old_case}").check()
    page.get_by_role("button", name="Provkör flytten").click()
    dry = page.get_by_role("table", name="Kan ärendena flyttas?")
    expect(dry.get_by_role("row", name=re.compile(f"#{old_case}"))).to_contain_text("Kan flyttas")
    fresh(published)
    assert published.get(Case, old_case).model_version_id == v1.id  # type: ignore[union-attr]  # a dry run moves nothing
    snap(page, "model-migration-dry-run")
    page.get_by_role("button", name="Flytta 1 ärende").click()
    expect(page.get_by_role("status")).to_contain_text("1 av 1 ärenden är flyttade")
    expect(page.get_by_role("table", name="Flyttade ärenden")).to_contain_text("Flyttat")
    fresh(published)
    assert published.get(Case, old_case).model_version_id == v2.id  # type: ignore[union-attr]
    page.get_by_role("button", name=re.compile("Ångra: flytta tillbaka till version 1")).click()
    expect(page.get_by_role("status")).to_contain_text("är flyttat tillbaka till version 1")
    fresh(published)
    assert published.get(Case, old_case).model_version_id == v1.id  # type: ignore[union-attr]


def _draft_xml(session: Session, process_id: str) -> str:
    fresh(session)
    return session.scalars(
        select(ModelDraft.bpmn_xml).where(ModelDraft.process_id == process_id, ModelDraft.status == "open")
    ).one()


def test_the_settings_panel_sets_gateways_lanes_and_the_reminder_policy(page: Page, published: Session) -> None:
    coordinator = make_actor(published, "panel.koord", "coordinator")
    sign_in(page, published, coordinator.username)
    open_editor(page, "vgr_introduction")
    settings = page.get_by_role("region", name="Inställningar")
    choose = settings.get_by_label("Element")

    # The gateway: its default flow becomes "Revidera"; "Godkänt" then needs a condition.
    choose.select_option(label="Beslut? (Exklusiv gateway)")
    expect(settings.get_by_label(re.compile("^Godkänt →"))).to_be_checked()
    settings.get_by_label(re.compile("^Revidera →")).check()
    save(page)
    issue = page.locator("#issue-list li")
    expect(issue).to_have_count(1)
    expect(issue).to_contain_text("Flödet 'Godkänt' från en gateway saknar villkor")
    expect(page.locator('#modeler g.djs-connection[data-element-id="flow_approved"].infora-issue')).to_have_count(1)
    expect(page.get_by_role("button", name="Publicera som ny version")).to_be_disabled()
    choose.select_option(label="Beslut? (Exklusiv gateway)")
    condition = settings.get_by_label(re.compile("^Villkor för flödet Godkänt"))
    condition.fill('decision == "approve"')
    condition.press("Tab")

    # A lane's role, and the process's reminder policy (nothing selected: the process).
    choose.select_option(label="RPT (Bana (roll))")
    settings.get_by_label("Roll").select_option("Processteam")
    choose.select_option(label="Processen")
    settings.get_by_label("Påminnelser före förfallodagen").fill("P7D, P1D")
    settings.get_by_label("Eskalera till koordinatorn efter").fill("P2D")
    settings.get_by_label("Eskalera till koordinatorn efter").press("Tab")
    save(page)
    expect(page.locator("#issue-list li")).to_have_count(0)
    xml = _draft_xml(published, "vgr_introduction")
    assert re.search(r'<bpmn:exclusiveGateway id="gw_decision" name="Beslut\?" default="flow_revise">', xml)
    assert re.search(
        r'<bpmn:sequenceFlow id="flow_approved"[^>]*>\s*<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">'
        r'decision == "approve"</bpmn:conditionExpression>',
        xml,
    )
    assert '<bpmn:lane id="lane_rpt" name="Processteam">' in xml
    process = xml[xml.index('<bpmn:process id="vgr_introduction"') : xml.index("<bpmn:laneSet")]
    assert re.search(r'<spiffworkflow:property name="reminderOffsets" value="P7D, P1D" ?/>', process)
    assert re.search(r'<spiffworkflow:property name="escalateAfter" value="P2D" ?/>', process)


def test_a_timer_is_written_plainly_and_a_bad_one_is_pinned(page: Page, published: Session) -> None:
    coordinator = make_actor(published, "timer.koord", "coordinator")
    sign_in(page, published, coordinator.username)
    open_editor(page, "pdsa_cycle")
    settings = page.get_by_role("region", name="Inställningar")
    settings.get_by_label("Element").select_option(label="Planera (Användaruppgift)")
    expect(settings.get_by_label("PDSA-steg")).to_have_value("plan")
    settings.get_by_label("Element").select_option(label="Lärandeloopen löper (Väntande händelse)")
    waiting = settings.get_by_label("Väntetid")
    expect(waiting).to_have_value("cycle_duration")
    waiting.fill("P2M")
    waiting.press("Tab")
    save(page)
    expect(page.locator("#issue-list li")).to_have_count(0)
    assert '<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">P2M</bpmn:timeDuration>' in _draft_xml(
        published, "pdsa_cycle"
    )
    waiting.fill("tre månader")
    waiting.press("Tab")
    save(page)
    expect(page.locator("#issue-list li")).to_contain_text("Ogiltigt uttryck i timern 'Lärandeloopen löper'")
    expect(page.locator('#modeler g[data-element-id="timer_learning_loop"].infora-issue')).to_have_count(1)
    expect(settings.locator(".form-error")).to_contain_text("Ogiltigt uttryck i timern")
    # Leaving with unsaved changes asks first; staying keeps the page and its edits.
    waiting.fill("P3M")
    waiting.press("Tab")
    asked: list[str] = []

    def stay(dialog: Dialog) -> None:
        asked.append(dialog.type)
        dialog.dismiss()

    page.once("dialog", stay)
    page.locator(".breadcrumbs a").click()
    expect(waiting).to_have_value("P3M")
    assert asked == ["beforeunload"]
