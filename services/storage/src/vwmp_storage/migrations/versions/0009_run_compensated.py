"""Compensation: a run's `compensated` ('' none, 'requested' asked by a cancel, 'true', 'partial').

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("compensated", sa.String(16), nullable=False, server_default=""))
    with op.batch_alter_table("runs") as batch:
        batch.alter_column("compensated", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("compensated")
