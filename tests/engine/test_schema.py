"""The Alembic migrations create exactly the schema the models describe, and what they set beyond it."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from engine.persistence import Base
from tests.factories import start_vgr


def test_migrations_match_the_models(db_engine: Engine) -> None:
    with db_engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_a_case_state_is_stored_compressed_with_lz4_on_postgresql(published: Session) -> None:
    """Migration 0012: the state every completion rewrites takes the cheaper compression."""
    case_id, _team, _units = start_vgr(published, units=3)
    published.commit()
    if published.get_bind().dialect.name == "postgresql":
        found = published.execute(
            text("SELECT pg_column_compression(state), octet_length(state) FROM cases WHERE id = :id"),
            {"id": case_id},
        ).one()
        assert found == ("lz4", found[1]) and found[1] > 2000  # large enough to be compressed
    else:
        assert published.scalar(text("SELECT typeof(state) FROM cases WHERE id = :id"), {"id": case_id}) == "text"
