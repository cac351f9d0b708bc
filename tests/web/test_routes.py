"""Every page through the Flask test client: who may open what (403 for another team's task, 404 for
unknown ids), CSRF, forms that keep their input on error and change nothing, the task flow, the
language switch."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po
from flask import Flask
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from engine.persistence import Case, FormSubmission, Notification, TaskIndexRow
from tests.factories import Team, do, make_actor, start_vgr, task_row, walk_vgr_to_units
from tests.web.pages import client_for, csrf, form_fields
from web import create_app


@pytest.fixture()
def app(published: Session, db_engine: Engine) -> Iterator[Flask]:
    app = create_app({"TESTING": True, "DATABASE_URL": db_engine.url.render_as_string(hide_password=False),
                      "SECRET_KEY": "test"})  # fmt: skip
    yield app
    app.extensions["infora.engine"].dispose()


@pytest.fixture()
def vgr(published: Session) -> tuple[int, Team, list[int]]:
    case_id, team, units = start_vgr(published, units=2)
    published.commit()
    walk_vgr_to_units(published, team, case_id)
    return case_id, team, units


def test_pages_need_a_signed_in_person(app: Flask) -> None:
    client = app.test_client()
    for path in ("/uppgifter", "/oversikt", "/aviseringar", "/arenden/1", "/planerat", "/admin/anvandare"):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"].startswith("/logga-in?next=")
    assert client.get("/vardforlopp").status_code == 200  # the national catalogue is public
    assert client.get("/health").get_json()["status"] == "ok"


def test_members_see_their_own_tasks_only(app: Flask, published: Session, vgr: tuple[int, Team, list[int]]) -> None:
    case_id, team, (a, _b) = vgr
    row_a = task_row(published, case_id, "step_06_local_anchoring", unit=a)
    inforande = client_for(app, published, team.by_role["inforandeansvarig"].username)
    inbox = inforande.get("/uppgifter").get_data(as_text=True)
    assert (
        len(set(re.findall(r'href="/uppgifter/([0-9a-f-]{36})"', inbox))) == 2
        and f"/uppgifter/{row_a.task_id}" in inbox
    )
    assert inforande.get(f"/uppgifter/{row_a.task_id}").status_code == 200
    outsider = client_for(app, published, team.outsider.username)  # type: ignore[union-attr]
    assert "Inga uppgifter väntar på dig" in outsider.get("/uppgifter").get_data(as_text=True)
    assert outsider.get(f"/uppgifter/{row_a.task_id}").status_code == 403
    assert outsider.get(f"/arenden/{case_id}").status_code == 403
    assert outsider.get("/uppgifter/00000000-0000-4000-8000-000000000000").status_code == 404
    assert outsider.get("/arenden/999999").status_code == 404
    json_error = outsider.get(f"/uppgifter/{row_a.task_id}", headers={"Accept": "application/json"})
    assert json_error.status_code == 403 and json_error.get_json()["code"] == "permission_denied"
    staff_a = client_for(app, published, team.by_unit[a].username)
    assert staff_a.get(f"/uppgifter/{row_a.task_id}").status_code == 403  # another role's task
    for path in ("/arenden/nytt", "/planerat", "/admin/anvandare"):
        assert staff_a.get(path).status_code == 403
    coordinator = client_for(app, published, team.coordinator.username)
    assert coordinator.get("/admin/anvandare").status_code == 403
    assert coordinator.get(f"/arenden/{case_id}").status_code == 200
    diagram = coordinator.get(f"/arenden/{case_id}/diagram").get_json()
    assert "per_unit" in diagram["current"] and "step_05_decision" in diagram["completed"]
    assert diagram["xml"].lstrip().startswith("<?xml")


def _snapshot(session: Session, case_id: int) -> tuple[Any, ...]:
    session.rollback()
    return (
        session.scalar(select(Case.version).where(Case.id == case_id)),
        session.scalar(select(func.count()).select_from(FormSubmission)),
        tuple(
            session.scalars(
                select(TaskIndexRow.task_id).where(TaskIndexRow.case_id == case_id).order_by(TaskIndexRow.id)
            )
        ),
    )


def test_posting_without_csrf_token_is_refused(
    app: Flask, published: Session, vgr: tuple[int, Team, list[int]]
) -> None:
    case_id, team, (a, _b) = vgr
    row = task_row(published, case_id, "step_06_local_anchoring", unit=a)
    client = client_for(app, published, team.by_role["inforandeansvarig"].username)
    fields = form_fields(client.get(f"/uppgifter/{row.task_id}").get_data(as_text=True), f"/uppgifter/{row.task_id}")
    before = _snapshot(published, case_id)
    del fields["csrf_token"]
    response = client.post(f"/uppgifter/{row.task_id}", data={**fields, "action": "complete"})
    assert response.status_code == 400 and "Ladda om sidan" in response.get_data(as_text=True)
    assert client.post("/logga-ut").status_code == 400
    assert _snapshot(published, case_id) == before


def test_a_form_with_errors_keeps_the_input_and_changes_nothing_then_completes(
    app: Flask, published: Session, vgr: tuple[int, Team, list[int]]
) -> None:
    case_id, team, (a, _b) = vgr
    published.commit()
    do(published, team, case_id, "step_06_local_anchoring", unit=a)
    task_id = task_row(published, case_id, "step_07_implementation_plan", unit=a).task_id
    staff = client_for(app, published, team.by_unit[a].username)
    page = staff.get(f"/uppgifter/{task_id}").get_data(as_text=True)
    fields = form_fields(page, f"/uppgifter/{task_id}")
    before = _snapshot(published, case_id)
    # Nothing chosen for "already works per the pathway?" (required), a text typed in elsewhere.
    fields["f.rpt_contact"] = "Vi börjar med teamträffar på måndagar"
    fields.pop("f.already_compliant", None)
    response = staff.post(f"/uppgifter/{task_id}", data={**fields, "action": "complete"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Formuläret har fel" in html and "Fältet är obligatoriskt." in html
    assert "Vi börjar med teamträffar på måndagar" in html
    assert 'aria-invalid="true"' in html
    assert _snapshot(published, case_id) == before
    # Save as draft, come back: the values are still there.
    assert staff.post(f"/uppgifter/{task_id}", data={**fields, "action": "draft"}).status_code == 302
    again = staff.get(f"/uppgifter/{task_id}").get_data(as_text=True)
    assert "Vi börjar med teamträffar på måndagar" in again and "Utkastet är sparat." in again
    # Complete it properly: the next step appears for the right role.
    fields["f.already_compliant"] = "ja"
    done = staff.post(f"/uppgifter/{task_id}", data={**fields, "action": "complete"})
    assert done.status_code == 302 and done.headers["Location"] == "/uppgifter"
    published.rollback()
    assert task_row(published, case_id, "step_09_follow_up", unit=a).lane == "lokal_verksamhet"
    assert staff.get(f"/uppgifter/{task_id}").status_code == 404


def test_claim_unclaim_and_reassign(app: Flask, published: Session, vgr: tuple[int, Team, list[int]]) -> None:
    case_id, team, (a, _b) = vgr
    row = task_row(published, case_id, "step_06_local_anchoring", unit=a)
    person = client_for(app, published, team.by_role["inforandeansvarig"].username)
    token = csrf(person, "/uppgifter")
    assert person.post(f"/uppgifter/{row.task_id}/ta", data={"csrf_token": token}).status_code == 302
    assert "Lämna tillbaka uppgiften" in person.get(f"/uppgifter/{row.task_id}").get_data(as_text=True)
    assert (
        person.post(f"/uppgifter/{row.task_id}/ta", data={"csrf_token": token, "next": "https://evil.example/"})
        .headers["Location"]
        .startswith("/")
    )
    assert person.post(f"/uppgifter/{row.task_id}/lamna", data={"csrf_token": token}).status_code == 302
    coordinator = client_for(app, published, team.coordinator.username)
    token = csrf(coordinator, f"/uppgifter/{row.task_id}")
    other = make_actor(published, "annan.person")
    published.commit()
    response = coordinator.post(
        f"/uppgifter/{row.task_id}/tilldela", data={"csrf_token": token, "user_id": str(other.user_id)}
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    assert "Uppgiften är tilldelad." in coordinator.get(response.headers["Location"]).get_data(as_text=True)
    published.expire_all()  # the app changed the row; this session's objects do not expire on commit
    assert task_row(published, case_id, "step_06_local_anchoring", unit=a).assignee_id == other.user_id
    bad = coordinator.post(f"/uppgifter/{row.task_id}/tilldela", data={"csrf_token": token, "user_id": "x"})
    assert bad.status_code == 422


def test_language_switch_and_login_rate_limit(app: Flask, published: Session) -> None:
    client = app.test_client()
    page = client.get("/logga-in").get_data(as_text=True)
    assert '<html lang="sv">' in page and "Användarnamn" in page
    token = form_fields(page)["csrf_token"]
    client.post("/sprak", data={"csrf_token": token, "lang": "en", "next": "/logga-in"})
    english = client.get("/logga-in").get_data(as_text=True)
    assert '<html lang="en">' in english and "Username" in english and "Svenska" in english
    make_actor(published, "eva")
    published.commit()
    statuses = [
        client.post("/logga-in", data={"csrf_token": token, "username": "eva", "password": f"fel-{i}"}).status_code
        for i in range(6)
    ]
    assert statuses == [401] * 5 + [429]


def test_coordinator_starts_an_introduction_and_errors_keep_input(app: Flask, published: Session) -> None:
    coordinator = make_actor(published, "koordinatorn", "coordinator")
    published.commit()
    client = client_for(app, published, coordinator.username)
    page = client.get("/arenden/nytt").get_data(as_text=True)
    fields = form_fields(page, "/arenden/nytt")
    fields.update({"title": "Depression – VGR", "process_id": "vgr_introduction"})
    bad = client.post("/arenden/nytt", data=fields)
    assert bad.status_code == 200 and "Formuläret har fel" in bad.get_data(as_text=True)
    html = bad.get_data(as_text=True)
    assert "Välj minst en enhet" in html and 'value="Depression – VGR"' in html
    unit = next(
        v
        for k, v in form_fields(page.replace('name="unit_ids"', 'name="unit_ids" checked', 1), "/arenden/nytt").items()
        if k == "unit_ids"
    )
    good = client.post("/arenden/nytt", data={**fields, "unit_ids": unit})
    assert good.status_code == 302 and good.headers["Location"].startswith("/arenden/")
    case_page = client.get(good.headers["Location"].split("#")[0]).get_data(as_text=True)
    assert "Depression – VGR" in case_page and "Öppen remissrunda" in case_page


def test_overview_catalogue_notifications_and_admin(
    app: Flask, published: Session, vgr: tuple[int, Team, list[int]]
) -> None:
    admin = make_actor(published, "adm", "admin")
    published.commit()
    client = client_for(app, published, admin.username)
    overview = client.get("/oversikt").get_data(as_text=True)
    assert "Hjärtsvikt – VGR" in overview and "Vårdförlopp och regioner" in overview
    assert client.get("/vardforlopp").status_code == 200
    assert client.get("/aviseringar").status_code == 200
    assert client.get("/planerat").status_code == 200
    users = client.get("/admin/anvandare")
    token = form_fields(users.get_data(as_text=True))["csrf_token"]
    bad = client.post(
        "/admin/anvandare", data={"csrf_token": token, "action": "create", "username": "X Y", "display_name": ""}
    )
    assert bad.status_code == 200 and 'value="X Y"' in bad.get_data(as_text=True)
    assert "Formuläret har fel" in bad.get_data(as_text=True)
    good = client.post("/admin/anvandare", data={"csrf_token": token, "action": "create", "username": "ny.person",
                                                 "display_name": "Ny Person", "system_role": "member"})  # fmt: skip
    assert good.status_code == 302
    assert "ny.person" in client.get("/admin/anvandare").get_data(as_text=True)


def test_my_account_calendar_link_and_password(app: Flask, published: Session) -> None:
    member = make_actor(published, "kalle")
    published.commit()
    client = client_for(app, published, member.username)
    token = csrf(client, "/konto")
    page = client.post("/konto/kalender", data={"csrf_token": token, "action": "create"}).get_data(as_text=True)
    url = re.search(r'value="(http[^"]+/kalender/[^"]+\.ics)"', page)
    assert url is not None
    path = url.group(1).split("127.0.0.1:5000")[-1]
    assert client.get(path).status_code == 200
    client.post("/konto/kalender", data={"csrf_token": token, "action": "revoke"})
    assert client.get(path).status_code == 404
    short = client.post("/konto/losenord", data={"csrf_token": token, "password": "kort", "password_again": "kort"})
    assert "Minst 10 tecken" in short.get_data(as_text=True)
    ok = client.post(
        "/konto/losenord",
        data={"csrf_token": token, "password": "ett-nytt-losenord", "password_again": "ett-nytt-losenord"},
    )
    assert ok.status_code == 302


def test_the_english_catalogue_is_complete() -> None:
    catalogue = Path(__file__).resolve().parents[2] / "web" / "translations" / "en" / "LC_MESSAGES" / "messages.po"
    with catalogue.open("rb") as handle:
        messages = [m for m in read_po(handle) if m.id]
    assert messages and [m.id for m in messages if not m.string or m.fuzzy] == []


def test_case_management_routes(app: Flask, published: Session) -> None:
    case_id, team, (_unit, _other) = start_vgr(published, units=2)
    published.commit()
    member = client_for(app, published, team.by_role["kunskapsstyrning"].username)
    coordinator = client_for(app, published, team.coordinator.username)
    token_m, token_c = csrf(member, "/uppgifter"), csrf(coordinator, "/uppgifter")
    # Only the coordinator steers the case.
    assert (
        member.post(f"/arenden/{case_id}/status", data={"csrf_token": token_m, "action": "suspend"}).status_code == 403
    )
    assert (
        coordinator.post(f"/arenden/{case_id}/status", data={"csrf_token": token_c, "action": "nonsense"}).status_code
        == 422
    )
    assert (
        coordinator.post(f"/arenden/{case_id}/status", data={"csrf_token": token_c, "action": "suspend"}).status_code
        == 302
    )
    assert "Pausad" in coordinator.get(f"/arenden/{case_id}").get_data(as_text=True)
    assert (
        coordinator.post(f"/arenden/{case_id}/status", data={"csrf_token": token_c, "action": "resume"}).status_code
        == 302
    )
    refused = coordinator.post(f"/arenden/{case_id}/status", data={"csrf_token": token_c, "action": "cancel"})
    assert refused.status_code == 422  # not confirmed: nothing happens
    # Participants.
    newcomer = make_actor(published, "ny.deltagare")
    published.commit()
    add = {"csrf_token": token_c, "user_id": str(newcomer.user_id), "role": "rpt", "unit_id": ""}
    assert member.post(f"/arenden/{case_id}/deltagare", data={**add, "csrf_token": token_m}).status_code == 403
    assert coordinator.post(f"/arenden/{case_id}/deltagare", data=add).status_code == 302
    assert coordinator.post(f"/arenden/{case_id}/deltagare", data=add).status_code == 409  # already there
    bad_unit = coordinator.post(
        f"/arenden/{case_id}/deltagare", data={**add, "role": "lokal_verksamhet", "unit_id": "999"}
    )
    assert bad_unit.status_code == 422
    page = coordinator.get(f"/arenden/{case_id}").get_data(as_text=True)
    assert "Ny.Deltagare" in page
    # Comments: any participant; an empty one is refused.
    assert member.post(f"/arenden/{case_id}/kommentar", data={"csrf_token": token_m, "text": "  "}).status_code == 422
    assert (
        member.post(
            f"/arenden/{case_id}/kommentar", data={"csrf_token": token_m, "text": "Remissvaret är skickat."}
        ).status_code
        == 302
    )
    assert "Remissvaret är skickat." in coordinator.get(f"/arenden/{case_id}").get_data(as_text=True)
    # The national approval, from the case page's button.
    do(published, team, case_id, "step_01_consultation")
    assert (
        member.post(
            f"/arenden/{case_id}/signal", data={"csrf_token": token_m, "name": "godkand_nationellt"}
        ).status_code
        == 302
    )
    published.expire_all()
    assert task_row(published, case_id, "step_02_preparation").lane == "samordningsrad"
    # Due dates: coordinators only, and a real date.
    row = task_row(published, case_id, "step_02_preparation")
    path = f"/uppgifter/{row.task_id}/forfallodatum"
    assert member.post(path, data={"csrf_token": token_m, "due_date": "2030-01-15"}).status_code == 403
    assert coordinator.post(path, data={"csrf_token": token_c, "due_date": "15/1"}).status_code == 422
    assert coordinator.post(path, data={"csrf_token": token_c, "due_date": "2030-01-15"}).status_code == 302
    assert "15 januari 2030" in coordinator.get(f"/uppgifter/{row.task_id}").get_data(as_text=True)
    # Cancelling, confirmed, empties every inbox of the case's tasks.
    cancelled = coordinator.post(
        f"/arenden/{case_id}/status", data={"csrf_token": token_c, "action": "cancel", "confirm": "ja"}
    )
    assert cancelled.status_code == 302
    assert coordinator.get(f"/uppgifter/{row.task_id}").status_code == 404


def test_notifications_are_marked_read(app: Flask, published: Session) -> None:
    person = make_actor(published, "lasare")
    published.add_all(
        [
            Notification(user_id=person.user_id, kind="reminder", title=f"Påminnelse {i}", body="", link="/uppgifter")
            for i in range(3)
        ]
    )
    published.commit()
    client = client_for(app, published, person.username)
    page = client.get("/aviseringar").get_data(as_text=True)
    assert page.count("Markera som läst") == 3 and 'aria-label="3 olästa"' in page
    token = form_fields(page)["csrf_token"]
    first = published.scalars(select(Notification.id).order_by(Notification.id)).first()
    client.post("/aviseringar/last", data={"csrf_token": token, "id": str(first)})
    assert client.get("/aviseringar").get_data(as_text=True).count("Markera som läst") == 2
    client.post("/aviseringar/last", data={"csrf_token": token})
    assert "Markera som läst" not in client.get("/aviseringar").get_data(as_text=True)


def test_task_comments_and_admin_password_reset(
    app: Flask, published: Session, vgr: tuple[int, Team, list[int]]
) -> None:
    case_id, team, (a, _b) = vgr
    task_id = task_row(published, case_id, "step_06_local_anchoring", unit=a).task_id
    person = client_for(app, published, team.by_role["inforandeansvarig"].username)
    token = csrf(person, f"/uppgifter/{task_id}")
    assert person.post(f"/uppgifter/{task_id}/kommentar", data={"csrf_token": token, "text": ""}).status_code == 422
    saved = person.post(
        f"/uppgifter/{task_id}/kommentar", data={"csrf_token": token, "text": "Mötet är bokat till tisdag."}
    )
    assert saved.status_code == 302 and saved.headers["Location"].endswith("#kommentarer")
    assert "Mötet är bokat till tisdag." in person.get(f"/uppgifter/{task_id}").get_data(as_text=True)
    outsider = client_for(app, published, team.outsider.username)  # type: ignore[union-attr]
    refused = outsider.post(
        f"/uppgifter/{task_id}/kommentar", data={"csrf_token": csrf(outsider, "/uppgifter"), "text": "Hej"}
    )
    assert refused.status_code == 403

    admin = make_actor(published, "losen.admin", "admin")
    published.commit()
    client = client_for(app, published, admin.username)
    token = csrf(client, "/admin/anvandare")
    target = team.by_role["rpt"].username
    short = client.post("/admin/anvandare", data={"csrf_token": token, "action": "password", "username": target,
                                                  "password": "kort"})  # fmt: skip
    assert "Minst 10 tecken" in short.get_data(as_text=True)
    done = client.post("/admin/anvandare", data={"csrf_token": token, "action": "password", "username": target,
                                                 "password": "ett-helt-nytt-losenord"})  # fmt: skip
    assert done.status_code == 302
    fresh = app.test_client()
    signed_in = fresh.post("/logga-in", data={"username": target, "password": "ett-helt-nytt-losenord",
                                              "csrf_token": csrf(fresh)})  # fmt: skip
    assert signed_in.status_code == 302
