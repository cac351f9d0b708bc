"""Shared fixtures: a database per test run (SQLite file, or PostgreSQL when
INFORA_TEST_DATABASE_URL is set), emptied before each test, and factories for users and models."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from engine.catalogue.reference import load_reference_data
from engine.persistence import Base
from engine.persistence.database import begin_write, make_engine, make_session_factory
from engine.persistence.schema import upgrade_database
from engine.services import SYSTEM_ACTOR, publish_directory
from engine.workflow import engine_steps

# Every run of the engine steps is also made by SpiffWorkflow's own do_engine_steps on a copy of
# the workflow and compared (engine/workflow/engine_steps.py).
engine_steps.CHECK_STEPS = True

ROOT = Path(__file__).resolve().parents[1]
MODELS_DIR = ROOT / "bpmn"


@pytest.fixture(autouse=True)
def _root_logger_put_back() -> Iterator[None]:
    """A test that builds the app as production does configures logging for real (the root logger
    at INFO, Infora's handler on standard error); put the root logger back after it, so that the
    tests after it do not print every INFO line of a library (aiosmtpd's every connection)."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    root.setLevel(level)
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)


@pytest.fixture(scope="session")
def db_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    url = os.environ.get("INFORA_TEST_DATABASE_URL")
    if not url:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'infora-test.sqlite3'}"
    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    upgrade_database(engine)
    yield engine
    engine.dispose()


def _empty(engine: Engine) -> None:
    tables = [t.name for t in Base.metadata.sorted_tables]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for name in reversed(tables):
                conn.execute(text(f"DELETE FROM {name}"))
            # Deleting the cases fired the tally triggers: clear what they wrote, too.
            conn.execute(text("DELETE FROM case_tallies"))


@pytest.fixture()
def session_factory(db_engine: Engine) -> sessionmaker[Session]:
    _empty(db_engine)
    return make_session_factory(db_engine)


@pytest.fixture()
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session for one test; the test commits what it wants to persist, like an edge would."""
    s = session_factory()
    begin_write(s)
    try:
        yield s
    finally:
        s.rollback()
        s.close()


@pytest.fixture()
def reference(session: Session) -> Session:
    load_reference_data(session)
    session.commit()
    return session


@pytest.fixture()
def published(reference: Session) -> Session:
    """Reference data plus the shipped models, published."""
    publish_directory(reference, SYSTEM_ACTOR, MODELS_DIR)
    reference.commit()
    return reference


pytest_plugins = ["tests.smtp"]


POSTGRES_ONLY = frozenset({"postgres_databases", "postgres_url"})
"""Fixtures that only a PostgreSQL server can give (a test using one is PostgreSQL-only)."""


@pytest.fixture()
def postgres_url() -> str:
    """The PostgreSQL test server's URL (tests using it are collected only in the PostgreSQL pass)."""
    url = os.environ.get("INFORA_TEST_DATABASE_URL", "")
    assert url.startswith("postgresql"), "collected only on PostgreSQL (see pytest_collection_modifyitems)"
    return url


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that need a PostgreSQL server (they use a fixture of ``POSTGRES_ONLY``) run in the
    PostgreSQL pass of ``make test`` and are deselected — not skipped — in the SQLite pass."""
    if os.environ.get("INFORA_TEST_DATABASE_URL", "").startswith("postgresql"):
        return
    kept = [i for i in items if not POSTGRES_ONLY & set(getattr(i, "fixturenames", ()))]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept
