"""Concurrency keys: a run's evaluated key, its limit and conflict rule, and when it took a slot.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("concurrency_key", sa.String(500), nullable=False, server_default=""))
        batch.add_column(sa.Column("concurrency_limit", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("concurrency_on_conflict", sa.String(16), nullable=False, server_default=""))
        batch.add_column(sa.Column("admitted_at", sa.DateTime(timezone=True), nullable=True))
    # The server defaults only fill the rows that exist; the models carry none.
    with op.batch_alter_table("runs") as batch:
        batch.alter_column("concurrency_key", server_default=None)
        batch.alter_column("concurrency_limit", server_default=None)
        batch.alter_column("concurrency_on_conflict", server_default=None)
    op.create_index("ix_runs_state_concurrency_key_created_at", "runs", ["state", "concurrency_key", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_runs_state_concurrency_key_created_at", table_name="runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("admitted_at")
        batch.drop_column("concurrency_on_conflict")
        batch.drop_column("concurrency_limit")
        batch.drop_column("concurrency_key")
