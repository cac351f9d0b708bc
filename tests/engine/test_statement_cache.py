"""engine/persistence/database.py's StatementCache: a hot statement is compiled once per dialect,
answered by the identity of its cache key, and gives the rows SQLAlchemy's own cache gives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, bindparam, select
from sqlalchemy.orm import Session

from engine.persistence import Case
from engine.persistence.database import Hot, StatementCache, make_engine
from engine.persistence.schema import upgrade_database
from engine.services import case_store
from tests.factories import start_vgr


def _statement() -> Any:
    return select(Case.id, Case.title).where(Case.id == bindparam("case_id"))


def _compiles(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every compilation SQLAlchemy makes from now on (the statement compiled)."""
    made: list[Any] = []
    compile_ = type(_statement())._compiler

    def counted(self: Any, dialect: Any, **kw: Any) -> Any:
        made.append(self)
        return compile_(self, dialect, **kw)

    monkeypatch.setattr(type(_statement()), "_compiler", counted)
    return made


def _sqlite(path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{path}")
    upgrade_database(engine)
    return engine


def test_a_hot_statement_is_compiled_once_and_kept_out_of_the_engine_s_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = _sqlite(tmp_path / "a.sqlite3")
    hot = Hot(_statement())
    made = _compiles(monkeypatch)
    engine_cache = engine._compiled_cache
    before = len(engine_cache) if engine_cache is not None else 0
    with engine.connect() as conn:
        for case_id in (1, 2, 3):
            assert hot.run(conn, {"case_id": case_id}).all() == []
    assert made == [hot.statement]
    assert (len(engine_cache) if engine_cache is not None else 0) == before
    engine.dispose()


def test_each_dialect_gets_its_own_compiled_form(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two engines (two dialect objects): one compilation each, each answered with its own."""
    first, second = _sqlite(tmp_path / "a.sqlite3"), _sqlite(tmp_path / "b.sqlite3")
    hot = Hot(_statement())
    made = _compiles(monkeypatch)
    for engine in (first, second, first, second):
        with engine.connect() as conn:
            hot.run(conn, {"case_id": 1}).all()
    assert made == [hot.statement, hot.statement]
    cache = hot.options["compiled_cache"]
    assert isinstance(cache, StatementCache)
    key = hot.statement._generate_cache_key().key
    for engine in (first, second):
        found = cache.get((engine.dialect, key, ("case_id",), False, False))
        assert found is not None and found.dialect is engine.dialect
    assert cache.get((first.dialect, (*key, "another"), ("case_id",), False, False)) is None  # another statement
    first.dispose()
    second.dispose()


def test_a_hot_statement_gives_the_rows_sqlalchemy_s_own_cache_gives(published: Session) -> None:
    """The hot path's lock, run both ways on the suite's database (SQLite or PostgreSQL)."""
    case_id, _, _ = start_vgr(published, units=2)
    published.commit()
    params = {"case_id": case_id}
    conn = published.connection()
    ours = case_store._LOCK_BY_ID.run(conn, params).all()
    assert len(ours) == 1 and ours[0].id == case_id
    assert ours == conn.execute(case_store._LOCK_BY_ID.statement, params).all()
    published.rollback()
