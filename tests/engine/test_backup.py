"""Backups and restores: a SQLite backup taken while a writer works is one consistent, openable
snapshot; restores refuse a database holding data unless forced and bring every row back; the
PostgreSQL round trip goes through pg_dump/pg_restore with the password kept off the command line."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from engine.backup import BackupError, backup_database, pg_connection, restore_database
from engine.persistence.database import make_engine, make_session_factory, unit_of_work
from engine.persistence.schema import upgrade_database
from engine.services import SYSTEM_ACTOR
from engine.services.users import create_user


def _rows(path: Path, query: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as connection:
        return list(connection.execute(query))


def _infora_db(url: str, usernames: list[str]) -> None:
    """A database at the newest schema holding some accounts."""
    engine = make_engine(url)
    upgrade_database(engine)
    with unit_of_work(make_session_factory(engine)) as session:
        for name in usernames:
            create_user(session, SYSTEM_ACTOR, username=name, display_name=name.title())
    engine.dispose()


def _usernames(url: str) -> list[str]:
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as connection:
        names = [r[0] for r in connection.execute(text("SELECT username FROM users ORDER BY username"))]
    engine.dispose()
    return names


def test_sqlite_backup_while_a_writer_is_active_is_a_consistent_openable_copy(tmp_path: Path) -> None:
    source = tmp_path / "live.sqlite3"
    with sqlite3.connect(source) as connection:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, n INTEGER)")
        connection.execute("CREATE TABLE order_lines (id INTEGER PRIMARY KEY, order_id INTEGER, n INTEGER)")
    stop = threading.Event()
    written = [0]

    def writer() -> None:
        # Each transaction writes one order and its line: a consistent copy has as many of each.
        connection = sqlite3.connect(source, timeout=30, isolation_level=None)
        while not stop.is_set():
            connection.execute("BEGIN IMMEDIATE")
            cursor = connection.execute("INSERT INTO orders (n) VALUES (?)", (written[0],))
            connection.execute("INSERT INTO order_lines (order_id, n) VALUES (?, ?)", (cursor.lastrowid, written[0]))
            connection.execute("COMMIT")
            written[0] += 1
        connection.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while written[0] < 50:
            stop.wait(0.01)
        copies = []
        for k in range(5):
            target = tmp_path / f"copy-{k}.sqlite3"
            report = backup_database(f"sqlite:///{source}", target)
            assert report.backend == "sqlite" and report.file == target and report.size > 0
            copies.append(target)
    finally:
        stop.set()
        thread.join()
    counts = []
    for copy in copies:
        assert stat.S_IMODE(copy.stat().st_mode) == 0o600  # a backup holds personal data
        assert not copy.with_name(copy.name + "-wal").exists()
        assert _rows(copy, "PRAGMA integrity_check") == [("ok",)]
        assert _rows(copy, "PRAGMA journal_mode") == [("delete",)]
        orders, lines = _rows(copy, "SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM order_lines)")[0]
        assert orders == lines
        assert _rows(copy, "SELECT count(*) FROM orders o JOIN order_lines l ON l.order_id = o.id") == [(orders,)]
        counts.append(orders)
    assert counts == sorted(counts) and counts[0] >= 50  # snapshots of later and later moments
    # With the writer stopped, a backup has exactly the source's rows.
    final = tmp_path / "final.sqlite3"
    backup_database(f"sqlite:///{source}", final)
    query = "SELECT o.id, o.n, l.id, l.n FROM orders o JOIN order_lines l ON l.order_id = o.id ORDER BY o.id"
    assert _rows(final, query) == _rows(source, query)
    assert len(_rows(final, query)) == written[0]


def test_sqlite_restore_round_trip_refuses_a_database_with_data_unless_forced(tmp_path: Path) -> None:
    live = tmp_path / "infora.sqlite3"
    url = f"sqlite:///{live}"
    _infora_db(url, ["anna", "bertil", "cecilia"])
    backup = tmp_path / "backups" / "infora-1.sqlite3"
    report = backup_database(url, backup)
    assert report.revision is not None
    assert report.lines()[0].startswith(f"Säkerhetskopia av SQLite-databasen {live} skriven till {backup}")
    with pytest.raises(BackupError, match="finns redan"):
        backup_database(url, backup)
    backup_database(url, backup, overwrite=True)

    with sqlite3.connect(live) as connection:
        connection.execute("DELETE FROM audit_events")
        connection.execute("DELETE FROM users WHERE username = 'bertil'")
    with pytest.raises(BackupError, match="innehåller redan data") as refused:
        restore_database(url, backup)
    assert "--force" in refused.value.message and "users" in refused.value.message
    assert _usernames(url) == ["anna", "cecilia"]  # untouched

    restored = restore_database(url, backup, force=True)
    assert restored.action == "restore" and restored.revision == report.revision
    assert _usernames(url) == ["anna", "bertil", "cecilia"]
    assert _rows(live, "PRAGMA journal_mode") == [("wal",)]

    # Into a new, empty database no --force is needed.
    fresh = f"sqlite:///{tmp_path / 'new' / 'infora.sqlite3'}"
    restore_database(fresh, backup)
    assert _usernames(fresh) == ["anna", "bertil", "cecilia"]


def test_restore_refuses_what_is_not_a_backup(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(os.urandom(4096))
    with pytest.raises(BackupError, match=r"ingen SQLite-säkerhetskopia|skadad|går inte att öppna"):
        restore_database(f"sqlite:///{tmp_path / 'target.sqlite3'}", junk)
    plain = tmp_path / "plain.sqlite3"
    with sqlite3.connect(plain) as connection:
        connection.execute("CREATE TABLE t (x)")
    with pytest.raises(BackupError, match="ingen säkerhetskopia av Infora"):
        restore_database(f"sqlite:///{tmp_path / 'target.sqlite3'}", plain)
    with pytest.raises(BackupError, match="finns inte"):
        restore_database(f"sqlite:///{tmp_path / 'target.sqlite3'}", tmp_path / "saknas.sqlite3")
    with pytest.raises(BackupError, match="finns inte"):
        backup_database(f"sqlite:///{tmp_path / 'saknas.sqlite3'}", tmp_path / "b.sqlite3")


# -- PostgreSQL ------------------------------------------------------------------------------------


def test_the_password_goes_in_the_environment_never_on_the_command_line() -> None:
    url = make_url("postgresql+psycopg://infora:s3cret%21@db.region.se:5433/infora?sslmode=require")
    conninfo, env = pg_connection(url)
    assert "s3cret" not in conninfo
    assert conninfo == "postgresql://infora@db.region.se:5433/infora?sslmode=require"
    assert env["PGPASSWORD"] == "s3cret!"


def test_a_missing_pg_dump_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = "postgresql+psycopg://infora@127.0.0.1:1/infora"
    with pytest.raises(BackupError, match=r"pg_dump finns inte i .* \(INFORA_PG_BINDIR\)"):
        backup_database(url, tmp_path / "b.dump", pg_bindir=tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BackupError, match=r"pg_dump saknas.*postgresql-client") as missing:
        backup_database(url, tmp_path / "b.dump")
    assert "INFORA_PG_BINDIR" in missing.value.message
    (tmp_path / "b.dump").write_bytes(b"PGDMP")
    with pytest.raises(BackupError, match="pg_restore saknas"):
        restore_database(url, tmp_path / "b.dump")
    assert not list(tmp_path.glob(".*.tmp"))  # no half-written file left behind


@pytest.fixture()
def postgres_databases() -> Iterator[tuple[str, str]]:
    """Two scratch databases on the test server (a source and a restore target)."""
    base = os.environ.get("INFORA_TEST_DATABASE_URL", "")
    assert base.startswith("postgresql"), "collected only on PostgreSQL (tests/conftest.py)"
    admin = create_engine(base, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    names = [f"infora_backup_{uuid.uuid4().hex[:8]}_{role}" for role in ("src", "dst")]
    with admin.connect() as connection:
        for name in names:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    urls = [make_url(base).set(database=name).render_as_string(hide_password=False) for name in names]
    try:
        yield urls[0], urls[1]
    finally:
        with admin.connect() as connection:
            for name in names:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_postgres_round_trip_with_pg_dump_and_pg_restore(postgres_databases: tuple[str, str], tmp_path: Path) -> None:
    source, target = postgres_databases
    _infora_db(source, ["anna", "bertil"])
    dump = tmp_path / "infora.dump"
    report = backup_database(source, dump)
    assert report.backend == "postgresql" and report.revision is not None
    assert dump.read_bytes()[:5] == b"PGDMP"  # pg_dump's custom format
    assert stat.S_IMODE(dump.stat().st_mode) == 0o600

    restored = restore_database(target, dump)  # empty: no --force needed
    assert restored.revision == report.revision
    assert _usernames(target) == ["anna", "bertil"]

    # The target now holds data: refused; forced, it is replaced, and a table the backup does not
    # know (as a newer schema would have made) is dropped so `infora db upgrade` can run.
    engine = make_engine(target)
    with unit_of_work(make_session_factory(engine)) as session:
        create_user(session, SYSTEM_ACTOR, username="cecilia", display_name="Cecilia")
        session.execute(text("CREATE TABLE newer_feature (id integer)"))
    engine.dispose()
    with pytest.raises(BackupError, match="innehåller redan data"):
        restore_database(target, dump)
    assert _usernames(target) == ["anna", "bertil", "cecilia"]
    forced = restore_database(target, dump, force=True)
    assert _usernames(target) == ["anna", "bertil"]
    assert any("newer_feature" in note for note in forced.notes)
    engine = make_engine(target)
    upgrade_database(engine)  # the restored database upgrades cleanly
    with Session(engine) as session:
        assert session.scalar(text("SELECT count(*) FROM users")) == 2
    engine.dispose()


def test_postgres_restore_refuses_a_file_that_is_not_a_dump(
    postgres_databases: tuple[str, str], tmp_path: Path
) -> None:
    _source, target = postgres_databases
    junk = tmp_path / "junk.dump"
    junk.write_text("SELECT 1;")
    with pytest.raises(BackupError, match="pg_restore --list misslyckades"):
        restore_database(target, junk)
