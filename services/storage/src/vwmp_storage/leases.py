"""Run leases: which engine replica drives which run, with an epoch for fencing.

A claim bumps the epoch, so a replica that lost its lease (paused, partitioned)
is refused by RecordTransitions the moment another replica claims the run.

A keyed run (concurrency.py) that waits for a slot is not claimable as such: the
claim admits it, in FIFO order per key and while the key has a free slot, in the
same transaction that gives it its lease.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import or_, select, update
from vwmp_common.timeutil import utcnow

from vwmp_storage import concurrency, dialect
from vwmp_storage.database import Database
from vwmp_storage.errors import InvalidArgument
from vwmp_storage.models import runs

CLAIMABLE_STATES = ("queued", "running", "paused")
DEFAULT_CLAIM_LIMIT = 10
DEFAULT_LEASE_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class Lease:
    """The right to drive one run, valid while `epoch` is the run's current epoch."""

    run_id: str
    epoch: int


class LeaseStore:
    """Claims, renews and releases run leases."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def claim(self, owner: str, limit: int = 0, lease_seconds: float = 0, free_only: bool = False) -> list[Lease]:
        """Claim up to `limit` unfinished runs whose lease is free or expired, oldest first.

        `free_only` leaves expired leases alone: right after storage was unreachable every lease is
        expired, also those of live replicas about to renew them (a takeover would run their steps again).
        Waiting keyed runs are never held by anyone, so they are admitted either way.
        """
        _check_owner(owner)
        if limit < 0:
            raise InvalidArgument("limit: must not be negative")
        expires_in = _lease_duration(lease_seconds)
        limit = limit or DEFAULT_CLAIM_LIMIT
        now = utcnow()
        unheld = runs.c.lease_owner == "" if free_only else or_(runs.c.lease_owner == "", runs.c.lease_expires_at < now)
        stmt = (
            select(runs.c.id, runs.c.lease_epoch, runs.c.created_at)
            .where(
                runs.c.state.in_(CLAIMABLE_STATES),
                unheld,
                or_(runs.c.concurrency_key == "", runs.c.admitted_at.is_not(None)),
            )
            .order_by(runs.c.created_at, runs.c.id)
            .limit(limit)
        )
        claimed = []
        with self.database.write() as conn:
            free = list(conn.execute(dialect.lock_for_update(stmt, conn, skip_locked=True)).all())
            waiting = concurrency.admissible(conn, limit)
            if waiting and not self.database.is_sqlite:
                # Counted again under the lock: another claimer may have admitted some meanwhile.
                dialect.lock_for_admission(conn)
                waiting = concurrency.admissible(conn, limit)
            admitting = {row.id for row in waiting}
            # One queue, oldest first, whether a run is unkeyed, holds its slot already, or takes one now.
            for row in sorted([*free, *waiting], key=lambda r: (r.created_at, r.id))[:limit]:
                epoch = row.lease_epoch + 1
                lease = {"lease_owner": owner, "lease_epoch": epoch, "lease_expires_at": now + expires_in}
                if row.id in admitting:
                    if not concurrency.admit(conn, row.id, now, **lease):
                        continue
                else:
                    conn.execute(update(runs).where(runs.c.id == row.id).values(**lease))
                claimed.append(Lease(row.id, epoch))
        return claimed

    def renew(self, owner: str, leases: Sequence[Lease], lease_seconds: float = 0) -> list[str]:
        """Extend the leases still held; returns the run ids whose lease was lost."""
        _check_owner(owner)
        expires_in = _lease_duration(lease_seconds)
        lost = []
        with self.database.write() as conn:
            expires_at = utcnow() + expires_in
            for lease in leases:
                result = conn.execute(
                    update(runs)
                    .where(
                        runs.c.id == lease.run_id,
                        runs.c.lease_owner == owner,
                        runs.c.lease_epoch == lease.epoch,
                    )
                    .values(lease_expires_at=expires_at)
                )
                if result.rowcount == 0:
                    lost.append(lease.run_id)
        return lost

    def release(self, owner: str, lease: Lease) -> None:
        """Give a lease back; a no-op when it is no longer held."""
        _check_owner(owner)
        with self.database.write() as conn:
            conn.execute(
                update(runs)
                .where(runs.c.id == lease.run_id, runs.c.lease_owner == owner, runs.c.lease_epoch == lease.epoch)
                .values(lease_owner="", lease_expires_at=None)
            )


def _check_owner(owner: str) -> None:
    if not owner:
        raise InvalidArgument("owner: required")
    if len(owner) > 200:
        raise InvalidArgument("owner: at most 200 characters")


def _lease_duration(lease_seconds: float) -> timedelta:
    if lease_seconds < 0:
        raise InvalidArgument(f"lease_seconds: must not be negative, got {lease_seconds}")
    return timedelta(seconds=lease_seconds or DEFAULT_LEASE_SECONDS)
