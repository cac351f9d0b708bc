"""The ``infora`` command: set up the database, run the server, manage users, publish models,
check the settings, back up and restore, export a case, anonymise a departed user."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import time
from pathlib import Path

import click
from alembic.script import ScriptDirectory
from sqlalchemy.orm import Session

from engine.backup import BackupError, BackupReport, backup_database, restore_database
from engine.catalogue.bootstrap import bootstrap
from engine.catalogue.demo import DEMO_PASSWORD
from engine.config import ConfigurationError, Settings, load_settings, normalise_database_url
from engine.errors import InforaError, InvalidModelError, ValidationError
from engine.logging_setup import configure_logging
from engine.persistence.database import database_url_from_env, make_engine, make_session_factory, unit_of_work
from engine.persistence.schema import MIGRATIONS_DIR, upgrade_database
from engine.scheduler import PassResult, SchedulerSettings, run_pass
from engine.scheduler.runner import SchedulerRunner, describe
from engine.services import SYSTEM_ACTOR, Actor, publish_model_version
from engine.services.anonymise import anonymise_user
from engine.services.calendar_feed import create_calendar_token, revoke_calendar_tokens
from engine.services.case_export import export_case
from engine.services.models import executable_process_ids, read_model_directory
from engine.services.tokens import MAX_DAYS, create_token, list_tokens, revoke_token
from engine.services.users import create_user, find_user, list_users, set_password

DEFAULT_MODELS = Path(__file__).resolve().parents[1] / "bpmn"
# The separate scheduler process leaves at least this long between passes, so one pass fires the
# timers that fell due meanwhile instead of one pass each (engine/scheduler/runner.py).
SCHEDULER_GATHER_SECONDS = 1.0
log = logging.getLogger("infora.scheduler")


def _url(url: str | None) -> str:
    """The database URL from ``--database-url``/``DATABASE_URL`` (``postgresql://`` as hosting
    services write it works too), else the embedded SQLite file."""
    return normalise_database_url(url) if url else database_url_from_env()


def _factory(url: str | None):  # type: ignore[no-untyped-def]
    engine = make_engine(_url(url))
    upgrade_database(engine)
    return engine, make_session_factory(engine)


@click.group()
@click.option("--database-url", envvar="DATABASE_URL", default=None, help="Standard: instance/infora.sqlite3")
@click.pass_context
def main(ctx: click.Context, database_url: str | None) -> None:
    """Infora: införande av vårdförlopp som BPMN-processer."""
    ctx.obj = {"url": database_url}


def _fail(err: InforaError) -> None:
    click.echo(f"Fel: {err.message}", err=True)
    if isinstance(err, ValidationError):
        for field, messages in err.field_errors.items():
            click.echo(f"  - {field or 'formuläret'}: {' '.join(messages)}", err=True)
    if isinstance(err, InvalidModelError):
        for issue in err.issues:
            where = f"{issue.file or ''} {issue.element_id or ''}".strip()
            click.echo(f"  - [{issue.code}] {where}: {issue.message}", err=True)
    sys.exit(2)


@main.command()
@click.option("--demo/--no-demo", default=True, help="Lägg in demodata om databasen saknar ärenden.")
@click.option("--models", type=click.Path(exists=True, file_okay=False, path_type=Path), default=DEFAULT_MODELS)
@click.pass_context
def init(ctx: click.Context, demo: bool, models: Path) -> None:
    """Skapa eller uppgradera databasen, publicera de medföljande modellerna och demodata."""
    engine, factory = _factory(ctx.obj["url"])
    try:
        with unit_of_work(factory) as session:
            result = bootstrap(session, models, demo=demo)
    except InforaError as err:
        _fail(err)
        return
    finally:
        engine.dispose()
    for info in result.published:
        state = "ny version" if info.created else "oförändrad"
        click.echo(f"Modell {info.process_id} v{info.number} ({state})")
    if result.demo_loaded:
        click.echo(f"Demodata inlagd. Logga in som t.ex. anna.koordinator med lösenordet {DEMO_PASSWORD}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--demo/--no-demo", default=True, help="Demodata vid första start.")
@click.pass_context
def run(ctx: click.Context, host: str, port: int, demo: bool) -> None:
    """Starta Infora (inbäddad databas som standard) på http://HOST:PORT/."""
    ctx.invoke(init, demo=demo, models=DEFAULT_MODELS)
    from web import create_app

    settings = _settings()
    configure_logging(settings.log_format, settings.log_level)
    config = {"DATABASE_URL": _url(ctx.obj["url"])} if ctx.obj["url"] else None
    app = create_app(config)
    runner = None
    if settings.scheduler_mode == "embedded":
        runner = LoggedSchedulerRunner(app.extensions["infora.sessions"], _scheduler_settings(settings), blocking=False)
        app.extensions["infora.scheduler"] = runner
        runner.start()
        click.echo(f"Infora körs på http://{host}:{port}/ (schemaläggaren körs i samma process)")
    else:
        click.echo(f"Infora körs på http://{host}:{port}/ (INFORA_SCHEDULER=separate: starta `infora scheduler`)")
    try:
        app.run(host=host, port=port, debug=False, use_reloader=False)
    finally:
        if runner is not None:
            runner.shutdown()


def _settings() -> Settings:
    """The checked settings; every bad variable is listed and the command ends with status 2."""
    try:
        return load_settings()
    except ConfigurationError as err:
        click.echo(str(err), err=True)
        sys.exit(2)


def _scheduler_settings(settings: Settings) -> SchedulerSettings:
    return SchedulerSettings(smtp=settings.smtp, base_url=settings.base_url)


def log_pass(result: PassResult | None, seconds: float, passes: int = 1) -> None:
    """One log line for a scheduler pass: what it did and how long it took (DEBUG when it found
    nothing to do, so an idle scheduler does not fill the log)."""
    fields = {**describe(result), "duration_ms": round(seconds * 1000, 1), "passes": passes}
    if result is None:
        log.error("scheduler pass failed", extra={"fields": fields})
        return
    busy = result.timers_fired or result.reminders_sent or result.errors or result.delivery.sent
    busy = busy or result.delivery.retrying or result.delivery.failed
    log.log(logging.INFO if busy else logging.DEBUG, "scheduler pass", extra={"fields": fields})


class LoggedSchedulerRunner(SchedulerRunner):
    """The scheduler runner with one log line per wake-up, like the web's access lines."""

    def _tick(self) -> None:
        started, passes = time.perf_counter(), self.passes
        super()._tick()
        log_pass(self.last_result, time.perf_counter() - started, self.passes - passes)


@main.command("check-config")
def check_config() -> None:
    """Visa inställningarna som gäller (hemligheter maskerade); slutkod 2 vid fel."""
    try:
        settings = load_settings()
    except ConfigurationError as err:
        click.echo(str(err), err=True)
        sys.exit(2)
    width = max(len(name) for name, _ in settings.describe())
    for name, value in settings.describe():
        click.echo(f"{name.ljust(width)}  {value}")
    for warning in settings.warnings:
        click.echo(f"Varning: {warning}", err=True)
    click.echo("Inställningarna är giltiga.")


@main.command()
@click.option("--once", is_flag=True, help="Kör ett varv och avsluta (för cron).")
@click.option("--max-sleep", default=None, type=float, help="Längsta väntan mellan varv, sekunder.")
@click.pass_context
def scheduler(ctx: click.Context, once: bool, max_sleep: float | None) -> None:
    """Kör schemaläggaren: timers, påminnelser, eskaleringar och e-post."""
    config = _settings()
    configure_logging(config.log_format, config.log_level)
    settings = _scheduler_settings(config)
    engine, factory = _factory(ctx.obj["url"])
    try:
        if once:
            started = time.perf_counter()
            result = run_pass(factory, settings)
            log_pass(result, time.perf_counter() - started)
            click.echo(json.dumps(describe(result), ensure_ascii=False))
            sys.exit(1 if result.errors else 0)
        postgres = engine.dialect.name == "postgresql"
        max_sleep = max_sleep if max_sleep is not None else config.scheduler_max_sleep
        runner = LoggedSchedulerRunner(
            factory,
            settings,
            blocking=True,
            max_sleep=max_sleep if max_sleep is not None else (60.0 if postgres else 5.0),
            listen_url=engine.url.render_as_string(hide_password=False) if postgres else None,
            gather=SCHEDULER_GATHER_SECONDS,
        )
        signal.signal(signal.SIGTERM, lambda *_: runner.shutdown())
        click.echo("Schemaläggaren körs. Avsluta med Ctrl-C.")
        try:
            runner.start()
        except (KeyboardInterrupt, SystemExit):
            runner.shutdown()
    finally:
        engine.dispose()


@main.group()
def user() -> None:
    """Hantera användare."""


@user.command("add")
@click.argument("username")
@click.option("--name", "display_name", required=True, help="Visningsnamn")
@click.option("--email", default="")
@click.option("--role", "system_role", type=click.Choice(["admin", "coordinator", "member"]), default="member")
@click.password_option(prompt="Lösenord", confirmation_prompt="Upprepa lösenordet")
@click.pass_context
def user_add(ctx: click.Context, username: str, display_name: str, email: str, system_role: str, password: str) -> None:
    """Skapa en användare."""
    engine, factory = _factory(ctx.obj["url"])
    try:
        with unit_of_work(factory) as session:
            created = create_user(
                session,
                SYSTEM_ACTOR,
                username=username,
                display_name=display_name,
                email=email,
                system_role=system_role,
                password=password,
            )
            click.echo(f"Användaren {created.username} skapad ({created.system_role}).")
    except InforaError as err:
        _fail(err)
    finally:
        engine.dispose()


@user.command("passwd")
@click.argument("username")
@click.password_option(prompt="Nytt lösenord", confirmation_prompt="Upprepa lösenordet")
@click.pass_context
def user_passwd(ctx: click.Context, username: str, password: str) -> None:
    """Byt lösenord för en användare."""
    engine, factory = _factory(ctx.obj["url"])
    try:
        with unit_of_work(factory) as session:
            set_password(session, SYSTEM_ACTOR, username, password)
            click.echo("Lösenordet är bytt.")
    except InforaError as err:
        _fail(err)
    finally:
        engine.dispose()


@user.command("calendar")
@click.argument("username")
@click.option("--revoke", is_flag=True, help="Spärra användarens alla kalenderlänkar.")
@click.pass_context
def user_calendar(ctx: click.Context, username: str, revoke: bool) -> None:
    """Skapa (eller spärra) en privat kalenderlänk för användaren."""
    engine, factory = _factory(ctx.obj["url"])
    try:
        with unit_of_work(factory) as session:
            found = find_user(session, username)
            actor = Actor(found.id, found.username, found.display_name, found.system_role)
            if revoke:
                click.echo(f"{revoke_calendar_tokens(session, actor)} länkar spärrade.")
            else:
                token = create_calendar_token(session, actor)
                base = _settings().base_url
                click.echo(f"{base}/kalender/{token}.ics")
    except InforaError as err:
        _fail(err)
    finally:
        engine.dispose()


@user.command("list")
@click.pass_context
def user_list(ctx: click.Context) -> None:
    """Lista användarna."""
    engine, factory = _factory(ctx.obj["url"])
    try:
        with unit_of_work(factory, write=False) as session:
            for u in list_users(session):
                click.echo(f"{u.username}\t{u.system_role}\t{u.display_name}\t{'aktiv' if u.active else 'inaktiv'}")
    finally:
        engine.dispose()


@user.command("anonymise")
@click.argument("username")
@click.option("--yes", is_flag=True, help="Fråga inte om bekräftelse.")
@click.pass_context
def user_anonymise(ctx: click.Context, username: str, yes: bool) -> None:
    """Anonymisera en användare som slutat: namn, användarnamn och e-post ersätts av en pseudonym,
    inloggning, nycklar, utkast, aviseringar och e-post tas bort; historiken behålls."""
    if not yes:
        click.confirm(f"Anonymisera {username}? Det går inte att ångra.", abort=True)
    engine, factory = _factory(ctx.obj["url"])
    try:
        with unit_of_work(factory) as session:
            done = anonymise_user(session, SYSTEM_ACTOR, username)
        removed = ", ".join(f"{kind} {count}" for kind, count in done.removed.items() if count) or "inget"
        click.echo(f"Användaren är nu {done.display_name} ({done.username}) och kan inte logga in.")
        click.echo(f"Borttaget: {removed}. Uppgifter lämnade tillbaka till sin roll: {done.tasks_released}.")
        click.echo(f"Historikrader rensade på namn och adresser: {done.audit_rows_scrubbed}.")
    except InforaError as err:
        _fail(err)
    finally:
        engine.dispose()


@main.group()
def model() -> None:
    """Hantera processmodeller."""


@model.command("publish")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--process", "process_ids", multiple=True, help="Process-id (standard: alla i katalogen)")
@click.pass_context
def model_publish(ctx: click.Context, directory: Path, process_ids: tuple[str, ...]) -> None:
    """Validera och publicera processer ur en katalog med .bpmn-filer och forms/*.json."""
    engine, factory = _factory(ctx.obj["url"])
    try:
        documents, forms = read_model_directory(directory)
        with unit_of_work(factory) as session:
            for pid in process_ids or executable_process_ids(documents):
                info = publish_model_version(session, SYSTEM_ACTOR, pid, documents, forms)
                click.echo(f"{pid}: version {info.number} {'publicerad' if info.created else '(oförändrad)'}")
    except InforaError as err:
        _fail(err)
    finally:
        engine.dispose()


@main.group()
def token() -> None:
    """Personliga API-nycklar (Authorization: Bearer inf_…)."""


def _user_actor(session: Session, username: str) -> Actor:
    found = find_user(session, username)
    return Actor(found.id, found.username, found.display_name, found.system_role)


@token.command("create")
@click.argument("username")
@click.option("--name", "token_name", required=True, help="Vad nyckeln ska användas till")
@click.option("--days", default=90, show_default=True, type=click.IntRange(1, MAX_DAYS), help="Giltighet i dagar")
@click.pass_context
def token_create(ctx: click.Context, username: str, token_name: str, days: int) -> None:
    """Skapa en API-nyckel åt användaren; nyckeln skrivs ut en gång (bara dess hash sparas)."""
    engine, factory = _factory(ctx.obj["url"])
    try:
        with unit_of_work(factory) as session:
            info, secret = create_token(session, _user_actor(session, username), token_name, days)
        click.echo(secret)
        click.echo(f"Nyckel {info.id} ({info.name}) gäller till {info.expires_at:%Y-%m-%d}. Den visas inte igen.",
                   err=True)  # fmt: skip
    except InforaError as err:
        _fail(err)
    finally:
        engine.dispose()


@token.command("list")
@click.argument("username")
@click.pass_context
def token_list(ctx: click.Context, username: str) -> None:
    """Lista användarens API-nycklar (aldrig själva nycklarna)."""
    engine, factory = _factory(ctx.obj["url"])
    try:
        with unit_of_work(factory, write=False) as session:
            for t in list_tokens(session, _user_actor(session, username)):
                expires = f"{t.expires_at:%Y-%m-%d}" if t.expires_at else "-"
                used = f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "-"
                state = "giltig" if t.active else ("återkallad" if t.revoked_at else "utgången")
                click.echo(f"{t.id}\t{t.prefix}…\t{t.name}\t{state}\tgäller till {expires}\tsenast använd {used}")
    except InforaError as err:
        _fail(err)
    finally:
        engine.dispose()


@token.command("revoke")
@click.argument("token_id", type=int)
@click.pass_context
def token_revoke(ctx: click.Context, token_id: int) -> None:
    """Återkalla en API-nyckel (vems som helst: kommandot körs som administratör)."""
    engine, factory = _factory(ctx.obj["url"])
    try:
        with unit_of_work(factory) as session:
            info = revoke_token(session, SYSTEM_ACTOR, token_id)
        click.echo(f"Nyckel {info.id} ({info.name}) är återkallad.")
    except InforaError as err:
        _fail(err)
    finally:
        engine.dispose()


@main.group()
def db() -> None:
    """Databasen."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Kör databasmigreringarna (Alembic) till senaste version."""
    engine, _sessions = _factory(ctx.obj["url"])
    engine.dispose()
    click.echo("Databasen är uppgraderad.")


def _report(report: BackupReport) -> None:
    for line in report.lines():
        click.echo(line)


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Ersätt filen om den redan finns.")
@click.option("--pg-bindir", envvar="INFORA_PG_BINDIR", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Katalogen med pg_dump (standard: PATH).")  # fmt: skip
@click.pass_context
def backup(ctx: click.Context, file: Path, force: bool, pg_bindir: Path | None) -> None:
    """Säkerhetskopiera hela databasen till FILE medan Infora körs (SQLite: en databasfil;
    PostgreSQL: pg_dump i custom-format)."""
    try:
        _report(backup_database(_url(ctx.obj["url"]), file, overwrite=force, pg_bindir=pg_bindir))
    except BackupError as err:
        click.echo(f"Fel: {err.message}", err=True)
        sys.exit(2)


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Skriv över en databas som redan innehåller data.")
@click.option("--pg-bindir", envvar="INFORA_PG_BINDIR", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Katalogen med pg_restore (standard: PATH).")  # fmt: skip
@click.pass_context
def restore(ctx: click.Context, file: Path, force: bool, pg_bindir: Path | None) -> None:
    """Återställ databasen från säkerhetskopian FILE. Stoppa webben och schemaläggaren först."""
    try:
        report = restore_database(_url(ctx.obj["url"]), file, force=force, pg_bindir=pg_bindir)
    except BackupError as err:
        click.echo(f"Fel: {err.message}", err=True)
        sys.exit(2)
    _report(report)
    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    if report.revision != head:
        click.echo(f"Koden väntar sig schemaversion {head}: kör `infora db upgrade` innan Infora startas.")
    click.echo("Starta sedan webben och schemaläggaren igen.")


@main.group()
def case() -> None:
    """Ärenden."""


@case.command("export")
@click.argument("case_id", type=int)
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Ersätt filen om den redan finns.")
@click.pass_context
def case_export(ctx: click.Context, case_id: int, file: Path, force: bool) -> None:
    """Exportera hela ärendet (modellversion, historik, formulär, PDSA, mätetal) som en zip-fil."""
    engine, factory = _factory(ctx.obj["url"])
    try:
        with unit_of_work(factory) as session:
            exported = export_case(session, SYSTEM_ACTOR, case_id)
            _write_private(file, exported.content, force)
    except InforaError as err:
        _fail(err)
    finally:
        engine.dispose()
    click.echo(f"Ärende {case_id} exporterat till {file} ({len(exported.content) / 1024:.1f} kB).")


def _write_private(path: Path, content: bytes, overwrite: bool) -> None:
    """Write a file only its owner can read (an export holds personal data)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        click.echo(f"Fel: {path} finns redan. Välj ett annat filnamn eller lägg till --force.", err=True)
        sys.exit(2)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)


__all__ = ["main"]
