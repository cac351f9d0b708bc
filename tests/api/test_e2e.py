"""A whole introduction through the API alone, as a region's integration would drive it: a
coordinator uploads and publishes a model, starts a VGR case with its participants, and every
person completes their own tasks with their own token — reading the inbox, the task's form, and
sending the case version as If-Match — up to the first PDSA cycle of one unit; the national
approval arrives as the signal ``godkand_nationellt``; then the history tells who did what.

Only the people and their tokens are made outside the API (there is no API for user accounts)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy.orm import Session

from engine.catalogue.sample_forms import sample_form_data
from tests.api.conftest import ApiClient, error, token_for
from tests.factories import make_actor

BPMN = Path(__file__).resolve().parents[2] / "bpmn"
ROLES = ("kunskapsstyrning", "samordningsrad", "rpt", "inforandeansvarig")
ANSWERS: dict[str, dict[str, Any]] = {
    "step_03_rpt_start": {"data_needed": False},
    "step_05_decision": {"decision": "approved", "document_type": "regional_riktlinje"},
    "step_07_implementation_plan": {"already_compliant": False},
    "pdsa_plan": {"objective": "Testa en checklista vid inskrivning.", "change_idea": "Checklista"},
}


def test_an_introduction_from_upload_to_the_first_pdsa_cycle(published: Session, app: Flask) -> None:
    s = published
    people = {"koordinator": make_actor(s, "e2e.koordinator", "coordinator")}
    for role in (*ROLES, "lokal_verksamhet"):
        people[role] = make_actor(s, f"e2e.{role}")
    s.commit()
    clients = {role: ApiClient(app.test_client(), token_for(s, actor, "integration")) for role, actor in people.items()}
    coordinator = clients["koordinator"]

    # 1. A model: a copy of the shipped PDSA cycle under its own process id, uploaded and published.
    xml = (BPMN / "pdsa_cycle.bpmn").read_text(encoding="utf-8").replace('id="pdsa_cycle"', 'id="pdsa_cycle_region"')
    draft = coordinator.post("/models/drafts", {"xml": xml})
    assert draft.status_code == 201, draft.get_json()
    assert draft.get_json()["process_id"] == "pdsa_cycle_region" and draft.get_json()["publishable"] is True
    version = coordinator.post(f"/models/drafts/{draft.get_json()['id']}/publish")
    assert version.status_code == 201 and version.get_json()["number"] == 1
    assert "pdsa_cycle_region" in {p["id"] for p in coordinator.get("/catalogue/processes").get_json()}
    download = coordinator.get(f"/models/versions/{version.get_json()['id']}/bpmn")
    assert download.mimetype == "application/xml" and b'id="pdsa_cycle_region"' in download.data
    error(clients["rpt"].post("/models/drafts", {"xml": xml}), 403)  # members do not publish models

    # 2. The case: VGR, one unit, a person for each role, found through the catalogue.
    region = next(
        r for r in coordinator.get("/catalogue/regions").get_json() if r["label"] == "Västra Götalandsregionen"
    )
    unit = next(u for u in coordinator.get("/catalogue/units").get_json() if u["group"].endswith(region["label"]))
    roles = {r["id"] for r in coordinator.get("/catalogue/roles").get_json()}
    assert set(ROLES) | {"lokal_verksamhet"} <= roles
    participants = [{"user_id": people[r].user_id, "role": r} for r in ROLES]
    participants.append(
        {"user_id": people["lokal_verksamhet"].user_id, "role": "lokal_verksamhet", "unit_id": unit["id"]}
    )
    started = coordinator.post(
        "/cases",
        {"process_id": "vgr_introduction", "title": "Hjärtsvikt – VGR (API)", "region_id": region["id"],
         "unit_ids": [unit["id"]], "participants": participants},
    )  # fmt: skip
    assert started.status_code == 201, started.get_json()
    case_id = started.get_json()["id"]
    assert started.headers["Location"].endswith(f"/api/v1/cases/{case_id}")

    # 3. Every task as the person holding its role, until the unit's first PDSA Plan is done.
    done: list[tuple[str, str]] = []
    signalled = False
    while "pdsa_plan" not in {bpmn for bpmn, _ in done}:
        case = coordinator.get(f"/cases/{case_id}")
        tasks = case.get_json()["tasks"]
        if not tasks:
            # The case waits for the national approval: a signal from outside.
            assert not signalled and case.get_json()["status"] == "running"
            signal = coordinator.post(f"/cases/{case_id}/signals", {"name": "godkand_nationellt"},
                                      headers={"If-Match": case.headers["ETag"]})  # fmt: skip
            assert signal.status_code == 200 and signal.get_json()["caught"] is True
            signalled = True
            continue
        task = tasks[0]
        person = clients[task["lane"]]
        mine = person.get("/tasks?page_size=200").get_json()
        assert task["task_id"] in {t["task_id"] for t in mine["items"]}, task
        if task["lane"] != "koordinator":
            # Someone without the role may neither see nor do it.
            other = clients["lokal_verksamhet" if task["lane"] != "lokal_verksamhet" else "rpt"]
            error(other.get(f"/tasks/{task['task_id']}"), 403)
        detail = person.get(f"/tasks/{task['task_id']}").get_json()
        assert detail["can_act"] is True and detail["case_version"] == case.get_json()["version"]
        data = sample_form_data(detail["form"] or {}, ANSWERS.get(task["bpmn_id"]))
        completed = person.post(f"/tasks/{task['task_id']}/complete", {"data": data},
                                headers={"If-Match": case.headers["ETag"]})  # fmt: skip
        assert completed.status_code == 200, completed.get_json()
        assert completed.get_json()["case_version"] > case.get_json()["version"]
        done.append((task["bpmn_id"], task["lane"]))

    assert signalled
    assert [bpmn for bpmn, _ in done] == [
        "step_01_consultation", "step_02_preparation", "step_03_rpt_start", "step_04_gap_analysis",
        "step_05_decision", "step_06_local_anchoring", "step_07_implementation_plan", "pdsa_plan",
    ]  # fmt: skip
    assert done[-1] == ("pdsa_plan", "lokal_verksamhet") and len({lane for _, lane in done}) >= 4

    # 4. The first cycle is recorded, for the unit, waiting for its Do step.
    cycles = clients["lokal_verksamhet"].get(f"/cases/{case_id}/cycles").get_json()
    assert cycles["total"] == 1 and cycles["items"][0]["number"] == 1 and cycles["items"][0]["stage"] == "do"
    assert cycles["items"][0]["unit_id"] == unit["id"]
    record = clients["lokal_verksamhet"].get(f"/cycles/{cycles['items'][0]['id']}").get_json()
    assert record["objective"] == "Testa en checklista vid inskrivning."
    pending = {t["bpmn_id"] for t in coordinator.get(f"/cases/{case_id}").get_json()["tasks"]}
    assert "pdsa_do" in pending

    # 5. The history: every completion by the person who did it, and the signal.
    history = clients["rpt"].get(f"/cases/{case_id}/history").get_json()
    completions = [h for h in history if h["action"] == "task_completed"]
    names = {person.user_id: person.display_name for person in people.values()}
    assert len(completions) == len(done)
    for entry, (_bpmn, lane) in zip(completions, done, strict=True):
        assert entry["actor_id"] == people[lane].user_id and entry["actor_name"] == names[people[lane].user_id]
    assert any("signal" in h["action"] for h in history)
    assert history[0]["action"] == "case_started"
