"""indexes for the portfolio with 100,000 cases (issue 8 scale bench)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22 15:45:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The portfolio's counts per pathway and region, and the order of its late cases, from indexes
    # alone; the late cases themselves from the user tasks' due dates.
    op.create_index(
        "ix_cases_status_pathway_region_phase", "cases", ["status", "pathway_id", "region_id", "phase"], unique=False
    )
    op.create_index(
        "ix_cases_id_status_pathway_region", "cases", ["id", "status", "pathway_id", "region_id"], unique=False
    )
    op.create_index("ix_task_index_due_kind_case", "task_index", ["due_at", "kind", "case_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_task_index_due_kind_case", table_name="task_index")
    op.drop_index("ix_cases_id_status_pathway_region", table_name="cases")
    op.drop_index("ix_cases_status_pathway_region_phase", table_name="cases")
