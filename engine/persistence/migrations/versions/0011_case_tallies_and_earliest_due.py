"""case tallies kept by triggers, and each case's earliest due date (portfolio at 100,000 cases)

The portfolio counted every case for its table per pathway and region, and decided "late" for every
case to sort the late ones first: both grew with the number of cases (3x slower at 100,000 than at
10,000). Now the counts are a small table the database keeps on every insert, update and delete of
a case, and the late cases are a range of an index on their earliest due date; the others, ranges of
an index on status and last change.

Triggers rather than application code for the counts: every writer of ``cases`` — the services, a
bulk load, a restore, a hand-made fix — keeps them right, and a transaction that rolls back takes
its counts with it. SQLite gets three plain triggers; PostgreSQL one function, whose two changes of
an update are made in one statement in key order, so that two transactions moving cases in
opposite directions (a pause and a resume) take the row locks in the same order and cannot
deadlock. Note for later migrations: SQLite's batch mode, when it recreates ``cases``, drops these
triggers; recreate them afterwards (``tests/engine/test_case_tallies.py`` fails if they are gone).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-22 20:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import engine.persistence.base

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_KEY_OLD = "coalesce(OLD.pathway_id, 0), coalesce(OLD.region_id, 0), OLD.status, coalesce(OLD.phase, '')"
_KEY_NEW = "coalesce(NEW.pathway_id, 0), coalesce(NEW.region_id, 0), NEW.status, coalesce(NEW.phase, '')"
_CHANGED = (
    "OLD.pathway_id IS NOT NEW.pathway_id OR OLD.region_id IS NOT NEW.region_id "
    "OR OLD.status IS NOT NEW.status OR OLD.phase IS NOT NEW.phase"
)
_UPSERT = (
    "INSERT INTO case_tallies (pathway_id, region_id, status, phase, n) VALUES ({key}, {n}) "
    "ON CONFLICT (pathway_id, region_id, status, phase) DO UPDATE SET n = case_tallies.n + excluded.n"
)

_SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER tr_cases_tally_insert AFTER INSERT ON cases BEGIN
        {_UPSERT.format(key=_KEY_NEW, n=1)};
    END""",
    f"""CREATE TRIGGER tr_cases_tally_delete AFTER DELETE ON cases BEGIN
        {_UPSERT.format(key=_KEY_OLD, n=-1)};
    END""",
    f"""CREATE TRIGGER tr_cases_tally_update AFTER UPDATE OF pathway_id, region_id, status, phase ON cases
        WHEN {_CHANGED} BEGIN
        {_UPSERT.format(key=_KEY_OLD, n=-1)};
        {_UPSERT.format(key=_KEY_NEW, n=1)};
    END""",
]

_PG_FUNCTION = """
CREATE FUNCTION infora_tally_cases() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NOT (
        OLD.pathway_id IS DISTINCT FROM NEW.pathway_id OR OLD.region_id IS DISTINCT FROM NEW.region_id
        OR OLD.status IS DISTINCT FROM NEW.status OR OLD.phase IS DISTINCT FROM NEW.phase
    ) THEN
        RETURN NULL;
    END IF;
    INSERT INTO case_tallies (pathway_id, region_id, status, phase, n)
    SELECT p, r, s, ph, sum(d)::int FROM (
        SELECT coalesce(OLD.pathway_id, 0), coalesce(OLD.region_id, 0), OLD.status, coalesce(OLD.phase, ''), -1
        WHERE TG_OP IN ('UPDATE', 'DELETE')
        UNION ALL
        SELECT coalesce(NEW.pathway_id, 0), coalesce(NEW.region_id, 0), NEW.status, coalesce(NEW.phase, ''), 1
        WHERE TG_OP IN ('UPDATE', 'INSERT')
    ) AS change (p, r, s, ph, d)
    GROUP BY p, r, s, ph
    ORDER BY p, r, s, ph
    ON CONFLICT (pathway_id, region_id, status, phase) DO UPDATE SET n = case_tallies.n + excluded.n;
    RETURN NULL;
END
$$
"""

_PG_TRIGGER = """
CREATE TRIGGER tr_cases_tally AFTER INSERT OR DELETE OR UPDATE OF pathway_id, region_id, status, phase
ON cases FOR EACH ROW EXECUTE FUNCTION infora_tally_cases()
"""

_BACKFILL_TALLIES = """
INSERT INTO case_tallies (pathway_id, region_id, status, phase, n)
SELECT coalesce(pathway_id, 0), coalesce(region_id, 0), status, coalesce(phase, ''), count(*)
FROM cases GROUP BY coalesce(pathway_id, 0), coalesce(region_id, 0), status, coalesce(phase, '')
"""

_BACKFILL_DUE = """
UPDATE cases SET earliest_due_at = (
    SELECT min(t.due_at) FROM task_index t WHERE t.case_id = cases.id AND t.kind = 'user'
)
"""


def upgrade() -> None:
    op.create_table(
        "case_tallies",
        sa.Column("pathway_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("region_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("phase", sa.String(length=40), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("pathway_id", "region_id", "status", "phase", name=op.f("pk_case_tallies")),
    )
    op.execute(_BACKFILL_TALLIES)

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("earliest_due_at", engine.persistence.base.UTCDateTime(timezone=True), nullable=True)
        )
    op.execute(_BACKFILL_DUE)
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cases_earliest_due_at"), ["earliest_due_at"], unique=False)
        batch_op.create_index("ix_cases_status_updated_at", ["status", "updated_at", "id"], unique=False)
        # 0009's indexes for the old way of counting, finding and ordering: nothing reads them.
        batch_op.drop_index("ix_cases_id_status_pathway_region")
        batch_op.drop_index("ix_cases_status_pathway_region_phase")
    with op.batch_alter_table("task_index", schema=None) as batch_op:
        batch_op.drop_index("ix_task_index_due_kind_case")
    # Last: a batch operation that recreated ``cases`` on SQLite would drop its triggers.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        op.execute(_PG_TRIGGER)
    else:
        for trigger in _SQLITE_TRIGGERS:
            op.execute(trigger)


def downgrade() -> None:
    with op.batch_alter_table("task_index", schema=None) as batch_op:
        batch_op.create_index("ix_task_index_due_kind_case", ["due_at", "kind", "case_id"], unique=False)
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index(
            "ix_cases_id_status_pathway_region", ["id", "status", "pathway_id", "region_id"], unique=False
        )
        batch_op.create_index(
            "ix_cases_status_pathway_region_phase", ["status", "pathway_id", "region_id", "phase"], unique=False
        )
        batch_op.drop_index("ix_cases_status_updated_at")
        batch_op.drop_index(batch_op.f("ix_cases_earliest_due_at"))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER tr_cases_tally ON cases")
        op.execute("DROP FUNCTION infora_tally_cases()")
    else:
        for name in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER tr_cases_tally_{name}")
    # Not in batch mode: SQLite would copy ``cases`` into a new table, which its foreign keys refuse
    # when it holds data; both databases drop a column without an index in place.
    op.execute("ALTER TABLE cases DROP COLUMN earliest_due_at")
    op.drop_table("case_tallies")
