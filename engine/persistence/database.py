"""Database engines and sessions.

SQLite (the embedded default) is set up for a small multi-process site: WAL journal so readers never
block the writer, a busy timeout, foreign keys on, and transactions begun by us rather than by the
sqlite3 module, so that a write transaction can take the write lock at its start
(``BEGIN IMMEDIATE``): two writers then queue instead of one failing half-way. PostgreSQL needs none
of this; it gets row locks (``SELECT … FOR UPDATE``) in the services.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

DEFAULT_SQLITE_PATH = Path("instance") / "infora.sqlite3"
WRITE_OPTION = "infora_write"
PING_AFTER_IDLE_SECONDS = 5.0
"""A pooled PostgreSQL connection idle longer than this is pinged before it is handed out."""
_IDLE_SINCE = "infora_idle_since"


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


def make_engine(url: str, *, ping_after_idle: float = PING_AFTER_IDLE_SECONDS, **kwargs: Any) -> Engine:
    """Create an engine configured for Infora's transaction model on this backend.

    A PostgreSQL connection is pinged when it leaves the pool after ``ping_after_idle`` seconds or
    more unused (see :func:`_ping_when_idle`)."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        _configure_sqlite(engine)
        return engine
    engine = create_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        _ping_when_idle(engine, ping_after_idle)
    return engine


def _ping_when_idle(engine: Engine, after: float) -> None:
    """Ping a pooled connection before use only when it has been idle ``after`` seconds or more.

    SQLAlchemy's ``pool_pre_ping`` pings on every checkout: a round trip on every request (5 % of
    a busy web worker's wall-clock time in a load run's profile). A connection is lost when the
    server restarts, fails over or drops idle connections — after a quiet spell, which is when this
    pings. Lost while in steady use, the request that finds out fails, and the pool then replaces every connection older than
    the failure (SQLAlchemy's invalidation), so the next request gets a fresh one; a request in
    flight at a restart fails with either setting. Raising DisconnectionError from the checkout
    event makes the pool discard the connection and hand out a new one (the pool's documented
    hook)."""

    @event.listens_for(engine, "connect")
    def _connected(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def _checked_in(dbapi_connection: Any, record: Any) -> None:
        if dbapi_connection is not None:
            record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_IDLE_SINCE)
        if since is not None and time.monotonic() - since < after:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:  # whatever broke it, the connection is unusable
            raise DisconnectionError(f"A pooled connection was lost while idle: {error}") from error


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


class StatementCache:
    """The compiled forms of one statement object, one per dialect: SQLAlchemy's ``compiled_cache``
    execution option for a statement the hot path runs on every request (see :class:`Hot`).

    SQLAlchemy's own cache (one per engine) finds a statement's compiled form by hashing and
    comparing the statement's whole cache key — a nested tuple of a few hundred values for the
    hot path's joins and combined writes — on every execution (``LRUCache.get``: 3.3 % of a busy
    worker's CPU in a load run's py-spy profile, 0.2 % with this cache). A statement object's cache
    key is computed once and kept (memoised), so this cache, which holds a single statement,
    answers by that key's identity instead."""

    def __init__(self) -> None:
        self._compiled: dict[tuple[int, tuple[str, ...], bool, bool], tuple[Any, Any, Any]] = {}

    def get(self, key: tuple[Any, Any, tuple[str, ...], bool, bool], default: Any = None) -> Any:
        dialect, cache_key, column_keys, translated, many = key
        entry = self._compiled.get((id(dialect), column_keys, translated, many))
        if entry is None or entry[0] is not dialect or entry[1] is not cache_key:
            return default
        return entry[2]

    def __setitem__(self, key: tuple[Any, Any, tuple[str, ...], bool, bool], compiled: Any) -> None:
        dialect, cache_key, column_keys, translated, many = key
        # The dialect and the key are held, so that their ids are not given to other objects.
        self._compiled[(id(dialect), column_keys, translated, many)] = (dialect, cache_key, compiled)


class Hot:
    """A statement built once (a module constant, or from a cached builder) that the hot path
    runs on every request, with a :class:`StatementCache` of its own. (SQLAlchemy takes the cache
    as an option of each execution, not of the statement.)"""

    __slots__ = ("options", "statement")

    def __init__(self, statement: Any) -> None:
        self.statement = statement
        self.options = {"compiled_cache": StatementCache()}

    def run(self, connection: Connection, params: Mapping[str, Any]) -> Any:
        """Execute on ``connection`` with ``params``; the CursorResult."""
        return connection.execute(self.statement, params, execution_options=self.options)


def read_rows(session: Session, statement: Hot, params: Mapping[str, Any]) -> Any:
    """Run a read of plain columns on the session's connection, after flushing what the session
    holds (as the ORM's autoflush would). The hot path's reads go this way: through the ORM each
    also built an ORM result, ~40 µs of a request's CPU for the lock and the token look-up."""
    session.flush()
    return statement.run(session.connection(), params)
