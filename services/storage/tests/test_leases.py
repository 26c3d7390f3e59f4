"""Leases: claim, renew, expiry, release, and no run claimed twice."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from vwmp_storage.errors import Aborted, FailedPrecondition, InvalidArgument
from vwmp_storage.leases import Lease
from vwmp_storage.runs import Run
from vwmp_storage.storage import Storage
from vwmp_storage.transitions import Transition


def test_claim_takes_oldest_unfinished_free_runs_and_bumps_the_epoch(
    storage: Storage, new_run: Callable[..., Run]
) -> None:
    first, second, third = new_run(), new_run(), new_run()
    storage.transitions.record(third.id, "", 0, [Transition(event_type="run.cancelled", run_state="cancelled")])
    claimed = storage.leases.claim("engine-1", 1, 30)
    assert claimed == [Lease(first.id, 1)]
    assert storage.leases.claim("engine-2", 10, 30) == [Lease(second.id, 1)]
    assert storage.leases.claim("engine-3", 10, 30) == []


def test_renew_keeps_held_leases_and_reports_lost_ones(storage: Storage, new_run: Callable[..., Run]) -> None:
    a, b = new_run(), new_run()
    leases = storage.leases.claim("engine-1", 10, 30)
    assert storage.leases.renew("engine-1", leases, 30) == []
    stale = [Lease(a.id, leases[0].epoch + 5), Lease(b.id, leases[1].epoch)]
    assert storage.leases.renew("engine-1", stale, 30) == [a.id]
    assert storage.leases.renew("engine-2", leases, 30) == [a.id, b.id]


def test_expired_lease_is_taken_over_and_the_old_owner_is_fenced(storage: Storage, new_run: Callable[..., Run]) -> None:
    run = new_run()
    [old] = storage.leases.claim("engine-1", 10, 0.05)
    assert storage.leases.claim("engine-2", 10, 30) == []
    time.sleep(0.1)
    [new] = storage.leases.claim("engine-2", 10, 30)
    assert new == Lease(run.id, old.epoch + 1)
    assert storage.leases.renew("engine-1", [old], 30) == [run.id]
    with pytest.raises(Aborted):
        storage.transitions.record(run.id, "engine-1", old.epoch, [Transition(event_type="run.started")])
    storage.transitions.record(run.id, "engine-2", new.epoch, [Transition(event_type="run.started")])


def test_free_only_leaves_expired_leases_to_their_owners_and_takes_new_and_released_runs(
    storage: Storage, new_run: Callable[..., Run]
) -> None:
    """After a storage outage every lease is expired; an engine claiming free_only takes over none of them."""
    held, released = new_run(), new_run()
    leases = storage.leases.claim("engine-1", 10, 0.05)
    assert [lease.run_id for lease in leases] == [held.id, released.id]
    storage.leases.release("engine-1", leases[1])
    fresh = new_run()
    time.sleep(0.1)  # the lease of `held` is expired now, its owner did not renew it (storage was away)
    claimed = storage.leases.claim("engine-2", 10, 30, free_only=True)
    assert claimed == [Lease(released.id, leases[1].epoch + 1), Lease(fresh.id, 1)]
    assert storage.leases.renew("engine-1", [leases[0]], 30) == []  # its owner renews it: still its own
    assert storage.leases.claim("engine-2", 10, 30) == []


def test_release_frees_the_run_only_for_the_holder(storage: Storage, new_run: Callable[..., Run]) -> None:
    run = new_run()
    [lease] = storage.leases.claim("engine-1", 10, 30)
    storage.leases.release("engine-2", lease)
    assert storage.leases.claim("engine-2", 10, 30) == []
    storage.leases.release("engine-1", lease)
    assert storage.leases.claim("engine-2", 10, 30) == [Lease(run.id, lease.epoch + 1)]


def test_the_write_that_ends_a_run_releases_its_lease_and_the_owner_s_late_writes_meet_the_terminal_rule(
    storage: Storage, new_run: Callable[..., Run]
) -> None:
    run = new_run()
    [lease] = storage.leases.claim("engine-1", 10, 30)
    storage.transitions.record(run.id, "engine-1", lease.epoch, [
        Transition(event_type="run.started", run_state="running"),
        Transition(event_type="run.failed", run_state="failed")])
    assert storage.leases.renew("engine-1", [lease], 30) == [run.id]  # held by nobody now
    with pytest.raises(FailedPrecondition, match="is failed"):  # not "lease lost": the run is closed
        storage.transitions.record(run.id, "engine-1", lease.epoch, [Transition(event_type="step.started")])
    storage.transitions.record(run.id, "", 0, [Transition(event_type="run.resumed", run_state="running", reopen=True)])
    assert storage.leases.claim("engine-2", 10, 30) == [Lease(run.id, lease.epoch + 1)]  # no lease to wait out
    with pytest.raises(Aborted, match="lease lost"):  # reopened and claimed: the old owner is fenced again
        storage.transitions.record(run.id, "engine-1", lease.epoch, [Transition(event_type="step.started")])


def test_a_claim_with_runs_answers_with_them_loaded_within_its_byte_budget(
    storage: Storage, new_run: Callable[..., Run]
) -> None:
    first, second, third = new_run(), new_run(steps=("x",)), new_run()
    claimed = [lease.run_id for lease in storage.leases.claim("engine-1", 10, 30)]
    loaded = storage.runs.get_many(claimed)
    assert {run.id for run in loaded} == {first.id, second.id, third.id}
    for run in loaded:
        assert run == storage.runs.get(run.id, with_definition=True)
    budget = len(loaded[0].definition_json) + 10  # one run fits, two do not
    assert len(storage.runs.get_many(claimed, byte_budget=budget)) == 1
    assert len(storage.runs.get_many(claimed, byte_budget=1)) == 1  # the first always fits: the claim progresses


def test_paused_and_running_runs_are_claimable(storage: Storage, new_run: Callable[..., Run]) -> None:
    paused, running = new_run(), new_run()
    storage.transitions.record(paused.id, "", 0, [Transition(run_state="paused")])
    storage.transitions.record(running.id, "", 0, [Transition(run_state="running")])
    assert {x.run_id for x in storage.leases.claim("engine-1", 10, 30)} == {paused.id, running.id}


def test_bad_claims_are_invalid_argument(storage: Storage) -> None:
    with pytest.raises(InvalidArgument, match="owner: required"):
        storage.leases.claim("", 1, 30)
    with pytest.raises(InvalidArgument, match="lease_seconds"):
        storage.leases.claim("engine-1", 1, -1)


def test_concurrent_claimers_never_get_the_same_run(storage: Storage, new_run: Callable[..., Run]) -> None:
    runs = {new_run().id for _ in range(30)}
    claimers = 6
    barrier = threading.Barrier(claimers)

    def claim(worker: int) -> list[Lease]:
        barrier.wait()
        mine: list[Lease] = []
        for _ in range(10):
            mine.extend(storage.leases.claim(f"engine-{worker}", 2, 30))
        return mine

    with ThreadPoolExecutor(claimers) as pool:
        results = list(pool.map(claim, range(claimers)))
    claimed = [lease.run_id for result in results for lease in result]
    assert len(claimed) == len(set(claimed)) == len(runs)
    assert set(claimed) == runs
