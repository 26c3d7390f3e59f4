"""Idempotency-Key: the client's key a run was created with and the digest of that request.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("idempotency_key", sa.String(255), nullable=True))
        batch.add_column(sa.Column("request_digest", sa.String(128), nullable=False, server_default=""))
    with op.batch_alter_table("runs") as batch:
        batch.alter_column("request_digest", server_default=None)
    # One run per key of an actor on a workflow; runs without a key (NULL) are not constrained. A key
    # is released (set NULL) when it is reused after it expired, in the transaction that reuses it.
    op.create_index("ux_runs_workflow_created_by_idempotency_key", "runs",
                    ["workflow", "created_by", "idempotency_key"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_runs_workflow_created_by_idempotency_key", table_name="runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("request_digest")
        batch.drop_column("idempotency_key")
