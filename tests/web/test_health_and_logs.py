"""Operations at the web edge: the readiness check (/health), the access log with its request id,
JSON log lines, the scheduler's pass lines, proxies, and refusing to start with bad settings
(create_app, ``infora check-config``, ``infora scheduler``)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from click.testing import CliRunner
from flask import Flask, request
from flask.testing import FlaskClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from engine.config import ConfigurationError
from engine.logging_setup import SPIFF_LOGGERS, configure_logging
from engine.persistence.database import make_engine
from engine.persistence.schema import MIGRATIONS_DIR, alembic_config
from engine.scheduler import SchedulerSettings
from tests.factories import make_actor, start_vgr
from tests.web.pages import sign_in
from web import create_app
from web.cli import LoggedSchedulerRunner, main

SECRET = "s" * 48
PRODUCTION = {
    "INFORA_ENV": "production",
    "DATABASE_URL": "postgresql://infora:db-l0senord@db.region.se:5432/infora",
    "INFORA_SECRET_KEY": SECRET,
    "INFORA_BASE_URL": "https://infora.region.se/",
}


def _app(url: str) -> Flask:
    return create_app({"TESTING": True, "DATABASE_URL": url, "SECRET_KEY": "t"})


@pytest.fixture()
def app(published: Session, db_engine: Engine) -> Iterator[Flask]:
    app = _app(db_engine.url.render_as_string(hide_password=False))
    yield app
    app.extensions["infora.engine"].dispose()


@pytest.fixture()
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture()
def restore_logging() -> Iterator[None]:
    """Commands and tests that configure logging change the root logger: put it back."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    names = ("werkzeug", "alembic", "apscheduler", *SPIFF_LOGGERS)
    quieted = {name: logging.getLogger(name).level for name in names}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, previous in quieted.items():
        logging.getLogger(name).setLevel(previous)


def _access(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [r.fields for r in caplog.records if r.name == "infora.access"]  # type: ignore[attr-defined]


# -- health ----------------------------------------------------------------------------------------


def test_health_is_ready_when_the_database_answers_at_the_newest_schema(client: FlaskClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"status", "database", "schema", "version"}
    assert (body["status"], body["database"], body["schema"]) == ("ok", "ok", "ok")
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", body["version"])
    assert response.headers["Cache-Control"] == "no-store"


def test_health_is_503_when_the_database_is_unreachable(tmp_path: Path) -> None:
    app = _app(f"sqlite:///{tmp_path / 'finns-inte' / 'x.sqlite3'}")
    response = app.test_client().get("/health")
    assert response.status_code == 503
    assert response.get_json() | {"version": ""} == {
        "status": "unavailable", "database": "unreachable", "schema": "unknown", "version": ""
    }  # fmt: skip
    app.extensions["infora.engine"].dispose()


def test_health_is_503_until_the_migrations_are_at_head(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'schema.sqlite3'}"
    app = _app(url)
    client = app.test_client()
    assert client.get("/health").get_json()["schema"] == "empty"
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    previous = script.get_revision(script.get_current_head()).down_revision
    engine = make_engine(url)
    cfg = alembic_config(url)
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, str(previous))
    response = client.get("/health")
    assert response.status_code == 503 and response.get_json()["schema"] == "outdated"
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    assert client.get("/health").get_json() | {"version": ""} == {
        "status": "unavailable", "database": "ok", "schema": "newer", "version": ""
    }  # fmt: skip
    engine.dispose()
    app.extensions["infora.engine"].dispose()


# -- access log ------------------------------------------------------------------------------------


def test_one_access_line_per_request_with_the_request_id_echoed(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="infora.access")
    response = client.get("/vardforlopp", headers={"X-Request-ID": "nginx-4f2a.17"})
    assert response.headers["X-Request-ID"] == "nginx-4f2a.17"
    (line,) = _access(caplog)
    assert line["method"] == "GET" and line["path"] == "/vardforlopp" and line["status"] == 200
    assert line["user_id"] is None and isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    caplog.clear()
    # A header that is not a sane id (spaces, a line break, too long) is replaced by a new one.
    for bad in ("två ord", "x" * 200):
        made = client.get("/finns-inte", headers={"X-Request-ID": bad}).headers["X-Request-ID"]
        assert re.fullmatch(r"[0-9a-f]{32}", made)
    assert [(a["path"], a["status"]) for a in _access(caplog)] == [("/finns-inte", 404)] * 2


def test_the_access_line_names_the_signed_in_user_and_health_probes_stay_quiet(
    published: Session, client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    person = make_actor(published, "eva.loggad")
    published.commit()
    sign_in(client, published, "eva.loggad")
    caplog.set_level(logging.INFO, logger="infora.access")
    # Only what follows: the sign-in's own lines are captured too when an earlier test (a CLI
    # command configuring the logging) left the root logger at INFO.
    caplog.clear()
    client.get("/inkorg")
    client.get("/health")
    lines = _access(caplog)
    assert [(a["path"], a["user_id"]) for a in lines] == [("/inkorg", person.user_id)]


def test_secrets_in_paths_never_reach_the_log(client: FlaskClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="infora.access")
    token = "hemlig-kalendernyckel-123"
    assert client.get(f"/kalender/{token}.ics").status_code == 404
    (line,) = _access(caplog)
    assert line["path"] == "/kalender/***.ics"
    assert token not in caplog.text


def test_json_lines_carry_time_level_logger_message_request_id_and_the_fields(
    client: FlaskClient, capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    configure_logging("json", "INFO")
    capsys.readouterr()
    client.get("/vardforlopp", headers={"X-Request-ID": "abc-123"})
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.strip()]
    access = [e for e in lines if e["logger"] == "infora.access"]
    assert len(access) == 1
    entry = access[0]
    assert set(entry) >= {"time", "level", "logger", "message", "request_id", "method", "path", "status",
                          "duration_ms", "user_id"}  # fmt: skip
    assert (entry["level"], entry["request_id"], entry["status"]) == ("INFO", "abc-123", 200)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", entry["time"])
    try:
        raise RuntimeError("trasigt")
    except RuntimeError:
        logging.getLogger("infora.test").exception("det gick fel")
    failure = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert failure["level"] == "ERROR" and "RuntimeError: trasigt" in failure["exception"]
    assert "request_id" not in failure  # outside a request


def test_text_lines_show_the_fields_after_the_message(
    client: FlaskClient, capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    configure_logging("text", "INFO")
    capsys.readouterr()
    client.get("/vardforlopp", headers={"X-Request-ID": "abc-123"})
    (line,) = [x for x in capsys.readouterr().err.splitlines() if "infora.access" in x]
    assert " INFO infora.access GET /vardforlopp 200 " in line
    assert "request_id=abc-123 method=GET path=/vardforlopp status=200 duration_ms=" in line


def test_the_workflow_library_says_nothing_at_info_only_infora_does(
    published: Session, capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    # SpiffWorkflow logs every task state change at INFO: a dozen lines per completed task that the
    # audit log already holds, and in the load run a third of a completion's time.
    configure_logging("text", "INFO")
    capsys.readouterr()
    start_vgr(published)
    logging.getLogger("infora.test").info("fallet startat")
    lines = capsys.readouterr().err.splitlines()
    assert any(" INFO infora.test fallet startat" in line for line in lines)
    assert not [line for line in lines if " spiff." in line]
    logging.getLogger("spiff.task").warning("en varning")
    assert " WARNING spiff.task en varning" in capsys.readouterr().err


def test_behind_a_trusted_proxy_the_client_address_and_scheme_come_from_its_headers(
    published: Session, db_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INFORA_TRUSTED_PROXIES", "1")
    app = _app(db_engine.url.render_as_string(hide_password=False))

    @app.get("/_test/who")
    def who() -> dict[str, str]:
        return {"addr": request.remote_addr or "", "scheme": request.scheme}

    seen = app.test_client().get("/_test/who", headers={"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"})
    assert seen.get_json() == {"addr": "203.0.113.7", "scheme": "https"}
    app.extensions["infora.engine"].dispose()


# -- the scheduler's pass lines --------------------------------------------------------------------


def test_the_scheduler_logs_each_pass(
    session_factory: sessionmaker[Session], caplog: pytest.LogCaptureFixture, tmp_path: Path, restore_logging: None
) -> None:
    caplog.set_level(logging.DEBUG, logger="infora.scheduler")
    runner = LoggedSchedulerRunner(session_factory, SchedulerSettings(), blocking=False)
    runner._tick()
    (record,) = [r for r in caplog.records if r.getMessage() == "scheduler pass"]
    fields = record.fields  # type: ignore[attr-defined]
    assert fields["timers_fired"] == 0 and fields["errors"] == 0 and fields["passes"] == 1
    assert record.levelno == logging.DEBUG  # an idle pass
    assert fields["duration_ms"] >= 0
    caplog.clear()
    result = CliRunner().invoke(main, ["--database-url", f"sqlite:///{tmp_path / 's.sqlite3'}", "scheduler", "--once"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.strip().splitlines()[-1])["timers_fired"] == 0
    assert [r.getMessage() for r in caplog.records if r.name == "infora.scheduler"] == ["scheduler pass"]


# -- refusing bad settings -------------------------------------------------------------------------


def test_check_config_prints_the_settings_masked_and_exits_2_on_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in PRODUCTION.items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()
    ok = runner.invoke(main, ["check-config"])
    assert ok.exit_code == 0, ok.output
    assert re.search(r"^INFORA_ENV +production$", ok.output, re.MULTILINE)
    assert "Inställningarna är giltiga." in ok.output
    assert SECRET not in ok.output and "db-l0senord" not in ok.output
    monkeypatch.delenv("INFORA_SECRET_KEY")
    monkeypatch.setenv("INFORA_WEB_WORKERS", "många")
    bad = runner.invoke(main, ["check-config"])
    assert bad.exit_code == 2
    assert "2 fel" in bad.output and "INFORA_SECRET_KEY" in bad.output and "INFORA_WEB_WORKERS" in bad.output


def test_create_app_and_the_scheduler_refuse_bad_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("INFORA_ENV", "production")
    with pytest.raises(ConfigurationError) as caught:
        _app(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    assert {p.variable for p in caught.value.problems} == {"DATABASE_URL", "INFORA_SECRET_KEY", "INFORA_BASE_URL"}
    result = CliRunner().invoke(main, ["--database-url", f"sqlite:///{tmp_path / 'y.sqlite3'}", "scheduler", "--once"])
    assert result.exit_code == 2 and "INFORA_SECRET_KEY" in result.output
    assert not (tmp_path / "y.sqlite3").exists()  # refused before touching the database


# -- the operations commands and the case download ------------------------------------------------


def test_the_cli_backs_up_and_restores(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'infora.sqlite3'}"
    runner = CliRunner()
    assert runner.invoke(main, ["--database-url", url, "init", "--no-demo"]).exit_code == 0
    done = runner.invoke(main, ["--database-url", url, "backup", str(tmp_path / "b.sqlite3")])
    assert done.exit_code == 0, done.output
    assert "Säkerhetskopia av SQLite-databasen" in done.output and "Schemaversion:" in done.output
    again = runner.invoke(main, ["--database-url", url, "backup", str(tmp_path / "b.sqlite3")])
    assert again.exit_code == 2 and "finns redan" in again.output
    refused = runner.invoke(main, ["--database-url", url, "restore", str(tmp_path / "b.sqlite3")])
    assert refused.exit_code == 2 and "--force" in refused.output
    forced = runner.invoke(main, ["--database-url", url, "restore", "--force", str(tmp_path / "b.sqlite3")])
    assert forced.exit_code == 0, forced.output
    assert "är återställd från" in forced.output and "Starta sedan webben" in forced.output


def test_the_cli_exports_a_case_and_anonymises_a_user(published: Session, db_engine: Engine, tmp_path: Path) -> None:
    from tests.factories import start_vgr

    case_id, team, _units = start_vgr(published, units=1)
    published.commit()
    url = db_engine.url.render_as_string(hide_password=False)
    runner = CliRunner()
    target = tmp_path / "arende.zip"
    done = runner.invoke(main, ["--database-url", url, "case", "export", str(case_id), str(target)])
    assert done.exit_code == 0, done.output
    assert target.read_bytes()[:2] == b"PK" and (target.stat().st_mode & 0o777) == 0o600
    assert runner.invoke(main, ["--database-url", url, "case", "export", str(case_id), str(target)]).exit_code == 2
    missing = runner.invoke(main, ["--database-url", url, "case", "export", "999999", str(tmp_path / "x.zip")])
    assert missing.exit_code == 2 and "Ärendet finns inte." in missing.output

    leaver = team.by_role["rpt"]
    gone = runner.invoke(main, ["--database-url", url, "user", "anonymise", leaver.username], input="y\n")
    assert gone.exit_code == 0, gone.output
    assert f"Borttagen användare {leaver.user_id}" in gone.output
    assert runner.invoke(main, ["--database-url", url, "user", "anonymise", leaver.username, "--yes"]).exit_code == 2


def test_the_case_page_offers_the_export_to_its_coordinator_only(published: Session, client: FlaskClient) -> None:
    from tests.factories import start_vgr

    case_id, team, _units = start_vgr(published, units=1)
    published.commit()
    link = f"/arenden/{case_id}/export.zip"
    sign_in(client, published, team.coordinator.username)
    assert link in client.get(f"/arenden/{case_id}").get_data(as_text=True)
    response = client.get(link)
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert response.headers["Content-Disposition"] == f'attachment; filename="infora-arende-{case_id}.zip"'
    assert response.data[:2] == b"PK"
    client.post("/logga-ut", data={"csrf_token": ""})
    other = client.application.test_client()
    sign_in(other, published, team.by_role["rpt"].username)
    assert link not in other.get(f"/arenden/{case_id}").get_data(as_text=True)
    assert other.get(link).status_code == 403
