"""drop the single-column indexes that 0009's indexes cover

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-22 19:20:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ix_task_index_due_kind_case starts with due_at and ix_cases_status_pathway_region_phase with
    # status: the old single-column indexes answer nothing those do not, and every completion's
    # index rows (deleted and inserted) and every case update paid for keeping them.
    op.drop_index("ix_task_index_due_at", table_name="task_index")
    op.drop_index("ix_cases_status", table_name="cases")


def downgrade() -> None:
    op.create_index("ix_cases_status", "cases", ["status"], unique=False)
    op.create_index("ix_task_index_due_at", "task_index", ["due_at"], unique=False)
