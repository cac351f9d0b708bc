"""Backups and restores of the whole database, while Infora runs.

SQLite: SQLite's online backup API (``sqlite3.Connection.backup``) copies the database as one
consistent snapshot even while the web workers and the scheduler write; the copy is a single
self-contained file (rollback journal, not WAL) that opens with any SQLite.

PostgreSQL: ``pg_dump --format=custom`` (a consistent snapshot too) and ``pg_restore --clean
--if-exists --single-transaction`` (all or nothing). The password travels in ``PGPASSWORD``, never
on the command line, where every user of the machine could read it in the process list.

A restore refuses to overwrite a database that holds data unless forced: restoring yesterday's
backup over today's work by mistake loses a day of a region's work. Backup files hold personal data
(names, e-mail addresses, form contents), so they are created readable by their owner only.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, inspect, literal, select, table, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

_STDERR_TAIL = 1500
_TOC_TABLE = re.compile(r"^\d+; \d+ \d+ TABLE (\S+) (\S+) ")


class BackupError(Exception):
    """A backup or restore could not be made; ``message`` says why in Swedish, without secrets."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class BackupReport:
    """What a backup or restore did.

    Attributes:
        action: ``backup`` or ``restore``.
        backend: ``sqlite`` or ``postgresql``.
        database: the database, password hidden.
        file: the backup file.
        size: the backup file's size in bytes.
        revision: the schema revision (Alembic) of the copied or restored data, if it has one.
        notes: further things the person should know (tables dropped, an upgrade to run).
    """

    action: str
    backend: str
    database: str
    file: Path
    size: int
    revision: str | None
    notes: tuple[str, ...] = ()

    def lines(self) -> list[str]:
        """The report in Swedish, one line per fact, for the command line."""
        kind = "SQLite" if self.backend == "sqlite" else "PostgreSQL"
        if self.action == "backup":
            first = f"Säkerhetskopia av {kind}-databasen {self.database} skriven till {self.file} ({_size(self.size)})."
        else:
            first = f"{kind}-databasen {self.database} är återställd från {self.file} ({_size(self.size)})."
        return [first, f"Schemaversion: {self.revision or 'okänd'}.", *self.notes]


def _size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f} MB"
    return f"{max(n, 1) / 1024:.1f} kB"


def _url(database_url: str) -> URL:
    try:
        url = make_url(database_url)
    except SQLAlchemyError as err:
        raise BackupError(f"Databasens URL går inte att tolka: {err.__class__.__name__}.") from None
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise BackupError(f"Säkerhetskopiering stöds för SQLite och PostgreSQL, inte {url.get_backend_name()!r}.")
    return url


def _sqlite_path(url: URL) -> Path:
    if url.database in (None, "", ":memory:"):
        raise BackupError("En SQLite-databas i minnet kan inte säkerhetskopieras.")
    return Path(str(url.database))


def _private_file(path: Path) -> None:
    """Create ``path`` empty, readable by its owner only (it will hold personal data)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def _temporary(target: Path) -> Path:
    return target.with_name(f".{target.name}.{os.getpid()}.tmp")


def _check_target(target: Path, overwrite: bool) -> None:
    if target.exists() and not overwrite:
        raise BackupError(
            f"{target} finns redan. Välj ett annat filnamn eller lägg till --force för att ersätta filen."
        )
    if target.is_dir():
        raise BackupError(f"{target} är en katalog; ange ett filnamn.")


# -- SQLite ----------------------------------------------------------------------------------------


def _sqlite_revision(connection: sqlite3.Connection) -> str | None:
    try:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError:
        return None
    return str(row[0]) if row else None


def _sqlite_rows(connection: sqlite3.Connection) -> dict[str, bool]:
    """Table name → whether it holds any row (Alembic's bookkeeping left out)."""
    names = [
        r[0]
        for r in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
        if r[0] != "alembic_version"
    ]
    quoted = {name: '"' + name.replace('"', '""') + '"' for name in names}
    return {name: connection.execute(f"SELECT 1 FROM {quoted[name]} LIMIT 1").fetchone() is not None for name in names}


def _backup_sqlite(url: URL, target: Path) -> BackupReport:
    source_path = _sqlite_path(url)
    if not source_path.is_file():
        raise BackupError(f"SQLite-databasen {source_path} finns inte.")
    temporary = _temporary(target)
    _private_file(temporary)
    try:
        source = sqlite3.connect(source_path, timeout=30)
        copy = sqlite3.connect(temporary)
        try:
            # One step (pages=-1): the whole database under one read transaction, so the copy is a
            # snapshot of one moment; in WAL mode writers go on meanwhile.
            source.backup(copy)
            # The copy inherits WAL mode; a backup should be one file with no -wal beside it.
            copy.execute("PRAGMA journal_mode=DELETE")
            check = copy.execute("PRAGMA quick_check").fetchone()
            if not check or check[0] != "ok":
                raise BackupError(f"Kopian klarade inte SQLites kontroll: {check[0] if check else '?'}.")
            revision = _sqlite_revision(copy)
        finally:
            copy.close()
            source.close()
        _fsync(temporary)
        os.replace(temporary, target)
    except sqlite3.Error as err:
        raise BackupError(f"Säkerhetskopieringen misslyckades: {err}.") from err
    finally:
        temporary.unlink(missing_ok=True)
    return BackupReport("backup", "sqlite", str(source_path), target, target.stat().st_size, revision)


def _restore_sqlite(url: URL, source_file: Path, force: bool) -> BackupReport:
    target_path = _sqlite_path(url)
    try:
        source = sqlite3.connect(source_file.resolve().as_uri() + "?mode=ro", uri=True)
    except sqlite3.Error as err:
        raise BackupError(f"{source_file} går inte att öppna som SQLite-databas: {err}.") from err
    try:
        try:
            check = source.execute("PRAGMA quick_check").fetchone()
        except sqlite3.DatabaseError as err:
            raise BackupError(f"{source_file} är ingen SQLite-säkerhetskopia ({err}).") from err
        if not check or check[0] != "ok":
            raise BackupError(f"{source_file} är skadad: {check[0] if check else '?'}.")
        revision = _sqlite_revision(source)
        if revision is None:
            raise BackupError(f"{source_file} är ingen säkerhetskopia av Infora (ingen schemaversion).")
        target_path.parent.mkdir(parents=True, exist_ok=True)
        target = sqlite3.connect(target_path, timeout=30)
        try:
            filled = sorted(name for name, has_rows in _sqlite_rows(target).items() if has_rows)
            if filled and not force:
                raise BackupError(_not_empty(str(target_path), filled))
            # The backup API replaces every page of the target in one transaction: other
            # connections see either the old or the restored database, never a mix.
            source.backup(target)
            target.execute("PRAGMA journal_mode=WAL")
        finally:
            target.close()
    except sqlite3.Error as err:
        raise BackupError(f"Återställningen misslyckades: {err}.") from err
    finally:
        source.close()
    return BackupReport("restore", "sqlite", str(target_path), source_file, source_file.stat().st_size, revision)


def _fsync(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _not_empty(database: str, tables: Sequence[str]) -> str:
    shown = ", ".join(tables[:5]) + (f" (+{len(tables) - 5} till)" if len(tables) > 5 else "")
    return (
        f"Databasen {database} innehåller redan data ({shown}). Återställningen skulle ersätta den; "
        "lägg till --force om det är meningen."
    )


# -- PostgreSQL ------------------------------------------------------------------------------------


def _tool(name: str, bindir: Path | None) -> str:
    if bindir is not None:
        candidate = bindir / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
        raise BackupError(f"{name} finns inte i {bindir} (INFORA_PG_BINDIR).")
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} saknas. Installera PostgreSQL-klienten i samma huvudversion som servern "
            "(Debian: apt-get install postgresql-client) eller peka ut katalogen med INFORA_PG_BINDIR."
        )
    return found


def pg_connection(url: URL) -> tuple[str, dict[str, str]]:
    """The libpq connection string (without the password) and the environment for ``pg_dump`` and
    ``pg_restore``: the password goes in ``PGPASSWORD``, never on the command line."""
    # URL.set() reads None as "unchanged": build the URL anew to leave the password out.
    bare = URL.create("postgresql", url.username, None, url.host, url.port, url.database, url.query)
    conninfo = bare.render_as_string(hide_password=False)
    env = dict(os.environ)
    env.pop("PGPASSWORD", None)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    env.setdefault("PGCONNECT_TIMEOUT", "10")
    return conninfo, env


def _run(argv: list[str], env: dict[str, str], what: str) -> str:
    try:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    except OSError as err:
        raise BackupError(f"{what} kunde inte startas: {err.strerror}.") from None
    if done.returncode != 0:
        detail = done.stderr.strip()[-_STDERR_TAIL:] or f"slutkod {done.returncode}"
        raise BackupError(f"{what} misslyckades: {detail}")
    return done.stdout


def _pg_tables(url: URL) -> dict[str, bool]:
    """Tables of the public schema → whether each holds a row (Alembic's bookkeeping left out)."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            names = [n for n in inspect(connection).get_table_names() if n != "alembic_version"]
            return {
                name: connection.execute(select(literal(1)).select_from(table(name)).limit(1)).first() is not None
                for name in sorted(names)
            }
    except SQLAlchemyError as err:
        raise BackupError(f"Databasen går inte att nå: {err.__class__.__name__}: {_first_line(err)}") from None
    finally:
        engine.dispose()


def _pg_revision(url: URL) -> str | None:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            if not inspect(connection).has_table("alembic_version"):
                return None
            revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
            return None if revision is None else str(revision)
    except SQLAlchemyError:
        return None
    finally:
        engine.dispose()


def _first_line(err: BaseException) -> str:
    message = str(getattr(err, "orig", None) or err).strip()
    return message.splitlines()[0][:300] if message else ""


def _backup_postgres(url: URL, target: Path, bindir: Path | None) -> BackupReport:
    pg_dump = _tool("pg_dump", bindir)
    conninfo, env = pg_connection(url)
    temporary = _temporary(target)
    _private_file(temporary)
    try:
        _run([pg_dump, "--format=custom", "--file", str(temporary), "--dbname", conninfo], env, "pg_dump")
        _fsync(temporary)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    database = url.render_as_string(hide_password=True)
    return BackupReport("backup", "postgresql", database, target, target.stat().st_size, _pg_revision(url))


def _restore_postgres(url: URL, source_file: Path, force: bool, bindir: Path | None) -> BackupReport:
    pg_restore = _tool("pg_restore", bindir)
    conninfo, env = pg_connection(url)
    # Reading the archive's table of contents first: a wrong file fails here, before the database
    # is touched.
    toc = _run([pg_restore, "--list", str(source_file)], env, "pg_restore --list")
    in_backup = {m.group(2) for line in toc.splitlines() if (m := _TOC_TABLE.match(line)) and m.group(1) == "public"}
    if "alembic_version" not in in_backup:
        raise BackupError(f"{source_file} är ingen säkerhetskopia av Infora (ingen schemaversion).")
    existing = _pg_tables(url)
    filled = sorted(name for name, has_rows in existing.items() if has_rows)
    if filled and not force:
        raise BackupError(_not_empty(url.render_as_string(hide_password=True), filled))
    _run(
        [pg_restore, "--clean", "--if-exists", "--no-owner", "--no-privileges", "--single-transaction",
         "--exit-on-error", "--dbname", conninfo, str(source_file)],
        env, "pg_restore",
    )  # fmt: skip
    notes: list[str] = []
    # Tables the backup does not know (made by a newer schema than the backup's) would make the next
    # `infora db upgrade` fail on "already exists": the restored database holds the backup only.
    extra = sorted(set(existing) - in_backup)
    if extra:
        engine = create_engine(url, poolclass=NullPool)
        try:
            with engine.begin() as connection:
                for name in extra:
                    connection.execute(text(f'DROP TABLE IF EXISTS "{name}" CASCADE'))
        finally:
            engine.dispose()
        notes.append(f"Tabeller som inte fanns i säkerhetskopian är borttagna: {', '.join(extra)}.")
    database = url.render_as_string(hide_password=True)
    return BackupReport(
        "restore", "postgresql", database, source_file, source_file.stat().st_size, _pg_revision(url), tuple(notes)
    )


# -- public ----------------------------------------------------------------------------------------


def backup_database(
    database_url: str, target: Path, *, overwrite: bool = False, pg_bindir: Path | None = None
) -> BackupReport:
    """Write a consistent copy of the database to ``target`` while the application runs.

    SQLite: a SQLite file; PostgreSQL: a ``pg_dump`` custom-format archive. The file is written
    under a temporary name and renamed when complete, so ``target`` is never half a backup.

    Raises:
        BackupError: ``target`` exists (without ``overwrite``), the database cannot be read, or
            ``pg_dump`` is missing or fails.
    """
    url = _url(database_url)
    target = Path(target)
    _check_target(target, overwrite)
    if url.get_backend_name() == "sqlite":
        return _backup_sqlite(url, target)
    return _backup_postgres(url, target, pg_bindir)


def restore_database(
    database_url: str, source: Path, *, force: bool = False, pg_bindir: Path | None = None
) -> BackupReport:
    """Replace the database's contents with the backup in ``source``.

    Stop the web workers and the scheduler first: they would otherwise keep working on the data
    the restore replaces. A restored database may be older than the code: run ``infora db
    upgrade`` afterwards (the report's ``revision`` tells).

    Raises:
        BackupError: ``source`` is not a backup of this backend, the database holds data and
            ``force`` is False, or ``pg_restore`` is missing or fails (then nothing is changed).
    """
    url = _url(database_url)
    source = Path(source)
    if not source.is_file():
        raise BackupError(f"Säkerhetskopian {source} finns inte.")
    if url.get_backend_name() == "sqlite":
        return _restore_sqlite(url, source, force)
    return _restore_postgres(url, source, force, pg_bindir)
