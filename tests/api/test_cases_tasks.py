"""Cases, tasks, the catalogue and notifications through the API: success, each refusal (403, 404,
409, 412, 422) and what each role may do (the case's coordinator, a member with a role, the unit's
staff, an admin, an outsider, a coordinator of other cases)."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import ApiClient, World, error


def _task(client: ApiClient, case_id: int, bpmn_id: str) -> dict[str, Any]:
    tasks = client.get(f"/cases/{case_id}").get_json()["tasks"]
    return next(t for t in tasks if t["bpmn_id"] == bpmn_id)


def test_cases_list_show_and_history_per_role(world: World) -> None:
    for who in ("coordinator", "rpt", "unit", "admin"):
        listed = world.client(who).get("/cases").get_json()
        assert [c["id"] for c in listed["items"]] == [world.case_id] and listed["total"] == 1, who
    assert world.client("outsider").get("/cases").get_json() == {"items": [], "total": 0, "page": 1, "page_size": 50}
    coordinator = world.client("coordinator")
    assert coordinator.get("/cases?status=completed").get_json()["total"] == 0
    assert coordinator.get("/cases?process_id=vgr_introduction&page_size=1").get_json()["total"] == 1
    error(coordinator.get("/cases?status=okänd"), 422, "validation")
    error(coordinator.get("/cases?page=0"), 422)
    shown = world.client("unit").get(f"/cases/{world.case_id}")
    assert shown.status_code == 200 and shown.headers["ETag"] == f'"{shown.get_json()["version"]}"'
    assert set(shown.get_json()["unit_ids"]) == set(world.units) and shown.get_json()["tasks"]
    history = world.client("rpt").get(f"/cases/{world.case_id}/history").get_json()
    assert history[0]["action"] == "case_started" and any(h["action"] == "task_completed" for h in history)
    for who in ("outsider", "elsewhere"):
        error(world.client(who).get(f"/cases/{world.case_id}"), 403, "permission_denied")
        error(world.client(who).get(f"/cases/{world.case_id}/history"), 403)
    error(coordinator.get("/cases/999999"), 404, "not_found")
    error(coordinator.get("/cases/999999/history"), 404)


def test_starting_a_case(world: World) -> None:
    body = {"process_id": "skane_lag", "title": "Sepsis", "unit_ids": [world.unit],
            "participants": [{"user_id": world.actor("rpt").user_id, "role": "lag"}]}  # fmt: skip
    started = world.client("elsewhere").post("/cases", body)
    assert started.status_code == 201
    case = started.get_json()
    assert started.headers["ETag"] == f'"{case["version"]}"' and started.headers["Location"].endswith(f"/{case['id']}")
    assert case["status"] == "running" and case["unit_ids"] == [world.unit]
    assert world.client("admin").post("/cases", body).status_code == 201
    for who in ("rpt", "unit", "outsider"):
        error(world.client(who).post("/cases", body), 403, "permission_denied")
    error(world.client("elsewhere").post("/cases", {**body, "process_id": "finns_inte"}), 404)
    refused = error(world.client("elsewhere").post("/cases", {**body, "unit_ids": [999999]}), 422, "validation")
    assert refused["errors"]
    error(world.client("elsewhere").post("/cases", {**body, "title": ""}), 422)


def test_signals_and_the_case_version_as_if_match(world: World) -> None:
    coordinator = world.client("coordinator")
    case = coordinator.get(f"/cases/{world.case_id}")
    stale = coordinator.post(f"/cases/{world.case_id}/signals", {"name": "x"}, headers={"If-Match": '"1"'})
    error(stale, 412)
    # A signal the case's model does not know is refused (the national approval is sent in test_e2e).
    unknown = coordinator.post(f"/cases/{world.case_id}/signals", {"name": "ingen_väntar"},
                               headers={"If-Match": case.headers["ETag"]})  # fmt: skip
    assert error(unknown, 422)["message"]
    error(world.client("outsider").post(f"/cases/{world.case_id}/signals", {"name": "x"}), 403)
    error(coordinator.post("/cases/999999/signals", {"name": "x"}), 404)
    error(coordinator.post(f"/cases/{world.case_id}/signals", {"name": ""}), 422)


def test_suspend_resume_cancel_by_the_coordinator_only(world: World) -> None:
    coordinator, case_id = world.client("coordinator"), world.case_id
    for who in ("rpt", "unit", "outsider", "elsewhere"):
        assert error(world.client(who).post(f"/cases/{case_id}/suspend", {"reason": "x"}), 403)
    version = coordinator.get(f"/cases/{case_id}").get_json()["version"]
    plan = _task(coordinator, case_id, "pdsa_do")
    error(coordinator.post(f"/cases/{case_id}/suspend", {}, headers={"If-Match": f'"{version - 1}"'}), 412)
    suspended = coordinator.post(
        f"/cases/{case_id}/suspend", {"reason": "Semester"}, headers={"If-Match": f'"{version}"'}
    )
    assert suspended.status_code == 200 and suspended.get_json()["status"] == "suspended"
    assert suspended.headers["ETag"] == f'"{suspended.get_json()["version"]}"'
    # A paused case takes no work.
    error(world.client("unit").post(f"/tasks/{plan['task_id']}/complete", {"data": {}}), 409, "conflict")
    error(coordinator.post(f"/cases/{case_id}/suspend", {}), 409)
    assert coordinator.post(f"/cases/{case_id}/resume", {}).get_json()["status"] == "running"
    error(coordinator.post(f"/cases/{case_id}/resume", {}), 409)
    assert (
        world.client("admin").post(f"/cases/{case_id}/cancel", {"reason": "Stoppat"}).get_json()["status"]
        == "cancelled"
    )
    error(coordinator.post(f"/cases/{case_id}/cancel", {}), 409)
    error(coordinator.post("/cases/999999/cancel", {}), 404)
    error(coordinator.post(f"/cases/{case_id}/cancel", {"reason": "x" * 1001}), 422)


def test_the_inbox_and_a_task_per_role(world: World) -> None:
    unit, case_id = world.client("unit"), world.case_id
    inbox = unit.get("/tasks").get_json()
    steps = {t["step"] for t in inbox["items"]}
    assert inbox["total"] == len(inbox["items"]) >= 1 and all(t["case_id"] == case_id for t in inbox["items"])
    assert "Göra" in steps  # the unit's PDSA Do step
    assert world.client("outsider").get("/tasks").get_json()["total"] == 0
    assert unit.get("/tasks?mine=true").get_json()["total"] == 0
    assert unit.get("/tasks?due=overdue").status_code == 200
    error(unit.get("/tasks?due=igår"), 422, "validation")
    task = _task(world.client("coordinator"), case_id, "pdsa_do")
    detail = unit.get(f"/tasks/{task['task_id']}").get_json()
    assert detail["can_act"] is True and detail["form"]["type"] == "object" and detail["unit"]
    assert world.client("coordinator").get(f"/tasks/{task['task_id']}").get_json()["can_act"] is True
    for who in ("outsider", "other_unit", "elsewhere"):
        error(world.client(who).get(f"/tasks/{task['task_id']}"), 403, "permission_denied")
    error(unit.get("/tasks/finns-inte"), 404, "not_found")


def test_claim_unclaim_reassign_and_comment(world: World) -> None:
    coordinator, unit = world.client("coordinator"), world.client("unit")
    task_id = _task(coordinator, world.case_id, "pdsa_do")["task_id"]
    error(world.client("other_unit").post(f"/tasks/{task_id}/claim"), 403)
    claimed = unit.post(f"/tasks/{task_id}/claim")
    assert claimed.status_code == 200 and claimed.get_json()["assignee_id"] == world.actor("unit").user_id
    assert unit.post(f"/tasks/{task_id}/claim").status_code == 200  # again: still theirs
    assert unit.get("/tasks?mine=true").get_json()["total"] == 1
    error(coordinator.post(f"/tasks/{task_id}/claim"), 409, "conflict")  # taken by someone else
    error(world.client("other_unit").post(f"/tasks/{task_id}/unclaim"), 403)
    assert unit.post(f"/tasks/{task_id}/unclaim").get_json()["assignee_id"] is None
    # Reassigning is the coordinator's.
    other = world.actor("other_unit").user_id
    error(unit.post(f"/tasks/{task_id}/reassign", {"user_id": other}), 403)
    moved = coordinator.post(f"/tasks/{task_id}/reassign", {"user_id": other})
    assert moved.status_code == 200 and moved.get_json()["assignee_id"] == other
    error(coordinator.post(f"/tasks/{task_id}/reassign", {"user_id": 999999}), 422, "validation")
    error(coordinator.post(f"/tasks/{task_id}/reassign", {}), 422)
    error(coordinator.post("/tasks/finns-inte/claim"), 404)
    error(coordinator.post("/tasks/finns-inte/unclaim"), 404)
    error(coordinator.post("/tasks/finns-inte/reassign", {"user_id": other}), 404)
    # Comments: anyone who may see the task.
    comment = world.client("other_unit").post(f"/tasks/{task_id}/comments", {"text": "Jag tar den."})
    assert comment.status_code == 201 and comment.get_json()["text"] == "Jag tar den."
    error(unit.post(f"/tasks/{task_id}/comments", {"text": ""}), 422)
    error(world.client("outsider").post(f"/tasks/{task_id}/comments", {"text": "Hej"}), 403)
    error(unit.post("/tasks/finns-inte/comments", {"text": "Hej"}), 404)
    detail = coordinator.get(f"/tasks/{task_id}").get_json()
    assert [c["text"] for c in detail["comments"]] == ["Jag tar den."]


def test_completing_a_task(world: World) -> None:
    coordinator, unit = world.client("coordinator"), world.client("unit")
    case = coordinator.get(f"/cases/{world.case_id}")
    task_id = _task(coordinator, world.case_id, "pdsa_do")["task_id"]
    error(world.client("other_unit").post(f"/tasks/{task_id}/complete", {"data": {}}), 403)
    error(world.client("rpt").post(f"/tasks/{task_id}/complete", {"data": {}}), 403)
    error(world.client("outsider").post(f"/tasks/{task_id}/complete", {"data": {}}), 403)
    invalid = error(unit.post(f"/tasks/{task_id}/complete", {"data": {"carried_out_as_planned": "kanske"}}), 422)
    assert "carried_out_as_planned" in invalid["errors"]
    error(unit.post(f"/tasks/{task_id}/complete", {"data": []}), 422)
    stale = unit.post(f"/tasks/{task_id}/complete", {"data": {"carried_out_as_planned": True}},
                      headers={"If-Match": f'"{case.get_json()["version"] - 1}"'})  # fmt: skip
    error(stale, 412)
    error(unit.post(f"/tasks/{task_id}/complete", {"data": {}}, headers={"If-Match": '"sju"'}), 412)
    done = unit.post(f"/tasks/{task_id}/complete", {"data": {"carried_out_as_planned": True, "observations": "Bra."}},
                     headers={"If-Match": case.headers["ETag"]})  # fmt: skip
    assert done.status_code == 200
    assert done.get_json() == {"case_id": world.case_id, "case_version": case.get_json()["version"] + 1}
    assert done.headers["ETag"] == f'"{case.get_json()["version"] + 1}"'
    again = unit.post(f"/tasks/{task_id}/complete", {"data": {}})
    assert again.status_code in (404, 409)
    error(unit.post("/tasks/finns-inte/complete", {"data": {}}), 404)
    record = unit.get(f"/cycles/{world.cycle_id}").get_json()
    assert record["stage"] == "study" and record["observations"] == "Bra."


def test_catalogue_and_notifications(world: World) -> None:
    member = world.client("unit")
    for name in ("pathways", "regions", "units", "roles", "people", "processes"):
        items = member.get(f"/catalogue/{name}").get_json()
        assert items and {"id", "label", "group"} <= set(items[0]), name
    assert "vgr_introduction" in {p["id"] for p in member.get("/catalogue/processes").get_json()}
    notes = member.get("/notifications?limit=5")
    assert notes.status_code == 200 and isinstance(notes.get_json(), list)
    error(member.get("/notifications?limit=0"), 422)
    assert member.post("/notifications/read").get_json()["marked"] >= 0
    assert member.post("/notifications/999999/read").get_json() == {"marked": 0}
