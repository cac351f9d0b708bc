"""The ``infora`` command: set up the database, run the server, manage users, publish models."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import click
from sqlalchemy.orm import Session

from engine.catalogue.bootstrap import bootstrap
from engine.catalogue.demo import DEMO_PASSWORD
from engine.errors import InforaError, InvalidModelError, ValidationError
from engine.notify.email import ConfigError
from engine.persistence.database import database_url_from_env, make_engine, make_session_factory, unit_of_work
from engine.persistence.schema import upgrade_database
from engine.scheduler import SchedulerSettings, run_pass
from engine.scheduler.runner import SchedulerRunner, describe
from engine.services import SYSTEM_ACTOR, Actor, publish_model_version
from engine.services.calendar_feed import create_calendar_token, revoke_calendar_tokens
from engine.services.models import executable_process_ids, read_model_directory
from engine.services.tokens import MAX_DAYS, create_token, list_tokens, revoke_token
from engine.services.users import create_user, find_user, list_users, set_password

DEFAULT_MODELS = Path(__file__).resolve().parents[1] / "bpmn"


def _factory(url: str | None):  # type: ignore[no-untyped-def]
    engine = make_engine(url or database_url_from_env())
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

    config = {"DATABASE_URL": ctx.obj["url"]} if ctx.obj["url"] else None
    app = create_app(config)
    settings = _scheduler_settings()
    runner = SchedulerRunner(app.extensions["infora.sessions"], settings, blocking=False)
    app.extensions["infora.scheduler"] = runner
    runner.start()
    click.echo(f"Infora körs på http://{host}:{port}/ (schemaläggaren körs i samma process)")
    try:
        app.run(host=host, port=port, debug=False, use_reloader=False)
    finally:
        runner.shutdown()


def _scheduler_settings() -> SchedulerSettings:
    try:
        return SchedulerSettings.from_env()
    except ConfigError as err:
        click.echo(f"Fel i inställningarna: {err}", err=True)
        sys.exit(2)


@main.command()
@click.option("--once", is_flag=True, help="Kör ett varv och avsluta (för cron).")
@click.option("--max-sleep", default=None, type=float, help="Längsta väntan mellan varv, sekunder.")
@click.pass_context
def scheduler(ctx: click.Context, once: bool, max_sleep: float | None) -> None:
    """Kör schemaläggaren: timers, påminnelser, eskaleringar och e-post."""
    settings = _scheduler_settings()
    engine, factory = _factory(ctx.obj["url"])
    try:
        if once:
            result = run_pass(factory, settings)
            click.echo(json.dumps(describe(result), ensure_ascii=False))
            sys.exit(1 if result.errors else 0)
        postgres = engine.dialect.name == "postgresql"
        runner = SchedulerRunner(
            factory,
            settings,
            blocking=True,
            max_sleep=max_sleep if max_sleep is not None else (60.0 if postgres else 5.0),
            listen_url=engine.url.render_as_string(hide_password=False) if postgres else None,
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
                base = os.environ.get("INFORA_BASE_URL", "http://127.0.0.1:5000").rstrip("/")
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


__all__ = ["main"]
