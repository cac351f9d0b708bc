"""Database engines and sessions.

SQLite (the embedded default) is set up for a small multi-process site: WAL journal so readers never
block the writer, a busy timeout, foreign keys on, and transactions begun by us rather than by the
sqlite3 module, so that a write transaction can take the write lock at its start
(``BEGIN IMMEDIATE``): two writers then queue instead of one failing half-way. PostgreSQL needs none
of this; it gets row locks (``SELECT … FOR UPDATE``) in the services.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

DEFAULT_SQLITE_PATH = Path("instance") / "infora.sqlite3"
WRITE_OPTION = "infora_write"


def normalise_database_url(url: str) -> str:
    """``postgres://`` and ``postgresql://`` URLs (as hosting services write them) with the psycopg
    3 driver SQLAlchemy needs; other URLs unchanged."""
    if url.startswith("postgres://"):
        return "postgresql+psycopg://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def database_url_from_env() -> str:
    """The database URL: ``DATABASE_URL`` if set, else the embedded SQLite file."""
    url = os.environ.get("DATABASE_URL") or os.environ.get("INFORA_DATABASE_URL")
    if url:
        return normalise_database_url(url)
    DEFAULT_SQLITE_PATH.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{DEFAULT_SQLITE_PATH}"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine configured for Infora's transaction model on this backend."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us emit BEGIN ourselves (see the module docstring).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
            # In WAL mode NORMAL keeps the database consistent after a crash and loses at most the
            # last transactions on power loss; FULL would fsync on every commit.
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get(WRITE_OPTION):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory whose sessions do not expire objects on commit."""
    return sessionmaker(engine, expire_on_commit=False)


def begin_write(session: Session) -> None:
    """Start the session's transaction as a write transaction.

    Call it first thing in a unit of work that will write. On SQLite it takes the write lock now
    (``BEGIN IMMEDIATE``), so concurrent writers wait their turn instead of failing; elsewhere it
    only opens the transaction.
    """
    session.connection(execution_options={WRITE_OPTION: True})


@contextmanager
def unit_of_work(factory: sessionmaker[Session], *, write: bool = True) -> Iterator[Session]:
    """One transaction: commit when the block ends, roll back on any exception.

    This is for the edges (web requests, CLI commands, scheduler passes); services never commit.
    """
    session = factory()
    try:
        if write:
            begin_write(session)
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
