"""SQLAlchemy models: the one schema shared by SQLite and PostgreSQL.

Alembic migrations in `migrations/versions` must produce exactly this schema;
a test compares them. Queries use the tables through SQLAlchemy Core for speed.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, MetaData, String, Table, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from vwmp_storage.dialect import UtcDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
# SQLite only auto-increments an INTEGER PRIMARY KEY, PostgreSQL wants BIGINT for logs.
AutoId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class WorkflowRow(Base):
    """A workflow name (SQL definition store); archiving hides it from lists."""

    __tablename__ = "workflows"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(200))
    archived_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    archived_by: Mapped[str] = mapped_column(String(200))


class WorkflowVersionRow(Base):
    """One immutable version of a definition, stored as JSON text."""

    __tablename__ = "workflow_versions"
    name: Mapped[str] = mapped_column(String(64), ForeignKey("workflows.name", ondelete="CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    definition: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(200))


class RunRow(Base):
    """A run of one pinned workflow version, with its lease for engine fencing."""

    __tablename__ = "runs"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    workflow: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(32))
    parameters: Mapped[str] = mapped_column(Text)
    dry_run: Mapped[bool] = mapped_column(Boolean)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    reopened_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    lease_owner: Mapped[str] = mapped_column(String(200))
    lease_epoch: Mapped[int] = mapped_column(BigInteger)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # spec.concurrency, evaluated at start: '' / 0 = the run has no key. A keyed run holds one of
    # its key's slots while admitted_at is set and the run is not terminal (leases.py).
    concurrency_key: Mapped[str] = mapped_column(String(500))
    concurrency_limit: Mapped[int] = mapped_column(Integer)
    concurrency_on_conflict: Mapped[str] = mapped_column(String(16))
    admitted_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    outputs: Mapped[str] = mapped_column(Text)  # spec.outputs as evaluated when the run ended, JSON
    # A child run (sub-workflow) names the step that started it; NULL for a top-level run.
    parent_run_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    parent_step_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    depth: Mapped[int] = mapped_column(Integer)
    finalizing: Mapped[str] = mapped_column(String(32))  # '' or the state it ends as after finally
    compensated: Mapped[str] = mapped_column(String(16))  # '', 'requested', 'true' or 'partial'
    # How the run was started (triggers.py); '' kind = manual (runs from before triggers).
    trigger_id: Mapped[str] = mapped_column(String(64))
    trigger_kind: Mapped[str] = mapped_column(String(16))
    trigger_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    trigger_delivery: Mapped[str] = mapped_column(String(200))
    trigger_run_id: Mapped[str] = mapped_column(String(36))
    trigger_key: Mapped[str | None] = mapped_column(String(200), nullable=True)  # tick, delivery or run: once
    # The client's Idempotency-Key (runs.py IDEMPOTENCY_TTL); NULL = none or expired and released.
    idempotency_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    request_digest: Mapped[str] = mapped_column(String(128))

    __table_args__ = (
        Index("ux_runs_workflow_trigger_id_trigger_key", "workflow", "trigger_id", "trigger_key", unique=True),
        Index("ux_runs_workflow_created_by_idempotency_key", "workflow", "created_by", "idempotency_key",
              unique=True),
        Index("ix_runs_workflow_trigger_id_created_at", "workflow", "trigger_id", "created_at"),
        Index("ux_runs_parent_run_id_parent_step_id", "parent_run_id", "parent_step_id", unique=True),
        Index("ix_runs_state_created_at", "state", "created_at"),
        Index("ix_runs_state_concurrency_key_created_at", "state", "concurrency_key", "created_at"),
        Index("ix_runs_workflow_created_at", "workflow", "created_at"),
        Index("ix_runs_workflow_finished_at", "workflow", "finished_at"),  # completion-trigger sweeps
        Index("ix_runs_created_at", "created_at"),
    )


class StepRunRow(Base):
    """The state of one step of a run; `position` keeps the order the steps were created in."""

    __tablename__ = "step_runs"
    run_id: Mapped[str] = mapped_column(String(36), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    step_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    uses: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(32))
    attempt: Mapped[int] = mapped_column(Integer)
    outputs: Mapped[str] = mapped_column(Text)
    error: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    parent: Mapped[str] = mapped_column(String(200))  # '' or the for_each step this is an instance of
    item_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    compensation_attempt: Mapped[int] = mapped_column(Integer, default=0)  # 0 = its compensation never ran


class EventRow(Base):
    """One entry of a run's gapless event log."""

    __tablename__ = "events"
    run_id: Mapped[str] = mapped_column(String(36), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    type: Mapped[str] = mapped_column(String(64))
    step_id: Mapped[str] = mapped_column(String(200))
    attempt: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    data: Mapped[str] = mapped_column(Text)


class TransitionBatchRow(Base):
    """A RecordTransitions batch committed under the caller's idempotency key, with the events it appended.

    A repeated call with the key (its answer was lost) is answered from here instead of being applied
    again. Kept while the run is unfinished; the batch that ends the run deletes the run's others.
    """

    __tablename__ = "transition_batches"
    run_id: Mapped[str] = mapped_column(String(36), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(128), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64))  # sha256 of the transitions, to refuse another batch
    first_seq: Mapped[int] = mapped_column(BigInteger)  # events first_seq..last_seq; last < first = none
    last_seq: Mapped[int] = mapped_column(BigInteger)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)


class StepLogRow(Base):
    """One log line of a step attempt; `id` keeps arrival order."""

    __tablename__ = "step_logs"
    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(36), ForeignKey("runs.id", ondelete="CASCADE"))
    step_id: Mapped[str] = mapped_column(String(200))
    attempt: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    stream: Mapped[str] = mapped_column(String(16))
    line: Mapped[str] = mapped_column(Text)

    __table_args__ = (Index("ix_step_logs_run_step", "run_id", "step_id", "attempt", "id"),)


class TokenRow(Base):
    """An API token; only the SHA-256 of its secret is kept."""

    __tablename__ = "tokens"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class AuditRow(Base):
    """One audit entry; rows are only ever inserted."""

    __tablename__ = "audit"
    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(200))
    target: Mapped[str] = mapped_column(String(500))
    outcome: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(Text)

    __table_args__ = (Index("ix_audit_at", "at"),)


class TriggerStateRow(Base):
    """The runtime state of one trigger of a workflow's latest version; the trigger itself is in the definition."""

    __tablename__ = "trigger_states"
    workflow: Mapped[str] = mapped_column(String(64), primary_key=True)
    trigger_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64))  # of the entry next_fire_at was computed for
    next_fire_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_fire_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_run_id: Mapped[str] = mapped_column(String(36))
    last_error: Mapped[str] = mapped_column(Text)
    paused: Mapped[bool] = mapped_column(Boolean)
    paused_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ConfigVersionRow(Base):
    """One saved version of the platform configuration document."""

    __tablename__ = "config_versions"
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    document: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_by: Mapped[str] = mapped_column(String(200))


def _table(model: type[Base]) -> Table:
    """The Core table of a mapped class (typed `FromClause` by SQLAlchemy, a `Table` for declarative models)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


workflows = _table(WorkflowRow)
workflow_versions = _table(WorkflowVersionRow)
runs = _table(RunRow)
step_runs = _table(StepRunRow)
events = _table(EventRow)
transition_batches = _table(TransitionBatchRow)
step_logs = _table(StepLogRow)
tokens = _table(TokenRow)
audit = _table(AuditRow)
config_versions = _table(ConfigVersionRow)
trigger_states = _table(TriggerStateRow)
