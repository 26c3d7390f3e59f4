"""The workflow language: for_each instances, run outputs, child runs and finally hand-over.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("step_runs") as batch:
        batch.add_column(sa.Column("parent", sa.String(200), nullable=False, server_default=""))
        batch.add_column(sa.Column("item_index", sa.Integer(), nullable=True))
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("outputs", sa.Text(), nullable=False, server_default="{}"))
        batch.add_column(sa.Column("parent_run_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("parent_step_id", sa.String(200), nullable=True))
        batch.add_column(sa.Column("depth", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("finalizing", sa.String(32), nullable=False, server_default=""))
    # The server defaults only fill the rows that exist; the models carry none.
    with op.batch_alter_table("step_runs") as batch:
        batch.alter_column("parent", server_default=None)
    with op.batch_alter_table("runs") as batch:
        batch.alter_column("outputs", server_default=None)
        batch.alter_column("depth", server_default=None)
        batch.alter_column("finalizing", server_default=None)
    # One child per calling step; top-level runs (NULLs) are not constrained.
    op.create_index("ux_runs_parent_run_id_parent_step_id", "runs", ["parent_run_id", "parent_step_id"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_runs_parent_run_id_parent_step_id", table_name="runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("finalizing")
        batch.drop_column("depth")
        batch.drop_column("parent_step_id")
        batch.drop_column("parent_run_id")
        batch.drop_column("outputs")
    with op.batch_alter_table("step_runs") as batch:
        batch.drop_column("item_index")
        batch.drop_column("parent")
