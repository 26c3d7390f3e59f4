"""Concurrency keys: runs whose evaluated keys are equal share `limit` slots.

A keyed run HOLDS a slot while `admitted_at` is set and the run is not terminal
(running, paused and waiting at an approval all hold). A keyed run that has not
been admitted WAITS; waiting runs of a key are admitted in FIFO order
(`created_at`, `id`) while the key has fewer holders than the run's limit. Admission
happens in one transaction with a claim or a creation, under the dialect's
admission lock (PostgreSQL: an advisory transaction lock; SQLite writers are
serialised already), so no two admitters ever count the same free slot.

A crashed engine's run keeps its slot: it stays admitted and not terminal, and
whoever takes its lease over goes on holding it. The slot passes on only when the
run ends (or is reopened by retry/rerun, which puts it back in the queue).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, bindparam, func, insert, select, update
from sqlalchemy.engine import Connection

from vwmp_storage import dialect
from vwmp_storage.errors import FailedPrecondition, InvalidArgument
from vwmp_storage.jsontext import dump
from vwmp_storage.models import events, runs, step_runs

# Every state that is not terminal: the states in which a run holds or waits for a slot.
OPEN_STATES = ("queued", "running", "paused")
ON_CONFLICT = ("queue", "cancel_pending", "fail")
MAX_KEY_LENGTH = 500
MAX_LIMIT = 10_000
_TERMINAL_STEP_STATES = ("succeeded", "failed", "skipped", "cancelled")


@dataclass(frozen=True, slots=True)
class Concurrency:
    """A run's key and rule, and (when read) its place: position 0 once it holds a slot or ended."""

    key: str
    limit: int = 1
    on_conflict: str = "queue"
    position: int = 0
    blocked_by: tuple[str, ...] = ()

    def document(self) -> dict[str, Any]:
        """The JSON object the API and the run.queued event show."""
        return {
            "key": self.key,
            "limit": self.limit,
            "on_conflict": self.on_conflict,
            "position": self.position,
            "blocked_by": list(self.blocked_by),
        }


class ConcurrencyConflict(FailedPrecondition):
    """on_conflict fail: the key's slots are taken, so the run was not created."""

    def __init__(self, key: str, blocked_by: Sequence[str]) -> None:
        holders = ", ".join(blocked_by) or "runs waiting ahead"
        super().__init__(f"concurrency key {key!r} is held by run {holders} (on_conflict: fail)")
        self.key = key
        self.blocked_by = list(blocked_by)


@dataclass(slots=True)
class Superseded:
    """What cancel_pending wrote: one run cancelled, its events (for publishing)."""

    run_id: str
    events: list[tuple[int, str, str, int, str]] = field(default_factory=list)  # seq, type, step, attempt, data


def checked(key: str, limit: int, on_conflict: str) -> Concurrency | None:
    """The request's concurrency, normalised (None without a key); InvalidArgument naming the field."""
    if not key:
        if limit or on_conflict:
            raise InvalidArgument("concurrency.key: required when a limit or on_conflict is given")
        return None
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidArgument(f"concurrency.key: at most {MAX_KEY_LENGTH} characters")
    if limit < 0 or limit > MAX_LIMIT:
        raise InvalidArgument(f"concurrency.limit: must be between 1 and {MAX_LIMIT}, got {limit}")
    on_conflict = on_conflict or "queue"
    if on_conflict not in ON_CONFLICT:
        raise InvalidArgument(f"concurrency.on_conflict: {on_conflict!r} is not one of {', '.join(ON_CONFLICT)}")
    return Concurrency(key, limit or 1, on_conflict)


def _admissible_statement() -> Any:
    ranked = (
        select(
            runs.c.id,
            runs.c.lease_epoch,
            runs.c.created_at,
            runs.c.concurrency_key,
            runs.c.concurrency_limit,
            func.row_number()
            .over(partition_by=runs.c.concurrency_key, order_by=(runs.c.created_at, runs.c.id))
            .label("rank"),
        )
        .where(runs.c.state.in_(OPEN_STATES), runs.c.concurrency_key != "", runs.c.admitted_at.is_(None))
        .subquery("ranked")
    )
    held = runs.alias("held")
    holding = (
        select(func.count())
        .select_from(held)
        .where(
            held.c.state.in_(OPEN_STATES),
            held.c.concurrency_key == ranked.c.concurrency_key,
            held.c.admitted_at.is_not(None),
        )
        .scalar_subquery()
    )
    return (
        select(ranked.c.id, ranked.c.lease_epoch, ranked.c.created_at)
        .where(ranked.c.rank + holding <= ranked.c.concurrency_limit)
        .order_by(ranked.c.created_at, ranked.c.id)
        .limit(bindparam("claim_limit", type_=Integer))
    )


# Built once: it runs in every claim, and building the statement costs more than running it empty.
_ADMISSIBLE = _admissible_statement()


def admissible(conn: Connection, limit: int) -> list[Any]:
    """Waiting runs that may take a slot now, oldest first: (id, lease_epoch, created_at).

    One query: the waiting runs ranked per key in FIFO order, kept while rank + the key's
    holders stays within the run's limit. Empty (and cheap, one index range over the open
    states) when no keyed run waits, which keeps the claim of unkeyed runs as fast as before.
    """
    return list(conn.execute(_ADMISSIBLE, {"claim_limit": limit}).all())


def admit(conn: Connection, run_id: str, now: datetime, **lease: Any) -> bool:
    """Give a waiting run its slot (with the lease values given); False when it stopped waiting meanwhile."""
    result = conn.execute(
        update(runs)
        .where(runs.c.id == run_id, runs.c.admitted_at.is_(None), runs.c.state.in_(OPEN_STATES))
        .values(admitted_at=now, **lease)
    )
    return result.rowcount == 1


def cancel_waiting(conn: Connection, key: str, actor: str, reason: str, now: datetime) -> list[Superseded]:
    """cancel_pending: every waiting run of `key` cancelled, with step.cancelled and run.cancelled events."""
    stmt = select(runs.c.id, runs.c.last_seq).where(
        runs.c.state.in_(OPEN_STATES), runs.c.concurrency_key == key, runs.c.admitted_at.is_(None)
    )
    cancelled: list[Superseded] = []
    for row in conn.execute(dialect.lock_for_update(stmt.order_by(runs.c.created_at, runs.c.id), conn)).all():
        superseded = Superseded(row.id)
        seq = row.last_seq
        open_steps = conn.execute(
            select(step_runs.c.step_id, step_runs.c.attempt)
            .where(step_runs.c.run_id == row.id, step_runs.c.state.not_in(_TERMINAL_STEP_STATES))
            .order_by(step_runs.c.position)
        ).all()
        for step in open_steps:
            seq += 1
            superseded.events.append((seq, "step.cancelled", step.step_id, step.attempt, dump({"reason": reason})))
        seq += 1
        superseded.events.append((seq, "run.cancelled", "", 0, dump({"by": actor, "reason": reason})))
        if open_steps:
            conn.execute(
                update(step_runs)
                .where(step_runs.c.run_id == row.id, step_runs.c.state.not_in(_TERMINAL_STEP_STATES))
                .values(state="cancelled", finished_at=now)
            )
        conn.execute(
            insert(events),
            [
                {"run_id": row.id, "seq": s, "type": t, "step_id": sid, "attempt": a, "at": now, "data": d}
                for s, t, sid, a, d in superseded.events
            ],
        )
        conn.execute(
            update(runs).where(runs.c.id == row.id).values(state="cancelled", finished_at=now, last_seq=seq)
        )
        cancelled.append(superseded)
    return cancelled


def lines_of(conn: Connection, keys: Iterable[str]) -> dict[str, tuple[list[str], list[str]]]:
    """Each key's holders (in the order they took their slots) and waiting runs (FIFO), from one indexed query."""
    wanted = set(keys)
    if not wanted:
        return {}
    stmt = (
        select(runs.c.id, runs.c.concurrency_key, runs.c.admitted_at)
        .where(runs.c.state.in_(OPEN_STATES), runs.c.concurrency_key.in_(wanted))
        .order_by(runs.c.created_at, runs.c.id)
    )
    held: dict[str, list[Any]] = {key: [] for key in wanted}
    queues: dict[str, list[str]] = {key: [] for key in wanted}
    for row in conn.execute(stmt):
        if row.admitted_at is None:
            queues[row.concurrency_key].append(row.id)
        else:
            held[row.concurrency_key].append(row)
    return {
        key: ([row.id for row in sorted(held[key], key=lambda row: (row.admitted_at, row.id))], queues[key])
        for key in wanted
    }


def places(conn: Connection, rows: Sequence[Any]) -> dict[str, Concurrency]:
    """The concurrency of each keyed run row: position and blocked_by from one query per batch of keys."""
    keyed = [row for row in rows if row.concurrency_key]
    if not keyed:
        return {}
    open_keys = {row.concurrency_key for row in keyed if row.state in OPEN_STATES and row.admitted_at is None}
    lines = lines_of(conn, open_keys)
    found = {}
    for row in keyed:
        position = 0
        blocked_by: tuple[str, ...] = ()
        if row.state in OPEN_STATES and row.admitted_at is None:
            holding, line = lines[row.concurrency_key]
            position = line.index(row.id) + 1 if row.id in line else len(line) + 1
            blocked_by = tuple(holding)
        found[row.id] = Concurrency(
            row.concurrency_key, row.concurrency_limit, row.concurrency_on_conflict, position, blocked_by
        )
    return found

