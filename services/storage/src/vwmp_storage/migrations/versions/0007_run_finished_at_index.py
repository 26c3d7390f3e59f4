"""Runs by (workflow, finished_at): what a completion-trigger sweep reads every few seconds.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_runs_workflow_finished_at", "runs", ["workflow", "finished_at"])


def downgrade() -> None:
    op.drop_index("ix_runs_workflow_finished_at", table_name="runs")
