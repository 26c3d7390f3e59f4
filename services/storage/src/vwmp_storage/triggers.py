"""Triggers in storage: how a run was started, and each trigger's schedule and last fire.

The triggers themselves are the `spec.triggers` of each workflow's latest version, so saving a
version replaces them atomically and archiving stops them; a `trigger_states` row holds only what
changes at run time. A schedule's tick is claimed by a compare-and-set of (digest, next_fire_at),
in the transaction that creates its run, so two engine replicas never fire the same tick; the
unique (workflow, trigger_id, trigger_key) index on runs is the second guard, and what turns a
webhook redelivery into the run it started the first time.

A completion (`on_run`) trigger keeps its mark in the same two columns: next_fire_at is the end
time up to which every run of its upstream workflow has been followed, moved forward by the same
compare-and-set. Resuming a trigger or restoring its workflow from the archive starts it afresh
(`restarted`): no digest and a mark of now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import IntegrityError
from vwmp_common.timeutil import iso, utcnow
from vwmp_common.triggers import TriggerKind

from vwmp_storage.database import Database
from vwmp_storage.definitions import check_name
from vwmp_storage.errors import InvalidArgument
from vwmp_storage.models import trigger_states

KINDS = tuple(TriggerKind)
ID_LIMIT = 64
_KEY_LIMIT = 200


@dataclass(frozen=True, slots=True)
class RunTrigger:
    """How a run was started: `kind` manual (id "") or a trigger of the workflow."""

    kind: str = "manual"
    id: str = ""
    at: datetime | None = None
    delivery: str = ""
    run_id: str = ""
    dedupe_key: str = ""  # "" = none: one run per (workflow, id, key)

    def checked(self) -> RunTrigger:
        kind = self.kind or "manual"
        if kind not in KINDS:
            raise InvalidArgument(f"trigger.kind: {kind!r} is not one of {', '.join(KINDS)}")
        if (kind == "manual") != (not self.id):
            raise InvalidArgument("trigger.id: required for a trigger, empty for a manual start")
        if len(self.id) > ID_LIMIT or len(self.dedupe_key) > _KEY_LIMIT or len(self.delivery) > _KEY_LIMIT:
            raise InvalidArgument(f"trigger: id at most {ID_LIMIT}, delivery and dedupe_key at most {_KEY_LIMIT} "
                                  "characters")
        return RunTrigger(kind, self.id, self.at, self.delivery, self.run_id, self.dedupe_key)

    def document(self) -> dict[str, Any]:
        """The run's `trigger` as `run.queued` carries it."""
        found: dict[str, Any] = {"id": self.id or None, "kind": self.kind, "at": iso(self.at) if self.at else None}
        if self.delivery:
            found["delivery"] = self.delivery
        if self.run_id:
            found["run_id"] = self.run_id
        return found


@dataclass(frozen=True, slots=True)
class TriggerState:
    """What changes at run time about one trigger."""

    workflow: str
    trigger_id: str
    digest: str = ""
    next_fire_at: datetime | None = None
    last_fire_at: datetime | None = None
    last_run_id: str = ""
    last_error: str = ""
    paused: bool = False
    paused_by: str = ""
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Advance:
    """A compare-and-set of a trigger's schedule and/or a record of its last fire or error."""

    workflow: str
    trigger_id: str
    compare: bool = False
    expected_digest: str = ""
    expected_next_fire_at: datetime | None = None
    digest: str = ""
    next_fire_at: datetime | None = None
    fired_at: datetime | None = None
    error: str = ""


def _state(row: Row[Any]) -> TriggerState:
    return TriggerState(row.workflow, row.trigger_id, row.digest, row.next_fire_at, row.last_fire_at, row.last_run_id,
                        row.last_error, bool(row.paused), row.paused_by, row.updated_at)


class TriggerStore:
    """Reads and moves trigger states."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def states(self, workflow: str = "") -> list[TriggerState]:
        """Every trigger state, of one workflow when named."""
        stmt = select(trigger_states).order_by(trigger_states.c.workflow, trigger_states.c.trigger_id)
        if workflow:
            stmt = stmt.where(trigger_states.c.workflow == check_name(workflow, "workflow"))
        with self.database.read() as conn:
            return [_state(row) for row in conn.execute(stmt)]

    def advance(self, change: Advance) -> tuple[bool, TriggerState]:
        """Apply `change` in its own transaction; False when its compare failed."""
        self.ensure(change.workflow, change.trigger_id)
        with self.database.write() as conn:
            advanced = apply(conn, change)
            return advanced, self._get(conn, change.workflow, change.trigger_id)

    def pause(self, workflow: str, trigger_id: str, paused: bool, actor: str) -> TriggerState:
        """Pause or resume; resuming starts the trigger afresh from now (`restarted`): nothing is caught up."""
        self.ensure(workflow, trigger_id)
        now = utcnow()
        values: dict[str, Any] = {"paused": paused, "paused_by": actor if paused else "", "updated_at": now}
        if not paused:
            values.update(restarted(now))
        with self.database.write() as conn:
            conn.execute(update(trigger_states).where(*_key(workflow, trigger_id)).values(**values))
            return self._get(conn, workflow, trigger_id)

    def restart(self, workflow: str) -> None:
        """Start every trigger of `workflow` afresh from now (it was restored from the archive)."""
        now = utcnow()
        with self.database.write() as conn:
            conn.execute(update(trigger_states).where(trigger_states.c.workflow == workflow)
                         .values(updated_at=now, **restarted(now)))

    def ensure(self, workflow: str, trigger_id: str) -> None:
        """Create the trigger's state row when it has none (its own transaction: a racing insert is fine)."""
        check_name(workflow, "workflow")
        if not trigger_id or len(trigger_id) > ID_LIMIT:
            raise InvalidArgument(f"trigger_id: required, at most {ID_LIMIT} characters")
        with self.database.read() as conn:
            if conn.execute(select(trigger_states.c.workflow).where(*_key(workflow, trigger_id))).first():
                return
        try:
            with self.database.write() as conn:
                conn.execute(insert(trigger_states).values(
                    workflow=workflow, trigger_id=trigger_id, digest="", next_fire_at=None, last_fire_at=None,
                    last_run_id="", last_error="", paused=False, paused_by="", updated_at=utcnow()))
        except IntegrityError:
            pass  # another caller created it first

    @staticmethod
    def _get(conn: Connection, workflow: str, trigger_id: str) -> TriggerState:
        return _state(conn.execute(select(trigger_states).where(*_key(workflow, trigger_id))).one())


def restarted(now: datetime) -> dict[str, Any]:
    """A trigger state started afresh at `now`: no digest, so a schedule restarts from its next tick
    and a completion trigger is armed again — at `now`, so no run that ended before is followed."""
    return {"digest": "", "next_fire_at": now}


def _key(workflow: str, trigger_id: str) -> tuple[Any, Any]:
    return trigger_states.c.workflow == workflow, trigger_states.c.trigger_id == trigger_id


def apply(conn: Connection, change: Advance, run_id: str = "") -> bool:
    """Apply `change` inside the caller's transaction (the row exists: `TriggerStore.ensure`)."""
    conditions = list(_key(change.workflow, change.trigger_id))
    values: dict[str, Any] = {"updated_at": utcnow()}
    if change.compare:
        conditions.append(trigger_states.c.digest == change.expected_digest)
        conditions.append(trigger_states.c.next_fire_at.is_(None) if change.expected_next_fire_at is None
                          else trigger_states.c.next_fire_at == change.expected_next_fire_at)
        values.update(digest=change.digest, next_fire_at=change.next_fire_at)
    if change.fired_at is not None:
        values.update(last_fire_at=change.fired_at, last_run_id=run_id, last_error=change.error)
    elif change.error:
        values.update(last_error=change.error)
    return conn.execute(update(trigger_states).where(*conditions).values(**values)).rowcount == 1
