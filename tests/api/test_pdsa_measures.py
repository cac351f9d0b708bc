"""PDSA cycles, ramps, the learning library, measures and data points through the API: what each
role may read and change (the case's participants, the unit's staff, the coordinator, an admin, an
outsider), CSV import all or nothing with its report, export, charts per unit, case and region."""

from __future__ import annotations

from tests.api.conftest import World, error


def test_cycles_records_and_ramps_are_for_the_case_and_admins(world: World) -> None:
    unit = world.client("unit")
    cycles = unit.get(f"/cases/{world.case_id}/cycles")
    assert cycles.status_code == 200
    page = cycles.get_json()
    assert page["total"] == 1 and page["page"] == 1 and page["items"][0]["id"] == world.cycle_id
    assert page["items"][0]["unit_id"] == world.unit and page["items"][0]["stage"] == "do"
    assert unit.get(f"/cases/{world.case_id}/cycles?unit_id={world.other_unit}").get_json()["total"] == 0
    assert unit.get(f"/cases/{world.case_id}/cycles?page=2&page_size=1").get_json()["items"] == []
    record = unit.get(f"/cycles/{world.cycle_id}").get_json()
    assert record["objective"] == "Testa en checklista vid inskrivning." and record["questions"][0]["question"]
    assert record["act_decision"] is None and record["ramp_id"] == world.ramp_id
    ramp = world.client("rpt").get(f"/ramps/{world.ramp_id}").get_json()
    assert ramp["status"] == "active" and [c["number"] for c in ramp["cycles"]] == [1]
    assert ramp["measure_ids"] == [world.measure_id]  # the Plan's data plan names the measure
    for who in ("coordinator", "admin", "other_unit"):
        assert world.client(who).get(f"/cycles/{world.cycle_id}").status_code == 200
    for who in ("outsider", "elsewhere"):
        client = world.client(who)
        error(client.get(f"/cases/{world.case_id}/cycles"), 403, "permission_denied")
        error(client.get(f"/cycles/{world.cycle_id}"), 403)
        error(client.get(f"/ramps/{world.ramp_id}"), 403)
    error(unit.get("/cases/999999/cycles"), 404, "not_found")
    error(unit.get("/cycles/999999"), 404)
    error(unit.get("/ramps/999999"), 404)
    error(unit.get(f"/cases/{world.case_id}/cycles?page_size=1000"), 422, "validation")


def test_the_learning_library_searches_every_case_for_everyone(world: World) -> None:
    outsider = world.client("outsider")
    # The first cycle has no Study yet: it is not under "study", but a text search finds its plan.
    assert outsider.get("/learning?step=study").get_json()["total"] == 0
    found = outsider.get("/learning?text=CHECKLISTA").get_json()
    assert found["total"] == 1 and found["terms"] == ["checklista"]
    hit = found["items"][0]
    assert hit["cycle_id"] == world.cycle_id and hit["may_open"] is False and hit["region"]
    assert world.client("unit").get("/learning?text=checklista").get_json()["items"][0]["may_open"] is True
    assert outsider.get("/learning?text=checklista saknas").get_json()["total"] == 0
    assert outsider.get("/learning?page=50").get_json()["page"] == 1  # clamped to the pages there are
    error(outsider.get("/learning?step=plan"), 422, "validation")
    error(outsider.get("/learning?decision=kanske"), 422)
    error(outsider.get("/learning?page_size=0"), 422)


def test_measures_list_define_and_change_by_role(world: World) -> None:
    for who in ("coordinator", "unit", "rpt", "admin"):
        listed = world.client(who).get(f"/cases/{world.case_id}/measures")
        assert listed.status_code == 200
        (measure,) = listed.get_json()
        assert measure["name"] == "Andel med vårdplan" and measure["points"] == 12 and measure["latest"] == "2025-12-01"
    error(world.client("outsider").get(f"/cases/{world.case_id}/measures"), 403)
    error(world.client("coordinator").get("/cases/999999/measures"), 404)

    coordinator = world.client("coordinator")
    created = coordinator.post(f"/cases/{world.case_id}/measures", {
        "name": "Återinläggningar inom 30 dagar", "kind": "outcome", "direction": "lower", "chart_type": "xmr",
        "target": 12.5, "aggregation": "ratio", "recalculations": ["2025-06-01"],
    })  # fmt: skip
    assert created.status_code == 201, created.get_json()
    measure = created.get_json()
    assert (measure["direction"], measure["chart_type"], measure["recalculations"]) == ("lower", "xmr", ["2025-06-01"])
    duplicate = error(coordinator.post(f"/cases/{world.case_id}/measures", {"name": measure["name"]}), 422)
    assert "name" in duplicate["errors"]
    error(coordinator.post(f"/cases/{world.case_id}/measures", {"kind": "outcome"}), 422)  # no name
    error(coordinator.post(f"/cases/{world.case_id}/measures", {"name": "x", "kind": "annat"}), 422)
    # XmR thresholds are 6-8: 9 passes the schema (run charts allow 10) but not the service.
    shift = error(coordinator.patch(f"/measures/{measure['id']}", {"shift_points": 9}), 422)
    assert "shift_points" in shift["errors"]
    error(coordinator.post("/cases/999999/measures", {"name": "x"}), 404)
    for who in ("unit", "rpt", "admin"):
        expected = 201 if who == "admin" else 403
        response = world.client(who).post(f"/cases/{world.case_id}/measures", {"name": f"Mått av {who}"})
        assert response.status_code == expected, (who, response.get_json())
    error(world.client("outsider").post(f"/cases/{world.case_id}/measures", {"name": "y"}), 403)

    changed = coordinator.patch(f"/measures/{measure['id']}", {"target": 10, "definition": "Per 100 utskrivningar"})
    assert changed.status_code == 200
    detail = changed.get_json()
    assert detail["target"] == 10 and detail["can_manage"] is True and detail["case_title"] == "Hjärtsvikt – VGR"
    assert {u["id"] for u in detail["unit_choices"]} == set(world.units)
    assert world.client("unit").get(f"/measures/{measure['id']}").get_json()["can_manage"] is False
    error(world.client("unit").patch(f"/measures/{measure['id']}", {"target": 1}), 403)
    error(world.client("outsider").get(f"/measures/{measure['id']}"), 403)
    error(coordinator.patch("/measures/999999", {"target": 1}), 404)
    error(coordinator.get("/measures/999999"), 404)
    error(coordinator.patch(f"/measures/{measure['id']}", {"unknown": 1}), 422)


def test_data_points_enter_list_chart_and_export(world: World) -> None:
    unit, mid = world.client("unit"), world.measure_id
    points = unit.get(f"/measures/{mid}/data-points?unit={world.unit}&page_size=5")
    assert points.status_code == 200
    page = points.get_json()
    assert page["total"] == 12 and len(page["items"]) == 5 and page["items"][0]["period"] == "2025-01-01"
    # Enter a point for the case as a whole, then correct it.
    entered = unit.post(f"/measures/{mid}/data-points", {"period": "2026-01-01", "value": 61.5, "annotation": "Jul"})
    assert entered.status_code == 200
    point = entered.get_json()
    assert point["unit_id"] is None and point["value"] == 61.5 and point["annotation"] == "Jul"
    corrected = unit.post(f"/measures/{mid}/data-points", {"period": "2026-01-01", "value": 62})
    assert corrected.get_json()["id"] == point["id"] and corrected.get_json()["value"] == 62
    case_series = unit.get(f"/measures/{mid}/data-points").get_json()
    assert [(p["period"], p["value"]) for p in case_series["items"]] == [("2026-01-01", 62.0)]
    # The unit's staff of another unit may enter too (participants of the case); outsiders may not.
    other = world.client("other_unit").post(
        f"/measures/{mid}/data-points", {"unit_id": world.other_unit, "period": "2025-01-01", "value": 40}
    )
    assert other.status_code == 200 and other.get_json()["unit_id"] == world.other_unit
    error(world.client("outsider").post(f"/measures/{mid}/data-points", {"period": "2025-01-01", "value": 1}), 403)
    error(unit.post(f"/measures/{mid}/data-points", {"unit_id": 999999, "period": "2025-01-01", "value": 1}), 422)
    half = error(unit.post(f"/measures/{mid}/data-points", {"period": "2025-01-01", "value": 1, "numerator": 1}), 422)
    assert "numerator" in half["errors"]
    error(unit.post(f"/measures/{mid}/data-points", {"period": "januari", "value": 1}), 422)
    error(unit.post("/measures/999999/data-points", {"period": "2025-01-01", "value": 1}), 404)
    # Charts: the unit, the case, the region (the measure adds up as a mean).
    chart = unit.get(f"/measures/{mid}/chart?unit={world.unit}").get_json()
    assert chart["scope"] == "unit" and len(chart["labels"]) == 12 and len(chart["centre"]) == 12
    assert chart["centre"][0] is not None and chart["measure"]["name"] == "Andel med vårdplan"
    assert unit.get(f"/measures/{mid}/chart?unit=case").get_json()["values"] == [62.0]
    region = unit.get(f"/measures/{mid}/chart?unit=region").get_json()
    assert region["scope"] == "region" and region["values"][0] == (40 + 51) / 2
    error(unit.get(f"/measures/{mid}/chart?unit=999999"), 404)
    error(unit.get(f"/measures/{mid}/chart?unit=alla"), 422)
    error(world.client("outsider").get(f"/measures/{mid}/chart"), 403)
    error(unit.get("/measures/999999/chart"), 404)
    # Export: the format the import reads.
    csv = unit.get(f"/measures/{mid}/data-points.csv")
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    lines = csv.get_data(as_text=True).splitlines()
    assert lines[0] == "period;value;unit;numerator;denominator;annotation;excluded;astronomical"
    assert len(lines) == 1 + 12 + 1 + 1
    only_case = unit.get(f"/measures/{mid}/data-points.csv?unit=case").get_data(as_text=True).splitlines()
    assert only_case[1].startswith("2026-01-01;62;")
    error(unit.get(f"/measures/{mid}/data-points.csv?unit=999999"), 404)
    error(world.client("outsider").get(f"/measures/{mid}/data-points.csv"), 403)


def test_csv_import_is_all_or_nothing_with_a_report_per_row(world: World) -> None:
    unit, mid = world.client("unit"), world.measure_id
    name = world.unit_name(world.unit)
    good = f"period;värde;enhet\n2026-01-01;55,5;{name}\n2026-02-01;56;{name}\n2025-01-01;51;{name}\n"
    imported = unit.post(f"/measures/{mid}/data-points/import", {"csv": good})
    assert imported.status_code == 200
    assert imported.get_json() == {"created": 2, "updated": 0, "unchanged": 1}
    bad = f"period;value;unit\n2026-03-01;57;{name}\ninte-datum;58;{name}\n2026-05-01;x;{name}\n2026-06-01;1;Okänd\n"
    report = error(unit.post(f"/measures/{mid}/data-points/import", {"csv": bad}), 422, "validation")
    assert set(report["errors"]) == {"rad 3", "rad 4", "rad 5"}
    assert unit.get(f"/measures/{mid}/data-points?unit={world.unit}").get_json()["total"] == 14  # nothing of it
    error(unit.post(f"/measures/{mid}/data-points/import", {"csv": "a;b\n1;2\n"}), 422)  # no such columns
    error(unit.post(f"/measures/{mid}/data-points/import", {"csv": ""}), 422)
    error(unit.post(f"/measures/{mid}/data-points/import", {"csv": good, "unit_id": 999999}), 422)
    error(world.client("outsider").post(f"/measures/{mid}/data-points/import", {"csv": good}), 403)
    error(unit.post("/measures/999999/data-points/import", {"csv": good}), 404)
