"""The model workshop's pages through the Flask test client: the models page, the editor and its
JSON save (issues in the answer, nothing stored for bad documents), the form preview, publishing
(refused while the draft has issues), import with its refusals, downloads, retiring a version, the
diff pages and moving cases (dry run, move, undo); who may open what (members 403, unknown ids
404)."""

from __future__ import annotations

import html
import io
import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage
from werkzeug.test import TestResponse, encode_multipart

from engine.persistence import AuditEvent, Case, ModelDraft, ModelVersion, ProcessModel
from tests.bpmn_builder import SIMPLE_FORM, Process
from tests.engine.test_model_workshop import KICKOFF_FORM, _with_kickoff
from tests.factories import Team, make_actor, start_vgr
from tests.web.pages import client_for, csrf
from web import create_app

BPMN = Path(__file__).resolve().parents[2] / "bpmn"
SHIPPED_NAMES = [
    "VGR: införande av vårdförlopp",
    "VGR: införande i en enhet (steg 6–11)",
    "Region Skåne: införande av vårdförlopp via LAG",
    "Region Skåne: introduktion i en verksamhet",
    "PDSA-cykel (Planera–Göra–Studera–Agera)",
]
XXE = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'
BOMB = b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><l>&b;</l>'
BAD_DOCUMENTS = {
    "malformed": b"<bpmn:definitions",
    "external-entity": XXE,
    "entity-expansion": BOMB,
    "not-bpmn": b'<?xml version="1.0"?><html><body>nej</body></html>',
    "too-large": b" " * (2 * 1024 * 1024 + 1),
}


@pytest.fixture()
def app(published: Session, db_engine: Engine) -> Iterator[Flask]:
    app = create_app({"TESTING": True, "DATABASE_URL": db_engine.url.render_as_string(hide_password=False),
                      "SECRET_KEY": "test"})  # fmt: skip
    yield app
    app.extensions["infora.engine"].dispose()


@pytest.fixture()
def vgr(published: Session) -> tuple[int, Team]:
    case_id, team, _units = start_vgr(published, units=1)
    published.commit()
    return case_id, team


def coordinator_client(app: Flask, session: Session, vgr: tuple[int, Team]) -> FlaskClient:
    return client_for(app, session, vgr[1].coordinator.username)


def fresh(session: Session) -> None:
    """Read what the requests wrote: a new transaction (snapshot), and no object kept from before
    (the sessions do not expire objects on commit)."""
    session.commit()
    session.expire_all()


def _version(session: Session, process_id: str, number: int) -> ModelVersion:
    fresh(session)
    return session.scalars(
        select(ModelVersion).join(ProcessModel)
        .where(ProcessModel.process_id == process_id, ModelVersion.number == number)
    ).one()  # fmt: skip


def _count(session: Session, model: Any) -> int:
    fresh(session)
    return session.scalar(select(func.count()).select_from(model)) or 0


def _open(client: FlaskClient, process_id: str = "vgr_introduction") -> int:
    response = client.get(f"/modeller/{process_id}/utkast")
    assert response.status_code == 302, response.get_data(as_text=True)
    match = re.fullmatch(r"/modeller/utkast/(\d+)", response.headers["Location"])
    assert match, response.headers["Location"]
    return int(match.group(1))


def _editor_data(client: FlaskClient, draft_id: int) -> dict[str, Any]:
    page = client.get(f"/modeller/utkast/{draft_id}")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    match = re.search(r'<script type="application/json" id="editor-data">(.*?)</script>', body, re.S)
    assert match
    data: dict[str, Any] = json.loads(match.group(1))
    return data


def _save(client: FlaskClient, draft_id: int, xml: str | bytes, forms: dict[str, Any] | None = None,
          token: str | None = None) -> TestResponse:  # fmt: skip
    body: dict[str, Any] = {"xml": xml.decode("utf-8", "replace") if isinstance(xml, bytes) else xml}
    if forms is not None:
        body["forms"] = forms
    return client.post(f"/modeller/utkast/{draft_id}/spara", json=body,
                       headers={"Accept": "application/json", "X-CSRFToken": token or csrf(client, "/modeller")})  # fmt: skip


def _post(client: FlaskClient, path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> TestResponse:
    return client.post(path, data={"csrf_token": csrf(client, "/konto"), **(data or {})}, **kwargs)


def _text(response: TestResponse) -> str:
    return html.unescape(response.get_data(as_text=True))


def _simple(pid: str) -> bytes:
    p = Process(pid, name="Importerad process")
    p.start()
    p.user_task("a", "Första steget")
    p.end()
    p.chain("start", "a", "end")
    return p.xml()


def test_the_workshop_is_for_coordinators_and_admins(app: Flask, published: Session, vgr: tuple[int, Team]) -> None:
    case_id, team = vgr
    anonymous = app.test_client()
    for path in ("/modeller", "/modeller/vgr_introduction/utkast", "/modeller/vgr_introduction/flytta"):
        response = anonymous.get(path)
        assert response.status_code == 302 and response.headers["Location"].startswith("/logga-in?next=")
    draft_id = _open(coordinator_client(app, published, vgr))
    v1 = _version(published, "vgr_introduction", 1)
    member = client_for(app, published, team.by_role["samordningsrad"].username)
    for path in (
        "/modeller", "/modeller/vgr_introduction/utkast", f"/modeller/utkast/{draft_id}",
        "/modeller/vgr_introduction/utkast/jamfor", f"/modeller/jamfor?fran={v1.id}&till={v1.id}",
        f"/modeller/versioner/{v1.id}.bpmn", f"/modeller/versioner/{v1.id}.zip", "/modeller/vgr_introduction/flytta",
    ):  # fmt: skip
        assert member.get(path).status_code == 403, path
    for path in (
        f"/modeller/utkast/{draft_id}/publicera", f"/modeller/utkast/{draft_id}/kasta",
        f"/modeller/versioner/{v1.id}/status", "/modeller/vgr_introduction/flytta",
        f"/modeller/arenden/{case_id}/flytta-tillbaka", "/modeller/importera",
    ):  # fmt: skip
        assert _post(member, path).status_code == 403, path
    denied = _save(member, draft_id, "<x/>", token=csrf(member, "/konto"))
    assert denied.status_code == 403 and denied.get_json()["code"] == "permission_denied"
    preview = member.post(f"/modeller/utkast/{draft_id}/forhandsvisning", json={"schema": "{}"},
                          headers={"Accept": "application/json", "X-CSRFToken": csrf(member, "/konto")})  # fmt: skip
    assert preview.status_code == 403
    assert "Processmodeller" not in member.get("/uppgifter").get_data(as_text=True)  # no menu link either
    admin = client_for(app, published, make_actor(published, "verkstad.admin", "admin").username)
    assert admin.get("/modeller").status_code == 200


def test_unknown_models_versions_drafts_and_cases_are_404(
    app: Flask, published: Session, vgr: tuple[int, Team]
) -> None:
    client = coordinator_client(app, published, vgr)
    for path in (
        "/modeller/finns_inte/utkast", "/modeller/utkast/999999", "/modeller/versioner/999999.bpmn",
        "/modeller/versioner/999999.zip", "/modeller/jamfor?fran=999998&till=999999", "/modeller/jamfor",
        "/modeller/finns_inte/flytta", "/modeller/vgr_introduction/utkast/jamfor",  # no open draft yet
    ):  # fmt: skip
        assert client.get(path).status_code == 404, path
    assert _post(client, "/modeller/versioner/999999/status", {"status": "retired"}).status_code == 404
    assert _post(client, "/modeller/utkast/999999/publicera").status_code == 404
    assert _save(client, 999999, "<x/>").status_code == 404


def test_the_models_page_lists_versions_running_cases_and_drafts(
    app: Flask, published: Session, vgr: tuple[int, Team]
) -> None:
    client = coordinator_client(app, published, vgr)
    page = _text(client.get("/modeller"))
    for name in SHIPPED_NAMES:
        assert name in page
    vgr_section = page[page.index('id="modell-vgr_introduction"') : page.index('id="modell-vgr_unit"')]
    row = re.search(r'<th scope="row">1.*?</tr>', vgr_section, re.S)
    assert row and "Publicerad" in row.group(0)
    assert re.findall(r"<td>(\d+)</td>", row.group(0)) == ["1"]  # one running case on version 1
    assert "Redigera<span" in vgr_section and "Fortsätt redigera utkastet" not in vgr_section
    # The only published version cannot be retired: the page says so instead of offering it.
    assert "Dra tillbaka" not in vgr_section and "Kan inte dras tillbaka" in vgr_section
    assert 'aria-current="page"' in page and ">Processmodeller</a>" in page  # the menu link, marked as current
    _open(client)
    vgr_section = _text(client.get("/modeller")).split('id="modell-vgr_introduction"')[1].split('id="modell-')[0]
    assert "Fortsätt redigera utkastet" in vgr_section and "inga kända problem" in vgr_section


def test_the_editor_opens_one_draft_and_carries_its_data_without_inline_script(
    app: Flask, published: Session, vgr: tuple[int, Team]
) -> None:
    client = coordinator_client(app, published, vgr)
    draft_id = _open(client)
    assert _open(client) == draft_id  # one open draft per model
    page = client.get(f"/modeller/utkast/{draft_id}").get_data(as_text=True)
    for script in re.findall(r"<script[^>]*>", page):
        assert 'src="' in script or 'type="application/json"' in script, script
    assert not re.search(r"<[^>]+\son[a-z]+=", page)  # no event-handler attributes either
    data = _editor_data(client, draft_id)
    assert data["processId"] == "vgr_introduction" and "step_02_preparation" in data["xml"]
    assert "vgr_preparation.schema.json" in data["forms"] and json.loads(data["forms"]["vgr_preparation.schema.json"])
    assert "Samordningsråd" in data["roles"] and data["issues"] == [] and data["publishable"] is True
    assert data["saveUrl"] == f"/modeller/utkast/{draft_id}/spara" and data["csrfToken"]
    assert data["texts"]["noIssues"].startswith("Inga problem") and data["kinds"]["userTask"] == "Användaruppgift"


def test_save_answers_with_issues_and_publish_waits_for_a_clean_draft(
    app: Flask, published: Session, vgr: tuple[int, Team]
) -> None:
    client = coordinator_client(app, published, vgr)
    draft_id = _open(client)
    xml = _editor_data(client, draft_id)["xml"]
    versions = _count(published, ModelVersion)

    response = _save(client, draft_id, _with_kickoff(xml, form=False))
    assert response.status_code == 200
    answer = response.get_json()
    assert answer["publishable"] is False
    assert [(i["code"], i["element_id"]) for i in answer["issues"]] == [("missing_form", "step_02b_kickoff")]
    assert "saknar formulär" in answer["issues"][0]["message"] and answer["savedAt"]
    assert "1 problem att rätta" in _text(client.get("/modeller"))
    refused = _post(client, f"/modeller/utkast/{draft_id}/publicera")
    assert refused.status_code == 302 and refused.headers["Location"] == f"/modeller/utkast/{draft_id}"
    assert "publicerades inte" in _text(client.get(refused.headers["Location"]))
    assert _count(published, ModelVersion) == versions

    forms = {**_editor_data(client, draft_id)["forms"], "kickoff.schema.json": json.dumps(KICKOFF_FORM)}
    clean = _save(client, draft_id, _with_kickoff(xml, form=True), forms).get_json()
    assert clean["issues"] == [] and clean["publishable"] is True
    published_ = _post(client, f"/modeller/utkast/{draft_id}/publicera")
    assert published_.status_code == 302 and published_.headers["Location"] == "/modeller#modell-vgr_introduction"
    page = _text(client.get("/modeller"))
    assert "VGR: införande av vårdförlopp version 2 är publicerad" in page
    v2 = _version(published, "vgr_introduction", 2)
    assert "kickoff.schema.json" in v2.forms and "step_02b_kickoff" in v2.bpmn_xml
    actions = published.scalars(select(AuditEvent.action).where(AuditEvent.entity == "model_draft")).all()
    assert actions == ["model_draft_opened", "model_draft_saved", "model_draft_saved", "model_draft_published"]
    # The published draft is closed: its editor sends you back; publishing it again changes nothing.
    closed = client.get(f"/modeller/utkast/{draft_id}")
    assert closed.status_code == 302 and closed.headers["Location"] == "/modeller"
    assert _post(client, f"/modeller/utkast/{draft_id}/publicera").status_code == 302
    assert _count(published, ModelVersion) == versions + 1
    assert _save(client, draft_id, xml).status_code == 409


@pytest.mark.parametrize("kind", sorted(BAD_DOCUMENTS))
def test_a_bad_document_is_refused_with_issues_and_nothing_is_stored(
    app: Flask, published: Session, vgr: tuple[int, Team], kind: str
) -> None:
    client = coordinator_client(app, published, vgr)
    draft_id = _open(client)
    before = _editor_data(client, draft_id)["xml"]
    response = _save(client, draft_id, BAD_DOCUMENTS[kind])
    assert response.status_code == 422
    answer = response.get_json()
    assert answer["message"] == "Modellen sparades inte." and answer["issues"]
    assert answer["issues"][0]["code"] == ("too_large" if kind == "too-large" else "invalid_xml")
    assert answer["issues"][0]["message"]
    assert _editor_data(client, draft_id)["xml"] == before
    assert (
        published.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "model_draft_saved"))
        == 0
    )


def test_saves_refuse_a_new_process_id_bad_forms_and_malformed_requests(
    app: Flask, published: Session, vgr: tuple[int, Team]
) -> None:
    client = coordinator_client(app, published, vgr)
    draft_id = _open(client)
    xml = _editor_data(client, draft_id)["xml"]
    renamed = _save(client, draft_id, xml.replace('<bpmn:process id="vgr_introduction"', '<bpmn:process id="annan"'))
    assert renamed.status_code == 422 and renamed.get_json()["issues"][0]["code"] == "process_id_changed"
    bad_form = _save(client, draft_id, xml, {"trasig.schema.json": "{inte json"})
    assert bad_form.status_code == 422
    (issue,) = bad_form.get_json()["issues"]
    assert issue["file"] == "trasig.schema.json" and "JSON Schema" in issue["message"]
    no_xml = client.post(f"/modeller/utkast/{draft_id}/spara", json={"forms": {}},
                         headers={"Accept": "application/json", "X-CSRFToken": csrf(client, "/modeller")})  # fmt: skip
    assert no_xml.status_code == 400 and no_xml.get_json()["code"] == "bad_request"
    forms_list = _save(client, draft_id, xml, ["a"])  # type: ignore[arg-type]
    assert forms_list.status_code == 400
    no_token = client.post(
        f"/modeller/utkast/{draft_id}/spara", json={"xml": xml}, headers={"Accept": "application/json"}
    )
    assert no_token.status_code == 400 and no_token.get_json()["code"] == "csrf"
    assert _editor_data(client, draft_id)["xml"] == xml


def test_the_form_preview_renders_with_the_task_page_renderer(
    app: Flask, published: Session, vgr: tuple[int, Team]
) -> None:
    client = coordinator_client(app, published, vgr)
    draft_id = _open(client)

    def preview(text: str) -> dict[str, Any]:
        response = client.post(f"/modeller/utkast/{draft_id}/forhandsvisning", json={"schema": text},
                               headers={"Accept": "application/json", "X-CSRFToken": csrf(client, "/modeller")})  # fmt: skip
        assert response.status_code == 200
        body: dict[str, Any] = response.get_json()
        return body

    shown = preview(json.dumps(SIMPLE_FORM))
    assert shown["ok"] is True
    assert 'for="forhandsvisning-comment"' in shown["html"] and "Kommentar" in shown["html"]
    broken = preview('{"type": "object",')
    assert broken["ok"] is False and broken["message"].startswith("Ingen giltig JSON: rad 1")
    not_a_form = preview('["a"]')
    assert not_a_form == {"ok": False, "message": "Ett formulär är ett JSON Schema av typen object."}
    escaped = preview(json.dumps({"type": "object", "properties": {"x": {"type": "string", "title": "<b>fet</b>"}}}))
    assert "<b>" not in escaped["html"] and "&lt;b&gt;fet" in escaped["html"]


def test_import_a_new_model_and_a_new_draft_of_an_existing_one(
    app: Flask, published: Session, vgr: tuple[int, Team]
) -> None:
    client = coordinator_client(app, published, vgr)
    response = _post(client, "/modeller/importera", {
        "bpmn": (io.BytesIO(_simple("kronoberg_prov")), "kronoberg_prov.bpmn"),
        "forms": [(io.BytesIO(json.dumps(SIMPLE_FORM).encode()), "simple.schema.json")],
        "into": "",
    }, content_type="multipart/form-data")  # fmt: skip
    assert response.status_code == 302
    draft_id = int(response.headers["Location"].rsplit("/", 1)[1])
    data = _editor_data(client, draft_id)
    assert data["processId"] == "kronoberg_prov" and data["issues"] == [] and "simple.schema.json" in data["forms"]
    page = _text(client.get("/modeller"))
    assert 'id="modell-kronoberg_prov"' in page and "Modellen är importerad men inte publicerad än." in page
    assert _post(client, f"/modeller/utkast/{draft_id}/publicera").status_code == 302
    assert _version(published, "kronoberg_prov", 1).status == "published"

    into = _post(client, "/modeller/importera", {
        "bpmn": (io.BytesIO((BPMN / "pdsa_cycle.bpmn").read_bytes()), "pdsa_cycle.bpmn"), "into": "pdsa_cycle",
    }, content_type="multipart/form-data")  # fmt: skip
    assert into.status_code == 302
    assert _editor_data(client, int(into.headers["Location"].rsplit("/", 1)[1]))["processId"] == "pdsa_cycle"


@pytest.mark.parametrize(
    ("upload", "forms", "into", "message"),
    [
        (BAD_DOCUMENTS["malformed"], [], "", "XML"),
        (XXE, [], "", "DTD"),
        (BOMB, [], "", "DTD"),
        (BAD_DOCUMENTS["not-bpmn"], [], "", "BPMN"),
        (BAD_DOCUMENTS["too-large"], [], "", "större än 2 MB"),
        ((BPMN / "vgr_unit.bpmn").read_bytes(), [], "", "Det finns redan en modell med processens id 'vgr_unit'"),
        ((BPMN / "vgr_unit.bpmn").read_bytes(), [], "pdsa_cycle", "Filens process heter 'vgr_unit', inte 'pdsa_cycle'"),
        (_simple("ny_modell"), [("trasig.json", b"{inte json")], "", "JSON Schema"),
        (_simple("ny_modell"), [("anteckning.txt", b"{}")], "", "ska sluta på .json"),
        (b"\xff\xfe<x/>", [], "", "UTF-8"),
        (None, [], "", "Välj en BPMN-fil"),
    ],
    ids=[
        "malformed",
        "external-entity",
        "entity-bomb",
        "not-bpmn",
        "too-large",
        "id-clash",
        "wrong-model",
        "bad-form",
        "form-not-json-file",
        "not-utf8",
        "no-file",
    ],
)
def test_a_bad_upload_shows_a_clear_error_and_stores_nothing(
    app: Flask, published: Session, vgr: tuple[int, Team], upload: bytes | None,
    forms: list[tuple[str, bytes]], into: str, message: str,
) -> None:  # fmt: skip
    client = coordinator_client(app, published, vgr)
    drafts, audits = _count(published, ModelDraft), _count(published, AuditEvent)
    values: dict[str, Any] = {"csrf_token": csrf(client, "/konto"), "into": into,
                              "forms": [FileStorage(io.BytesIO(body), name) for name, body in forms]}  # fmt: skip
    if upload is not None:
        values["bpmn"] = FileStorage(io.BytesIO(upload), "modell.bpmn")
    # Encoded in memory: the test client would spool a large body to a temporary file it never closes.
    boundary, body = encode_multipart(values)
    response = client.post("/modeller/importera", data=body,
                           content_type=f"multipart/form-data; boundary={boundary}")  # fmt: skip
    assert response.status_code == 200  # the page again, with the error (as every form of the application)
    page = _text(response)
    summary = page[page.index('id="import-errors"') :]
    summary = summary[: summary.index("</div>")]
    assert "Filen importerades inte" in summary and message in summary, summary
    assert (_count(published, ModelDraft), _count(published, AuditEvent)) == (drafts, audits)


def test_a_version_downloads_as_bpmn_and_as_zip_with_its_forms(
    app: Flask, published: Session, vgr: tuple[int, Team]
) -> None:
    client = coordinator_client(app, published, vgr)
    v1 = _version(published, "vgr_introduction", 1)
    xml = client.get(f"/modeller/versioner/{v1.id}.bpmn")
    assert xml.status_code == 200 and xml.mimetype == "application/xml"
    assert xml.headers["Content-Disposition"] == 'attachment; filename="vgr_introduction.bpmn"'
    assert xml.get_data(as_text=True) == v1.bpmn_xml
    archive = client.get(f"/modeller/versioner/{v1.id}.zip")
    assert archive.status_code == 200 and archive.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(archive.get_data())) as z:
        names = set(z.namelist())
        assert "vgr_introduction.bpmn" in names and "forms/vgr_preparation.schema.json" in names
        assert json.loads(z.read("forms/vgr_preparation.schema.json")) == v1.forms["vgr_preparation.schema.json"]
        assert z.read("vgr_introduction.bpmn").decode() == v1.bpmn_xml


def _publish_kickoff(client: FlaskClient, base_xml: str | None = None) -> None:
    """Version 2 of VGR: the kick-off task (with its form) added to ``base_xml`` (the draft's XML)."""
    draft_id = _open(client)
    data = _editor_data(client, draft_id)
    forms = {**data["forms"], "kickoff.schema.json": json.dumps(KICKOFF_FORM)}
    xml = _with_kickoff(base_xml or data["xml"], form=True)
    assert _save(client, draft_id, xml, forms).get_json()["issues"] == []
    assert _post(client, f"/modeller/utkast/{draft_id}/publicera").status_code == 302


def test_retire_and_publish_a_version_again(app: Flask, published: Session, vgr: tuple[int, Team]) -> None:
    client = coordinator_client(app, published, vgr)
    v1 = _version(published, "vgr_introduction", 1)
    last = _post(client, f"/modeller/versioner/{v1.id}/status", {"status": "retired"}, follow_redirects=True)
    assert "Den sista publicerade versionen kan inte dras tillbaka" in _text(last)
    assert _version(published, "vgr_introduction", 1).status == "published"
    _publish_kickoff(client)
    assert _text(client.get("/modeller")).count("Dra tillbaka<span") == 2
    retired = _post(client, f"/modeller/versioner/{v1.id}/status", {"status": "retired"}, follow_redirects=True)
    assert "Versionen är tillbakadragen" in _text(retired)
    assert _version(published, "vgr_introduction", 1).status == "retired"
    unknown = _post(client, f"/modeller/versioner/{v1.id}/status", {"status": "borta"}, follow_redirects=True)
    assert "Okänd status." in _text(unknown) and _version(published, "vgr_introduction", 1).status == "retired"
    again = _post(client, f"/modeller/versioner/{v1.id}/status", {"status": "published"}, follow_redirects=True)
    assert "Versionen är publicerad igen" in _text(again)
    assert _version(published, "vgr_introduction", 1).status == "published"


def test_the_diff_pages_list_changes_in_words(app: Flask, published: Session, vgr: tuple[int, Team]) -> None:
    client = coordinator_client(app, published, vgr)
    draft_id = _open(client)
    xml = _editor_data(client, draft_id)["xml"]
    _save(client, draft_id, _with_kickoff(xml, form=False))
    draft_page = _text(client.get("/modeller/vgr_introduction/utkast/jamfor"))
    assert "Skillnader mellan version 1 och utkastet" in draft_page and "Uppstartsmöte" in draft_page
    _publish_kickoff(client, xml)
    v1, v2 = _version(published, "vgr_introduction", 1), _version(published, "vgr_introduction", 2)
    page = _text(client.get(f"/modeller/jamfor?fran={v1.id}&till={v2.id}"))
    assert "Skillnader mellan version 1 och version 2" in page
    added = page[page.index('id="added-heading"') : page.index('id="removed-heading"')]
    assert "Tillagda (2)" in added and "Uppstartsmöte" in added and "Användaruppgift" in added
    changed = page[page.index('id="changed-heading"') : page.index('id="diagrams-heading"')]
    assert "Samordningsråd" in changed and "Ändrat: flöden" in changed
    data = json.loads(re.search(r'id="diff-data">(.*?)</script>', page, re.S).group(1))  # type: ignore[union-attr]
    assert {c["id"] for c in data["changes"]["added"]} == {"step_02b_kickoff", "flow_02b"}
    assert data["old"] == v1.bpmn_xml and data["new"] == v2.bpmn_xml and data["badges"]["added"] == "+ Ny"
    same = _text(client.get(f"/modeller/jamfor?fran={v2.id}&till={v2.id}"))
    assert "Inga skillnader" in same
    other = _version(published, "pdsa_cycle", 1)
    assert client.get(f"/modeller/jamfor?fran={v1.id}&till={other.id}").status_code == 422


def test_move_cases_after_a_dry_run_and_move_one_back(app: Flask, published: Session, vgr: tuple[int, Team]) -> None:
    case_id, _team = vgr
    client = coordinator_client(app, published, vgr)
    _publish_kickoff(client)
    v1, v2 = _version(published, "vgr_introduction", 1), _version(published, "vgr_introduction", 2)
    page = _text(client.get("/modeller/vgr_introduction/flytta"))
    assert f'id="case-{case_id}"' in page and f'<option value="{v2.id}" selected>' in page
    never = _post(client, f"/modeller/arenden/{case_id}/flytta-tillbaka", {"process_id": "vgr_introduction"},
                  follow_redirects=True)  # fmt: skip
    assert "Ärendet har inte flyttats." in _text(never)

    none = _post(client, "/modeller/vgr_introduction/flytta", {"version_id": v2.id, "action": "dry_run"})
    assert none.status_code == 200 and "Välj minst ett ärende" in _text(none)

    dry = _post(client, "/modeller/vgr_introduction/flytta",
                {"version_id": v2.id, "case_ids": [case_id], "action": "dry_run"})  # fmt: skip
    assert dry.status_code == 200
    table = _text(dry).split("Kan ärendena flyttas?")[1].split("</table>")[0]
    assert "Kan flyttas" in table and f"#{case_id}" in table
    assert f'name="case_ids" value="{case_id}"' in _text(dry) and "Flytta 1 ärende" in _text(dry)
    fresh(published)
    assert published.get(Case, case_id).model_version_id == v1.id  # type: ignore[union-attr]

    same = _post(client, "/modeller/vgr_introduction/flytta",
                 {"version_id": v1.id, "case_ids": [case_id], "action": "dry_run"})  # fmt: skip
    assert "Kan inte flyttas" in _text(same) and "Ärendet använder redan den versionen." in _text(same)

    moved = _post(client, "/modeller/vgr_introduction/flytta",
                  {"version_id": v2.id, "case_ids": [case_id], "action": "move"})  # fmt: skip
    assert moved.status_code == 200 and "1 av 1 ärenden är flyttade" in _text(moved)
    fresh(published)
    assert published.get(Case, case_id).model_version_id == v2.id  # type: ignore[union-attr]
    assert "flyttades från version 1 till version 2" in _text(client.get("/modeller/vgr_introduction/flytta"))

    back = _post(client, f"/modeller/arenden/{case_id}/flytta-tillbaka", {"process_id": "vgr_introduction"})
    assert back.status_code == 302 and back.headers["Location"] == "/modeller/vgr_introduction/flytta"
    assert "är flyttat tillbaka till version 1" in _text(client.get(back.headers["Location"]))
    fresh(published)
    assert published.get(Case, case_id).model_version_id == v1.id  # type: ignore[union-attr]
    actions = published.scalars(
        select(AuditEvent.action).where(AuditEvent.case_id == case_id, AuditEvent.action == "case_migrated")
    ).all()
    assert len(actions) == 2


def test_discard_a_draft(app: Flask, published: Session, vgr: tuple[int, Team]) -> None:
    client = coordinator_client(app, published, vgr)
    draft_id = _open(client)
    response = _post(client, f"/modeller/utkast/{draft_id}/kasta", follow_redirects=True)
    assert "Utkastet är kastat." in _text(response)
    fresh(published)
    assert published.scalar(select(ModelDraft.status).where(ModelDraft.id == draft_id)) == "discarded"
    assert _open(client) != draft_id  # the next edit starts a new draft
    again = _post(client, f"/modeller/utkast/{draft_id}/kasta", follow_redirects=True)
    assert "redan publicerat eller kastat" in _text(again)
