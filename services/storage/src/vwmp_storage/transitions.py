"""RecordTransitions, the hot path: every step transition of every run passes here.

One short write transaction per call: lock the run row, check the fence and the
terminal rule, apply the row updates, append the events with the next gapless
sequence numbers. Requests are validated before the transaction starts so the
run row is held as briefly as possible.

A batch sent with an idempotency key is remembered in the same transaction
(`transition_batches`: the key, a digest of the transitions and the range of the
events it appended). The caller repeats a call whose answer it never got (storage
killed after the commit, a lost reply) with the same key, and is answered with the
events of the first commit: nothing is applied twice. Keys are kept while the run
is unfinished; the batch that ends the run deletes the run's other keys, keeping
only its own (the one a caller may still be repeating), and releases the run's
lease: a finished run is held by nobody, and its owner need not call ReleaseLease.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.engine import Connection
from vwmp_common.timeutil import utcnow

from vwmp_storage import dialect
from vwmp_storage.database import Database
from vwmp_storage.errors import Aborted, FailedPrecondition, InvalidArgument, NotFound
from vwmp_storage.jsontext import normalise_object
from vwmp_storage.models import events, runs, step_runs, transition_batches
from vwmp_storage.runs import RUN_STATES, STEP_STATES, TERMINAL_RUN_STATES, TERMINAL_STEP_STATES, Event

COMPENSATED_VALUES = ("requested", "true", "partial")  # a run's unwind: asked by a cancel, complete, some failed


@dataclass(frozen=True, slots=True)
class NewStep:
    """A step row a transition creates: a for_each step's instance."""

    id: str
    uses: str
    parent: str = ""
    item_index: int | None = None


@dataclass(frozen=True, slots=True)
class Transition:
    """One change of state; see `Transition` in storage.proto for the meaning of each field."""

    event_type: str = ""
    step_id: str = ""
    attempt: int = 0
    data_json: str = ""
    run_state: str = ""
    step_state: str = ""
    outputs_json: str = ""
    error: str = ""
    clear_step: bool = False
    reopen: bool = False
    add_steps: tuple[NewStep, ...] = ()
    run_outputs_json: str = ""
    finalizing: str = ""
    compensated: str = ""  # "" = unchanged
    compensation_attempt: int = 0  # 0 = unchanged

    def touches_step(self) -> bool:
        """Whether the step row changes."""
        return bool(self.step_state or self.outputs_json or self.error or self.clear_step or self.attempt > 0
                    or self.compensation_attempt > 0)


# Built once: on the hot path, building SQLAlchemy statements costs as much as running them.
# The UPDATEs take their SET columns from the parameters each call passes.
_RUN_ROW = select(
    runs.c.state, runs.c.lease_owner, runs.c.lease_epoch, runs.c.last_seq, runs.c.started_at, runs.c.concurrency_key
).where(runs.c.id == bindparam("run_key"))
_UPDATE_STEP = update(step_runs).where(
    step_runs.c.run_id == bindparam("run_key"), step_runs.c.step_id == bindparam("step_key")
)
_UPDATE_RUN = update(runs).where(runs.c.id == bindparam("run_key"))
_INSERT_STEPS = insert(step_runs)
_LAST_POSITION = select(func.max(step_runs.c.position)).where(step_runs.c.run_id == bindparam("run_key"))
_INSERT_EVENTS = insert(events)
_BATCH = select(transition_batches.c.digest, transition_batches.c.first_seq, transition_batches.c.last_seq).where(
    transition_batches.c.run_id == bindparam("run_key"), transition_batches.c.idempotency_key == bindparam("key"))
_INSERT_BATCH = insert(transition_batches)
_EVENTS_OF_BATCH = select(events).where(
    events.c.run_id == bindparam("run_key"), events.c.seq.between(bindparam("first"), bindparam("last"))
).order_by(events.c.seq)
_LOCKED_RUN_ROW: dict[str, Any] = {}
MAX_IDEMPOTENCY_KEY = 128


def _locked_run_row(conn: Connection) -> Any:
    """The run-row query with the dialect's row lock, built once per dialect."""
    name = conn.dialect.name
    if name not in _LOCKED_RUN_ROW:
        _LOCKED_RUN_ROW[name] = dialect.lock_for_update(_RUN_ROW, conn)
    return _LOCKED_RUN_ROW[name]


class TransitionRecorder:
    """Applies transitions to a run and appends their events in one transaction."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def record(self, run_id: str, lease_owner: str, lease_epoch: int, transitions: Sequence[Transition],
               idempotency_key: str = "") -> list[Event]:
        """Apply `transitions` in order; returns the appended events with their seqs.

        With `idempotency_key`, a batch the run already committed under that key is not applied
        again: the events it appended then are returned (before the fence and the terminal rule,
        which that commit passed).
        """
        if len(idempotency_key) > MAX_IDEMPOTENCY_KEY:
            raise InvalidArgument(f"idempotency_key: at most {MAX_IDEMPOTENCY_KEY} characters")
        checked = [_checked(index, t) for index, t in enumerate(transitions)]
        digest = hashlib.sha256(repr(tuple(transitions)).encode()).hexdigest() if idempotency_key else ""
        now = utcnow()
        with self.database.write() as conn:
            row = conn.execute(_locked_run_row(conn), {"run_key": run_id}).first()
            if row is None:
                raise NotFound(f"run {run_id!r} not found")
            if idempotency_key and (committed := _committed(conn, run_id, idempotency_key, digest)) is not None:
                return committed
            # A finished run is held by nobody (its end released the lease): its owner's late writes
            # meet the terminal rule below, not a lease they never lost.
            fenced = row.state not in TERMINAL_RUN_STATES or row.lease_owner
            if lease_owner and fenced and (lease_owner != row.lease_owner or lease_epoch != row.lease_epoch):
                holder = f"{row.lease_owner!r} at epoch {row.lease_epoch}" if row.lease_owner else "nobody"
                mine = f"{lease_owner!r} at epoch {lease_epoch}"
                raise Aborted(f"lease lost: run {run_id} is held by {holder}, not {mine}")
            state, started_at, seq = row.state, row.started_at, row.last_seq
            run_values: dict[str, Any] = {}
            appended: list[Event] = []
            for index, (t, step_outputs, run_outputs, data) in enumerate(checked):
                if state in TERMINAL_RUN_STATES and not t.reopen:
                    raise FailedPrecondition(
                        f"run {run_id} is {state}: transitions[{index}] refused "
                        "(a finished run changes only with reopen=true)"
                    )
                if t.add_steps:
                    _add_steps(conn, run_id, index, t.add_steps)
                if t.run_outputs_json:
                    run_values["outputs"] = run_outputs
                if t.finalizing:
                    run_values["finalizing"] = t.finalizing
                if t.compensated:
                    run_values["compensated"] = t.compensated
                if t.reopen:  # the run deadline counts from here (engine), without scanning events
                    run_values["reopened_at"] = now
                    run_values.setdefault("finalizing", "")
                    run_values.setdefault("compensated", "")
                    if row.concurrency_key:  # a reopened keyed run queues again for a slot
                        run_values["admitted_at"] = None
                if t.run_state:
                    state = run_values["state"] = t.run_state
                    if t.run_state == "running" and started_at is None:
                        started_at = run_values["started_at"] = now
                    run_values["finished_at"] = now if t.run_state in TERMINAL_RUN_STATES else None
                if t.touches_step():
                    step_values = _step_values(t, step_outputs, now)
                    result = conn.execute(_UPDATE_STEP, {"run_key": run_id, "step_key": t.step_id, **step_values})
                    if result.rowcount == 0:
                        raise InvalidArgument(f"transitions[{index}].step_id: run {run_id} has no step {t.step_id!r}")
                if t.event_type:
                    seq += 1
                    appended.append(Event(run_id, seq, t.event_type, t.step_id, t.attempt, now, data))
            if appended:
                run_values["last_seq"] = seq
                conn.execute(
                    _INSERT_EVENTS,
                    [
                        {
                            "run_id": run_id,
                            "seq": e.seq,
                            "type": e.type,
                            "step_id": e.step_id,
                            "attempt": e.attempt,
                            "at": e.at,
                            "data": e.data_json,
                        }
                        for e in appended
                    ],
                )
            ended = state in TERMINAL_RUN_STATES and state != row.state
            if ended:  # the run's end releases its lease: no ReleaseLease call after it
                run_values.update(lease_owner="", lease_expires_at=None)
            if run_values:
                conn.execute(_UPDATE_RUN, {"run_key": run_id, **run_values})
            if ended:  # only the last batch's key can be repeated now
                _forget_batches(conn, run_id, keep=idempotency_key)
            if idempotency_key:
                conn.execute(_INSERT_BATCH, {"run_id": run_id, "idempotency_key": idempotency_key, "digest": digest,
                                             "first_seq": row.last_seq + 1, "last_seq": seq, "recorded_at": now})
        return appended


def _committed(conn: Connection, run_id: str, key: str, digest: str) -> list[Event] | None:
    """The events of the batch committed under `key`, or None when there is none."""
    batch = conn.execute(_BATCH, {"run_key": run_id, "key": key}).first()
    if batch is None:
        return None
    if batch.digest != digest:
        raise InvalidArgument(f"idempotency_key: {key!r} was used for other transitions of run {run_id}")
    rows = conn.execute(_EVENTS_OF_BATCH, {"run_key": run_id, "first": batch.first_seq, "last": batch.last_seq})
    return [Event(r.run_id, r.seq, r.type, r.step_id, r.attempt, r.at, r.data) for r in rows]


def _forget_batches(conn: Connection, run_id: str, keep: str) -> None:
    """Delete the keys of a run that just ended, except `keep` (the ending batch's own)."""
    stmt = delete(transition_batches).where(transition_batches.c.run_id == run_id)
    if keep:
        stmt = stmt.where(transition_batches.c.idempotency_key != keep)
    conn.execute(stmt)


def _checked(index: int, t: Transition) -> tuple[Transition, str, str, str]:
    """Validate one transition; returns it with its step outputs, run outputs and event data as compact JSON."""
    where = f"transitions[{index}]"
    if t.run_state and t.run_state not in RUN_STATES:
        raise InvalidArgument(f"{where}.run_state: unknown run state {t.run_state!r}")
    if t.step_state and t.step_state not in STEP_STATES:
        raise InvalidArgument(f"{where}.step_state: unknown step state {t.step_state!r}")
    if t.attempt < 0:
        raise InvalidArgument(f"{where}.attempt: must not be negative")
    if t.compensation_attempt < 0:
        raise InvalidArgument(f"{where}.compensation_attempt: must not be negative")
    if t.touches_step() and not t.step_id:
        raise InvalidArgument(f"{where}.step_id: required when the step changes")
    if len(t.event_type) > 64:
        raise InvalidArgument(f"{where}.event_type: at most 64 characters")
    if t.finalizing and t.finalizing not in TERMINAL_RUN_STATES:
        raise InvalidArgument(f"{where}.finalizing: {t.finalizing!r} is not a state a run ends in")
    if t.compensated and t.compensated not in COMPENSATED_VALUES:
        raise InvalidArgument(f"{where}.compensated: {t.compensated!r} is not one of {', '.join(COMPENSATED_VALUES)}")
    seen: set[str] = set()
    for n, step in enumerate(t.add_steps):
        if not step.id or len(step.id) > 200 or step.id in seen:
            raise InvalidArgument(f"{where}.add_steps[{n}].id: required, unique, at most 200 characters")
        if not step.uses:
            raise InvalidArgument(f"{where}.add_steps[{n}].uses: required")
        seen.add(step.id)
    outputs = normalise_object(t.outputs_json, f"{where}.outputs_json") if t.outputs_json else ""
    run_outputs = normalise_object(t.run_outputs_json, f"{where}.run_outputs_json") if t.run_outputs_json else ""
    data = normalise_object(t.data_json, f"{where}.data_json")
    return t, outputs, run_outputs, data


def _add_steps(conn: Connection, run_id: str, index: int, steps: Sequence[NewStep]) -> None:
    """Insert pending step rows after the run's last one; an id the run has already is refused."""
    ids = [step.id for step in steps]
    taken = conn.execute(select(step_runs.c.step_id).where(
        step_runs.c.run_id == run_id, step_runs.c.step_id.in_(ids))).first()
    if taken is not None:
        raise InvalidArgument(f"transitions[{index}].add_steps: run {run_id} has a step {taken.step_id!r} already")
    after = conn.execute(_LAST_POSITION, {"run_key": run_id}).scalar_one_or_none()
    first = -1 if after is None else after
    conn.execute(_INSERT_STEPS, [
        {"run_id": run_id, "step_id": step.id, "position": first + 1 + n, "uses": step.uses, "state": "pending",
         "attempt": 0, "outputs": "{}", "error": "", "started_at": None, "finished_at": None,
         "parent": step.parent, "item_index": step.item_index, "compensation_attempt": 0}
        for n, step in enumerate(steps)])


def _step_values(t: Transition, outputs: str, now: Any) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if t.clear_step:
        values.update(outputs="{}", error="", started_at=None, finished_at=None, compensation_attempt=0)
    if t.attempt > 0:
        values["attempt"] = t.attempt
    if t.compensation_attempt > 0:
        values["compensation_attempt"] = t.compensation_attempt
    if t.step_state:
        values["state"] = t.step_state
        if t.step_state == "running":
            values.update(started_at=now, finished_at=None)
        elif t.step_state in TERMINAL_STEP_STATES:
            values["finished_at"] = now
    if outputs:
        values["outputs"] = outputs
    if t.error:
        values["error"] = t.error
    return values
