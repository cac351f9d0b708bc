"""Process models through the API: the list, uploading drafts (JSON and files), saving with
validation, publishing, discarding, downloading, diffs, retiring versions, and moving running cases
(dry run, move, undo) — with every refusal and the roles (coordinators and admins only)."""

from __future__ import annotations

import io
from pathlib import Path

from tests.api.conftest import World, error

BPMN = Path(__file__).resolve().parents[2] / "bpmn"
PDSA = (BPMN / "pdsa_cycle.bpmn").read_text(encoding="utf-8")
COPY = PDSA.replace('id="pdsa_cycle"', 'id="pdsa_copy"')
BROKEN_FORM = 'value="pdsa_plan.schema.json"'


def test_the_models_list_is_for_coordinators(world: World) -> None:
    models = world.client("elsewhere").get("/models")
    assert models.status_code == 200
    vgr = next(m for m in models.get_json() if m["process_id"] == "vgr_introduction")
    assert vgr["versions"][0]["number"] == 1 and vgr["versions"][0]["running_cases"] == 1 and vgr["draft_id"] is None
    assert world.client("admin").get("/models").status_code == 200
    for who in ("unit", "rpt", "outsider"):
        error(world.client(who).get("/models"), 403, "permission_denied")


def test_a_draft_from_json_is_saved_validated_published_and_then_closed(world: World) -> None:
    coordinator = world.client("elsewhere")
    created = coordinator.post("/models/drafts", {"xml": COPY})
    assert created.status_code == 201
    draft = created.get_json()
    assert (draft["process_id"], draft["status"], draft["issues"], draft["publishable"]) == (
        "pdsa_copy", "open", [], True,
    )  # fmt: skip
    assert draft["base_version_id"] is None and 'id="pdsa_copy"' in draft["xml"]
    # The same process id again is refused: it belongs to the open draft.
    clash = error(coordinator.post("/models/drafts", {"xml": COPY}), 422, "invalid_model")
    assert any("process_id_clash" in m for ms in clash["errors"].values() for m in ms)
    # Saving a document with a problem keeps it, with the problem pinned to its element.
    broken = COPY.replace(BROKEN_FORM, 'value="saknas.schema.json"', 1)
    saved = coordinator.put(f"/models/drafts/{draft['id']}", {"xml": broken})
    assert saved.status_code == 200
    issues = saved.get_json()["issues"]
    assert issues and saved.get_json()["publishable"] is False and issues[0]["element_id"] == "pdsa_plan"
    # Publishing it is refused with every issue as a field error under its element id.
    refused = error(coordinator.post(f"/models/drafts/{draft['id']}/publish"), 422, "invalid_model")
    assert "pdsa_plan" in refused["errors"]
    # Another process id in the document is refused and nothing is stored.
    error(coordinator.put(f"/models/drafts/{draft['id']}", {"xml": PDSA}), 422, "invalid_model")
    error(coordinator.put(f"/models/drafts/{draft['id']}", {"xml": "<nej/>"}), 422)
    error(coordinator.put(f"/models/drafts/{draft['id']}", {"forms": {}}), 422, "validation")  # xml is required
    assert coordinator.get(f"/models/drafts/{draft['id']}").get_json()["issues"] == issues
    # Fixed, with a form of its own (as an object), it publishes as version 1.
    form = {"type": "object", "properties": {"note": {"type": "string"}}}
    fixed = coordinator.put(f"/models/drafts/{draft['id']}", {"xml": COPY, "forms": {"extra.schema.json": form}})
    assert fixed.get_json()["publishable"] is True and fixed.get_json()["forms"] == {"extra.schema.json": form}
    published = coordinator.post(f"/models/drafts/{draft['id']}/publish")
    assert published.status_code == 201
    version = published.get_json()
    assert (version["process_id"], version["number"], version["created"]) == ("pdsa_copy", 1, True)
    # A published draft is closed.
    error(coordinator.put(f"/models/drafts/{draft['id']}", {"xml": COPY}), 409, "conflict")
    error(coordinator.post(f"/models/drafts/{draft['id']}/publish"), 409)
    error(coordinator.delete(f"/models/drafts/{draft['id']}"), 409)
    assert coordinator.get(f"/models/drafts/{draft['id']}").get_json()["status"] == "published"
    # Its XML and forms can be downloaded.
    xml = coordinator.get(f"/models/versions/{version['id']}/bpmn")
    assert xml.status_code == 200 and xml.mimetype == "application/xml" and b'id="pdsa_copy"' in xml.data
    assert xml.headers["Content-Disposition"] == 'attachment; filename="pdsa_copy.bpmn"'
    forms = coordinator.get(f"/models/versions/{version['id']}/forms").get_json()
    assert forms["process_id"] == "pdsa_copy" and forms["forms"]["pdsa_plan.schema.json"]["type"] == "object"


def test_bad_documents_and_forms_are_refused_with_their_reasons(world: World) -> None:
    coordinator = world.client("coordinator")
    unsafe = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "x">]><definitions>&e;</definitions>'
    assert error(coordinator.post("/models/drafts", {"xml": unsafe}), 422, "invalid_model")["errors"]
    bad_form = error(coordinator.post("/models/drafts", {"xml": COPY, "forms": {"a.schema.json": "{nej"}}), 422)
    assert "forms.a.schema.json" in bad_form["errors"]
    error(coordinator.post("/models/drafts", {"xml": COPY, "forms": {"a.txt": {}}}), 422)
    error(coordinator.post("/models/drafts", {}), 422, "validation")
    too_large = coordinator.post("/models/drafts", {"xml": "x" * (16 * 1024 * 1024 + 1)})
    error(too_large, 413)
    error(world.client("rpt").post("/models/drafts", {"xml": COPY}), 403)


def test_a_draft_from_files_and_into_an_existing_model(world: World) -> None:
    coordinator = world.client("coordinator")
    files = {
        "bpmn": (io.BytesIO(COPY.encode()), "copy.bpmn"),
        "forms": [(io.BytesIO(b'{"type": "object"}'), "tom.schema.json")],
    }
    created = coordinator.post("/models/drafts/files", data=files, content_type="multipart/form-data")
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["forms"] == {"tom.schema.json": {"type": "object"}}
    latin1 = {"bpmn": (io.BytesIO(COPY.encode()), "c.bpmn"), "forms": [(io.BytesIO("å".encode("latin-1")), "f.json")]}
    refused = error(coordinator.post("/models/drafts/files", data=latin1, content_type="multipart/form-data"), 422)
    assert "forms/f.json" in refused["errors"]
    error(coordinator.post("/models/drafts/files", data={}, content_type="multipart/form-data"), 422, "validation")
    # A file for an existing model becomes that model's open draft.
    renamed = PDSA.replace('name="Planera"', 'name="Planera cykeln"', 1)
    into = coordinator.post(
        "/models/drafts/files?into_process_id=pdsa_cycle",
        data={"bpmn": (io.BytesIO(renamed.encode()), "pdsa.bpmn")},
        content_type="multipart/form-data",
    )
    assert into.status_code == 201 and into.get_json()["process_id"] == "pdsa_cycle"
    assert into.get_json()["base_version_id"] is not None
    opened = coordinator.post("/models/pdsa_cycle/draft")
    assert opened.status_code == 200 and opened.get_json()["id"] == into.get_json()["id"]  # the same open draft
    wrong = coordinator.post("/models/drafts?", {"xml": COPY, "into_process_id": "pdsa_cycle"})
    error(wrong, 422, "invalid_model")
    error(coordinator.post("/models/finns_inte/draft"), 404)
    error(world.client("unit").post("/models/pdsa_cycle/draft"), 403)


def test_discarding_a_draft_and_reading_drafts(world: World) -> None:
    coordinator = world.client("coordinator")
    draft = coordinator.post("/models/vgr_unit/draft").get_json()
    assert draft["base_version_id"] is not None and draft["name"]
    error(world.client("rpt").get(f"/models/drafts/{draft['id']}"), 403)
    error(world.client("rpt").delete(f"/models/drafts/{draft['id']}"), 403)
    assert coordinator.delete(f"/models/drafts/{draft['id']}").status_code == 204
    assert coordinator.get(f"/models/drafts/{draft['id']}").get_json()["status"] == "discarded"
    error(coordinator.delete(f"/models/drafts/{draft['id']}"), 409)
    error(coordinator.get("/models/drafts/999999"), 404)
    error(coordinator.put("/models/drafts/999999", {"xml": COPY}), 404)
    error(coordinator.post("/models/drafts/999999/publish"), 404)


def _new_vgr_version(world: World) -> tuple[int, int]:
    """(old version id, new version id) of vgr_introduction: step 1 renamed."""
    coordinator = world.client("coordinator")
    draft = coordinator.post("/models/vgr_introduction/draft").get_json()
    xml = draft["xml"].replace('name="Öppen remissrunda"', 'name="Öppen remissrunda (ny)"', 1)
    assert coordinator.put(f"/models/drafts/{draft['id']}", {"xml": xml}).get_json()["publishable"] is True
    new = coordinator.post(f"/models/drafts/{draft['id']}/publish").get_json()
    assert new["number"] == 2
    return draft["base_version_id"], new["id"]


def test_diff_and_retiring_versions(world: World) -> None:
    old, new = _new_vgr_version(world)
    coordinator = world.client("coordinator")
    diff = coordinator.get(f"/models/versions/diff?from_id={old}&to_id={new}").get_json()
    assert diff["empty"] is False and diff["added"] == [] and diff["removed"] == []
    assert [(c["element_id"], c["aspects"]) for c in diff["changed"]] == [("step_01_consultation", ["name"])]
    pdsa = next(m for m in coordinator.get("/models").get_json() if m["process_id"] == "pdsa_cycle")
    other = error(coordinator.get(f"/models/versions/diff?from_id={old}&to_id={pdsa['versions'][0]['id']}"), 422)
    assert other["code"] == "validation"
    error(coordinator.get(f"/models/versions/diff?from_id={old}&to_id=999999"), 404)
    error(coordinator.get("/models/versions/diff?from_id=0&to_id=1"), 422)
    error(world.client("rpt").get(f"/models/versions/diff?from_id={old}&to_id={new}"), 403)
    # Retire the old version; the last published one cannot be retired.
    assert coordinator.put(f"/models/versions/{old}/status", {"status": "retired"}).get_json() == {"status": "retired"}
    error(coordinator.put(f"/models/versions/{new}/status", {"status": "retired"}), 409, "conflict")
    error(coordinator.put(f"/models/versions/{new}/status", {"status": "gone"}), 422)
    error(coordinator.put("/models/versions/999999/status", {"status": "retired"}), 404)
    error(world.client("rpt").put(f"/models/versions/{old}/status", {"status": "published"}), 403)
    assert coordinator.put(f"/models/versions/{old}/status", {"status": "published"}).status_code == 200
    error(world.client("rpt").get(f"/models/versions/{old}/bpmn"), 403)
    error(coordinator.get("/models/versions/999999/bpmn"), 404)
    error(coordinator.get("/models/versions/999999/forms"), 404)


def test_moving_running_cases_dry_run_move_and_undo(world: World) -> None:
    old, new = _new_vgr_version(world)
    coordinator = world.client("coordinator")
    body = {"case_ids": [world.case_id]}
    dry = coordinator.post(f"/models/versions/{new}/dry-run", body).get_json()
    assert dry == [{"case_id": world.case_id, "title": "Hjärtsvikt – VGR", "from_version": 1, "to_version": 2,
                    "ok": True, "reasons": []}]  # fmt: skip
    assert coordinator.get(f"/cases/{world.case_id}").get_json()["model_version_id"] == old  # nothing moved
    moved = coordinator.post(f"/models/versions/{new}/migrate", body).get_json()
    assert moved[0]["ok"] is True
    assert coordinator.get(f"/cases/{world.case_id}").get_json()["model_version_id"] == new
    again = coordinator.post(f"/models/versions/{new}/migrate", body).get_json()
    assert again[0]["ok"] is False and again[0]["reasons"]
    back = coordinator.post(f"/cases/{world.case_id}/migration/undo")
    assert back.status_code == 200 and back.get_json()["to_version"] == 1
    assert coordinator.get(f"/cases/{world.case_id}").get_json()["model_version_id"] == old
    # Refusals.
    pdsa = next(m for m in coordinator.get("/models").get_json() if m["process_id"] == "pdsa_cycle")["versions"][0]
    other = coordinator.post(f"/models/versions/{pdsa['id']}/dry-run", body).get_json()
    assert other[0]["ok"] is False  # another process
    error(coordinator.post(f"/models/versions/{new}/dry-run", {"case_ids": []}), 422, "validation")
    error(coordinator.post("/models/versions/999999/dry-run", body), 404)
    error(coordinator.post("/models/versions/999999/migrate", body), 404)
    error(coordinator.post(f"/models/versions/{new}/dry-run", {"case_ids": [999999]}), 404)
    spare = coordinator.post("/cases", {"process_id": "pdsa_cycle", "title": "Aldrig flyttad", "participants": []})
    assert spare.status_code == 201
    error(coordinator.post(f"/cases/{spare.get_json()['id']}/migration/undo"), 409, "conflict")
    for who in ("rpt", "unit"):
        error(world.client(who).post(f"/models/versions/{new}/dry-run", body), 403)
        error(world.client(who).post(f"/models/versions/{new}/migrate", body), 403)
        error(world.client(who).post(f"/cases/{world.case_id}/migration/undo"), 403)
