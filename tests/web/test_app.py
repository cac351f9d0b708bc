"""The web layer so far: the start page, the health check, errors in one format, and the
``infora`` command."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from engine.errors import ConflictError, ValidationError
from web import create_app
from web.cli import main


@pytest.fixture()
def app(published: object, db_engine: Engine, tmp_path: Path) -> Iterator[Flask]:
    app = create_app(
        {"TESTING": True, "DATABASE_URL": db_engine.url.render_as_string(hide_password=False), "SECRET_KEY": "t"}
    )

    @app.get("/_test/conflict")
    def conflict() -> str:
        raise ConflictError("Uppgiften är redan klar.")

    @app.get("/_test/invalid")
    def invalid() -> str:
        raise ValidationError("Fel i formuläret.", {"title": ["Fältet är obligatoriskt."]})

    @app.get("/_test/crash")
    def crash() -> str:
        raise RuntimeError("boom")

    yield app
    app.extensions["infora.engine"].dispose()


@pytest.fixture()
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def test_start_page_is_swedish_and_lists_the_pathway_catalogue(client: FlaskClient) -> None:
    assert '<html lang="sv">' in client.get("/").get_data(as_text=True)
    page = client.get("/vardforlopp")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert '<html lang="sv">' in html
    assert "Nationella vårdförlopp" in html
    assert "Diabetes med hög risk för fotsår" in html and "Planering pågår" in html
    assert "Hypertoni" in html and "Under framtagande" in html


def test_health(client: FlaskClient) -> None:
    body = client.get("/health").get_json()
    assert (body["status"], body["database"], body["schema"]) == ("ok", "ok", "ok")


def test_errors_are_json_for_json_clients_and_pages_otherwise(client: FlaskClient) -> None:
    body = client.get("/_test/conflict", headers={"Accept": "application/json"}).get_json()
    assert body == {"status": 409, "code": "conflict", "message": "Uppgiften är redan klar.", "errors": {}}
    invalid = client.get("/_test/invalid", headers={"Accept": "application/json"})
    assert invalid.status_code == 422
    assert invalid.get_json()["errors"] == {"title": ["Fältet är obligatoriskt."]}
    page = client.get("/_test/conflict")
    assert page.status_code == 409 and "Uppgiften är redan klar." in page.get_data(as_text=True)
    missing = client.get("/finns-inte")
    assert missing.status_code == 404 and "Sidan finns inte." in missing.get_data(as_text=True)
    crash = client.get("/_test/crash", headers={"Accept": "application/json"})
    assert crash.status_code == 500 and "boom" not in crash.get_data(as_text=True)


def test_cli_init_users_and_publishing(tmp_path: Path) -> None:
    runner = CliRunner()
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    first = runner.invoke(main, ["--database-url", url, "init", "--no-demo"])
    assert first.exit_code == 0, first.output
    assert "Modell vgr_introduction v1 (ny version)" in first.output
    again = runner.invoke(main, ["--database-url", url, "init", "--no-demo"])
    assert "Modell vgr_introduction v1 (oförändrad)" in again.output

    added = runner.invoke(
        main,
        ["--database-url", url, "user", "add", "eva", "--name", "Eva Ek", "--role", "coordinator"],
        input="ett-langt-losenord\nett-langt-losenord\n",
    )
    assert added.exit_code == 0, added.output
    short = runner.invoke(main, ["--database-url", url, "user", "add", "bo", "--name", "Bo"], input="kort\nkort\n")
    assert short.exit_code == 2 and "Minst 10 tecken" in short.output
    listed = runner.invoke(main, ["--database-url", url, "user", "list"])
    assert "eva\tcoordinator\tEva Ek\taktiv" in listed.output

    broken = tmp_path / "models"
    (broken / "forms").mkdir(parents=True)
    (broken / "bad.bpmn").write_text(
        '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"><bpmn:process id="bad" '
        'isExecutable="true"><bpmn:scriptTask id="evil" /></bpmn:process></bpmn:definitions>'
    )
    refused = runner.invoke(main, ["--database-url", url, "model", "publish", str(broken)])
    assert refused.exit_code == 2
    assert "[script_task] bad.bpmn evil" in refused.output
