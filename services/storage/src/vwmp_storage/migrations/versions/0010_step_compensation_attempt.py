"""Compensation attempts: a step's `compensation_attempt`, so a takeover goes on with the budget.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("step_runs") as batch:
        batch.add_column(sa.Column("compensation_attempt", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("step_runs") as batch:
        batch.alter_column("compensation_attempt", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("step_runs") as batch:
        batch.drop_column("compensation_attempt")
