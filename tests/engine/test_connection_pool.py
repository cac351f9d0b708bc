"""The PostgreSQL connection pool pings a connection only after it has been idle, and recovers from
a connection the server dropped (engine/persistence/database.py)."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from engine.persistence.database import make_engine


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(text("SELECT pg_backend_pid()")))


def _terminate(url: str, pid: int) -> None:
    """Drop a server connection, as a restart, failover or idle cut-off would."""
    admin = make_engine(url)
    with admin.connect() as conn:
        assert conn.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}) is True
    admin.dispose()
    time.sleep(0.2)  # the backend exits asynchronously


def _counting_pings(engine: Engine) -> list[object]:
    """The connections the engine's dialect pings from now on."""
    pings: list[object] = []
    original = engine.dialect.do_ping

    def counting_ping(dbapi_connection: object) -> bool:
        pings.append(dbapi_connection)
        return original(dbapi_connection)

    engine.dialect.do_ping = counting_ping  # type: ignore[method-assign]
    return pings


def test_a_connection_in_steady_use_is_not_pinged(postgres_url: str) -> None:
    engine = make_engine(postgres_url, ping_after_idle=60)
    pings = _counting_pings(engine)
    try:
        for _ in range(5):
            _backend_pid(engine)
        assert pings == []
    finally:
        engine.dispose()


def test_an_idle_connection_is_pinged_and_a_dropped_one_replaced(postgres_url: str) -> None:
    engine = make_engine(postgres_url, ping_after_idle=0.1)
    pings = _counting_pings(engine)
    try:
        first = _backend_pid(engine)
        _terminate(postgres_url, first)  # takes longer than ping_after_idle
        second = _backend_pid(engine)  # the ping finds the dropped connection; the pool connects anew
        assert second != first
        assert len(pings) == 1
    finally:
        engine.dispose()


def test_a_connection_dropped_while_in_steady_use_fails_one_use_then_the_pool_recovers(postgres_url: str) -> None:
    engine = make_engine(postgres_url, ping_after_idle=60)
    try:
        first = _backend_pid(engine)
        _terminate(postgres_url, first)
        with pytest.raises(OperationalError):
            _backend_pid(engine)  # not pinged: the use that finds the loss fails
        second = _backend_pid(engine)
        assert second != first
    finally:
        engine.dispose()
