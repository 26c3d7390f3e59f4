"""Triggers: how each run was started, its dedupe key, and the runtime state of every trigger.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("trigger_id", sa.String(64), nullable=False, server_default=""))
        batch.add_column(sa.Column("trigger_kind", sa.String(16), nullable=False, server_default=""))
        batch.add_column(sa.Column("trigger_at", UTC_TIME, nullable=True))
        batch.add_column(sa.Column("trigger_delivery", sa.String(200), nullable=False, server_default=""))
        batch.add_column(sa.Column("trigger_run_id", sa.String(36), nullable=False, server_default=""))
        batch.add_column(sa.Column("trigger_key", sa.String(200), nullable=True))
    # The server defaults only fill the rows that exist; the models carry none.
    with op.batch_alter_table("runs") as batch:
        batch.alter_column("trigger_id", server_default=None)
        batch.alter_column("trigger_kind", server_default=None)
        batch.alter_column("trigger_delivery", server_default=None)
        batch.alter_column("trigger_run_id", server_default=None)
    # One run per tick, delivery or finished run of a trigger; runs without a key (NULL) are not constrained.
    op.create_index("ux_runs_workflow_trigger_id_trigger_key", "runs", ["workflow", "trigger_id", "trigger_key"],
                    unique=True)
    op.create_index("ix_runs_workflow_trigger_id_created_at", "runs", ["workflow", "trigger_id", "created_at"])
    op.create_table(
        "trigger_states",
        sa.Column("workflow", sa.String(64), nullable=False),
        sa.Column("trigger_id", sa.String(64), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("next_fire_at", UTC_TIME, nullable=True),
        sa.Column("last_fire_at", UTC_TIME, nullable=True),
        sa.Column("last_run_id", sa.String(36), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("paused_by", sa.String(200), nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("workflow", "trigger_id", name="pk_trigger_states"),
    )


def downgrade() -> None:
    op.drop_table("trigger_states")
    op.drop_index("ix_runs_workflow_trigger_id_created_at", table_name="runs")
    op.drop_index("ux_runs_workflow_trigger_id_trigger_key", table_name="runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("trigger_key")
        batch.drop_column("trigger_run_id")
        batch.drop_column("trigger_delivery")
        batch.drop_column("trigger_at")
        batch.drop_column("trigger_kind")
        batch.drop_column("trigger_id")
