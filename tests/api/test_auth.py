"""Who may call the API: bearer tokens (valid, unknown, revoked, expired, of a deactivated person),
the session cookie for reads, and the cookie with its CSRF token for writes; the open document and
docs page; one error format for every refusal."""

from __future__ import annotations

from datetime import timedelta
from http import HTTPStatus

import time_machine
from flask import Flask
from sqlalchemy import update
from sqlalchemy.orm import Session

from engine.clock import utcnow
from engine.persistence import User
from engine.services.tokens import create_token, revoke_token
from tests.api.conftest import PREFIX, ApiClient, World, error, token_for
from tests.factories import make_actor
from tests.web.pages import csrf, sign_in


def test_the_document_and_the_docs_page_are_open(app: Flask) -> None:
    client = app.test_client()
    spec = client.get(f"{PREFIX}/openapi.json")
    assert spec.status_code == 200
    doc = spec.get_json()
    assert doc["openapi"] == "3.1.0" and doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    page = client.get(f"{PREFIX}/docs")
    assert page.status_code == 200 and "openapi.json" in page.get_data(as_text=True)


def test_every_operation_documents_its_errors_in_the_one_format(app: Flask) -> None:
    doc = app.test_client().get(f"{PREFIX}/openapi.json").get_json()
    operations = [
        (path, method, op) for path, ops in doc["paths"].items() for method, op in ops.items() if method != "parameters"
    ]
    assert len(operations) >= 55
    for path, method, op in operations:
        assert "401" in op["responses"], (method, path)
        if method in ("post", "put", "patch", "delete"):
            assert "400" in op["responses"], (method, path)
        if "{" in path:
            assert "404" in op["responses"] or path.startswith(f"{PREFIX}/notifications"), (method, path)
        for status, response in op["responses"].items():
            if status.startswith(("4", "5")):
                assert response["$ref"] == f"#/components/responses/{HTTPStatus(int(status)).name}", (method, path)
    assert doc["components"]["responses"]["NOT_FOUND"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }


def test_without_credentials_or_with_a_bad_token_every_call_is_401(world: World) -> None:
    anonymous = ApiClient(world.app.test_client(), None)
    error(anonymous.get("/tasks"), 401, "not_authenticated")
    error(anonymous.post(f"/cases/{world.case_id}/cancel", {"reason": "x"}), 401)
    for header in ("Bearer inf_nope", "Bearer", "Basic dXNlcjpwYXNz", "Token " + world.client("rpt").token):  # type: ignore[operator]
        response = world.app.test_client().get(f"{PREFIX}/tasks", headers={"Authorization": header})
        error(response, 401, "not_authenticated")


def test_a_revoked_token_gets_401_and_an_expired_one_too(world: World) -> None:
    rpt = world.client("rpt")
    assert rpt.get("/tasks").status_code == 200
    tokens = rpt.get("/tokens").get_json()
    assert [t["name"] for t in tokens] == ["rpt"] and tokens[0]["active"] is True and "secret" not in tokens[0]
    revoked = rpt.delete(f"/tokens/{tokens[0]['id']}")
    assert revoked.status_code == 200 and revoked.get_json()["active"] is False
    error(rpt.get("/tasks"), 401, "not_authenticated")
    # Expired: valid for one day, used two days later.
    s = world.session
    info, secret = create_token(s, world.actor("rpt"), "kort", 1)
    s.commit()
    short = ApiClient(world.app.test_client(), secret)
    assert short.get("/tasks").status_code == 200
    with time_machine.travel(utcnow() + timedelta(days=2)):
        error(short.get("/tasks"), 401)
    # A deactivated person's tokens stop working at once.
    s.execute(update(User).where(User.id == world.actor("rpt").user_id).values(active=False))
    s.commit()
    with time_machine.travel(utcnow()):
        error(short.get("/tasks"), 401)
    assert info.id


def test_tokens_resource_create_list_revoke_and_refusals(world: World) -> None:
    member = world.client("kunskapsstyrning")
    created = member.post("/tokens", {"name": "rapportskript", "days": 30})
    assert created.status_code == 201
    body = created.get_json()
    assert body["secret"].startswith("inf_") and body["active"] is True and body["name"] == "rapportskript"
    assert body["prefix"] == body["secret"][:8]
    # The new token acts as its owner.
    assert ApiClient(world.app.test_client(), body["secret"]).get("/tokens").status_code == 200
    assert [t["name"] for t in member.get("/tokens").get_json()] == ["rapportskript", "kunskapsstyrning"]
    # Validation: the schema (422 with field errors), and the service's own checks.
    bad = error(member.post("/tokens", {"name": "", "days": 0}), 422, "validation")
    assert set(bad["errors"]) == {"name", "days"}
    error(member.post("/tokens", {"name": "   "}), 422, "validation")
    # A token without an end date is for the infora command only, never over the API.
    assert "days" in error(member.post("/tokens", {"name": "för evigt", "days": None}), 422, "validation")["errors"]
    # Someone else's token: 404 (not even its existence is told); admins may revoke anyone's.
    other = world.client("rpt").get("/tokens").get_json()[0]["id"]
    error(member.delete(f"/tokens/{other}"), 404, "not_found")
    assert world.client("admin").delete(f"/tokens/{other}").get_json()["active"] is False
    error(member.delete("/tokens/99999999"), 404)
    error(member.delete("/tokens/99999999999"), 404)  # beyond any id: the route does not match


def test_a_malformed_body_is_400_and_a_wrong_shape_is_422_with_field_paths(world: World) -> None:
    coordinator = world.client("coordinator")
    bad_json = coordinator.post("/tokens", data="{not json", headers={"Content-Type": "application/json"})
    error(bad_json, 400)
    wrong = error(coordinator.post("/cases", {"title": 5, "unit_ids": ["a"], "participants": [{"role": ""}]}), 422)
    assert {"title", "process_id", "unit_ids/0", "participants/0/user_id", "participants/0/role"} <= set(
        wrong["errors"]
    )
    unknown = error(coordinator.post("/tokens", {"name": "x", "extra": 1}), 422)
    assert "extra" in unknown["errors"]


def test_text_no_database_stores_is_refused_before_any_view(world: World) -> None:
    coordinator = world.client("coordinator")
    refused = error(coordinator.post("/tokens", {"name": "nul\u0000tecken"}), 422, "validation")
    assert refused["errors"] == {"": [refused["errors"][""][0]]}
    error(coordinator.get("/tasks?step=a%00b"), 422)
    error(coordinator.post("/tokens", {"name": "ensam \ud800 surrogat"}), 422, "validation")
    error(coordinator.post("/tokens", {"name": "bakvänd \udc00"}), 422, "validation")
    assert [t["name"] for t in coordinator.get("/tokens").get_json()] == ["coordinator"]
    # Escapes that are storable text pass: a surrogate pair (an emoji), Swedish letters, and an
    # escaped backslash before "u0000" (the text \u0000, not a NUL).
    for name in ("glad 😀", "åäö ÅÄÖ", "snedstreck \\u0000"):
        assert coordinator.post("/tokens", {"name": name}).status_code == HTTPStatus.CREATED, name


def test_the_session_cookie_reads_but_writes_only_with_the_csrf_token(world: World) -> None:
    s = world.session
    browser = world.app.test_client()
    sign_in(browser, s, world.actor("coordinator").username)
    assert browser.get(f"{PREFIX}/cases/{world.case_id}").status_code == 200
    # A write with the cookie alone is refused (another site could make the browser send it).
    refused = browser.post(f"{PREFIX}/tokens", json={"name": "från webbläsaren"})
    error(refused, 400, "csrf")
    wrong = browser.post(f"{PREFIX}/tokens", json={"name": "x"}, headers={"X-CSRFToken": "forged"})
    error(wrong, 400, "csrf")
    token = csrf(browser, "/konto")
    accepted = browser.post(f"{PREFIX}/tokens", json={"name": "från webbläsaren"}, headers={"X-CSRFToken": token})
    assert accepted.status_code == 201
    tokens = browser.get(f"{PREFIX}/tokens").get_json()
    assert [t["name"] for t in tokens] == ["från webbläsaren"]
    # After signing out the cookie no longer authenticates.
    browser.post("/logga-ut", data={"csrf_token": token})
    error(browser.get(f"{PREFIX}/tasks"), 401)


def test_the_system_cannot_hold_tokens_and_a_person_holds_at_most_twenty(published: Session, app: Flask) -> None:
    person = make_actor(published, "manga.nycklar")
    published.commit()
    client = ApiClient(app.test_client(), token_for(published, person, "första"))
    for n in range(19):
        assert client.post("/tokens", {"name": f"nyckel {n}"}).status_code == 201
    too_many = error(client.post("/tokens", {"name": "en till"}), 422)
    assert "name" in too_many["errors"]
    revoke_token(published, person, client.get("/tokens").get_json()[0]["id"])
    published.commit()
    assert client.post("/tokens", {"name": "en till"}).status_code == 201
