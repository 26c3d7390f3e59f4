"""Concurrency keys: admission at creation and at claim, FIFO per key, the limit never exceeded."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from vwmp_storage.concurrency import Concurrency, ConcurrencyConflict
from vwmp_storage.errors import InvalidArgument
from vwmp_storage.leases import Lease
from vwmp_storage.runs import Run
from vwmp_storage.storage import Storage
from vwmp_storage.transitions import Transition

KEY = "release:repo"
NewKeyed = Callable[..., Run]


@pytest.fixture
def keyed(storage: Storage, new_run: Callable[..., Run]) -> NewKeyed:
    """Builds a run with a concurrency key (creating the workflow on first use)."""
    _end(storage, new_run(), "cancelled")  # the workflow exists from here on

    def build(key: str = KEY, limit: int = 1, on_conflict: str = "queue", by: str = "tester") -> Run:
        return storage.runs.create(
            "release", 0, "{}", False, by, [("a", "core/noop"), ("b", "core/noop")],
            Concurrency(key, limit, on_conflict),
        )

    return build


def _end(storage: Storage, run: Run | str, state: str = "succeeded") -> None:
    run_id = run if isinstance(run, str) else run.id
    storage.transitions.record(run_id, "", 0, [Transition(event_type=f"run.{state}", run_state=state)])


def _place(storage: Storage, run: Run) -> tuple[int, list[str]]:
    found = storage.runs.get(run.id).concurrency
    assert found is not None
    return found.position, list(found.blocked_by)


def test_first_run_takes_the_slot_at_once_and_later_ones_queue_in_order(storage: Storage, keyed: NewKeyed) -> None:
    first, second, third = keyed(), keyed(), keyed()
    assert first.concurrency == Concurrency(KEY, 1, "queue", 0, ())
    assert second.concurrency == Concurrency(KEY, 1, "queue", 1, (first.id,))
    assert third.concurrency == Concurrency(KEY, 1, "queue", 2, (first.id,))
    queued = json.loads(storage.runs.events(third.id)[0].data_json)
    assert queued["concurrency"] == {"key": KEY, "limit": 1, "on_conflict": "queue", "position": 2,
                                     "blocked_by": [first.id]}
    assert _place(storage, second) == (1, [first.id])
    assert _place(storage, first) == (0, [])


def test_claim_admits_one_run_of_a_key_at_a_time_in_fifo_order(storage: Storage, keyed: NewKeyed) -> None:
    runs = [keyed() for _ in range(4)]
    for index, run in enumerate(runs):
        assert storage.leases.claim("engine-1", 10, 30) == [Lease(run.id, 1)], f"claim {index}"
        assert storage.leases.claim("engine-2", 10, 30) == []
        assert _place(storage, run) == (0, [])
        for position, later in enumerate(runs[index + 1:], start=1):
            assert _place(storage, later) == (position, [run.id])
        _end(storage, run)
    assert storage.leases.claim("engine-1", 10, 30) == []


def test_a_limit_of_two_admits_two_and_the_third_waits_for_either(storage: Storage, keyed: NewKeyed) -> None:
    a, b, c = keyed(limit=2), keyed(limit=2), keyed(limit=2)
    assert [a.concurrency.position, b.concurrency.position, c.concurrency.position] == [0, 0, 1]  # type: ignore[union-attr]
    assert {lease.run_id for lease in storage.leases.claim("engine-1", 10, 30)} == {a.id, b.id}
    assert _place(storage, c) == (1, [a.id, b.id])
    _end(storage, b, "failed")
    assert storage.leases.claim("engine-1", 10, 30) == [Lease(c.id, 1)]


def test_keys_are_independent_and_unkeyed_runs_are_never_held_back(
    storage: Storage, keyed: NewKeyed, new_run: Callable[..., Run]
) -> None:
    a1, a2, b1 = keyed("a"), keyed("a"), keyed("b")
    plain = new_run()
    claimed = {lease.run_id for lease in storage.leases.claim("engine-1", 10, 30)}
    assert claimed == {a1.id, b1.id, plain.id}
    assert _place(storage, a2) == (1, [a1.id])
    assert storage.runs.get(plain.id).concurrency is None


def test_a_paused_holder_and_one_waiting_at_an_approval_keep_their_slot(storage: Storage, keyed: NewKeyed) -> None:
    holder, waiter = keyed(), keyed()
    [lease] = storage.leases.claim("engine-1", 10, 30)
    storage.transitions.record(holder.id, "engine-1", lease.epoch, [
        Transition(event_type="run.started", run_state="running"),
        Transition(event_type="step.awaiting_approval", step_id="a", attempt=1, step_state="awaiting_approval"),
        Transition(event_type="run.paused", run_state="paused"),
    ])
    storage.leases.release("engine-1", lease)
    assert storage.leases.claim("engine-2", 10, 30) == [Lease(holder.id, 2)]  # the holder itself, again
    assert _place(storage, waiter) == (1, [holder.id])


def test_a_crashed_holder_keeps_its_slot_until_its_lease_is_taken_over_and_the_run_ends(
    storage: Storage, keyed: NewKeyed
) -> None:
    holder, waiter = keyed(), keyed()
    [lease] = storage.leases.claim("engine-1", 10, 0.05)
    time.sleep(0.1)  # engine-1 died: its lease expired
    assert storage.leases.claim("engine-2", 10, 30) == [Lease(holder.id, lease.epoch + 1)]
    assert storage.leases.claim("engine-3", 10, 30) == []
    assert _place(storage, waiter) == (1, [holder.id])
    _end(storage, holder)
    assert storage.leases.claim("engine-3", 10, 30) == [Lease(waiter.id, 1)]


def test_cancelling_a_waiting_run_takes_it_out_of_the_queue(storage: Storage, keyed: NewKeyed) -> None:
    holder, first, second = keyed(), keyed(), keyed()
    assert _place(storage, second) == (2, [holder.id])
    _end(storage, first, "cancelled")
    assert _place(storage, second) == (1, [holder.id])
    assert _place(storage, first) == (0, [])
    _end(storage, holder)
    assert [lease.run_id for lease in storage.leases.claim("engine-1", 10, 30)] == [second.id]


def test_fail_refuses_a_run_while_the_key_is_held_and_names_the_holder(storage: Storage, keyed: NewKeyed) -> None:
    holder = keyed(on_conflict="fail")
    _, total = storage.runs.list()
    with pytest.raises(ConcurrencyConflict) as refused:
        keyed(on_conflict="fail")
    assert refused.value.key == KEY
    assert refused.value.blocked_by == [holder.id]
    assert holder.id in str(refused.value)
    assert storage.runs.list()[1] == total  # nothing was created
    _end(storage, holder)
    assert keyed(on_conflict="fail").concurrency.position == 0  # type: ignore[union-attr]


def test_cancel_pending_cancels_the_waiting_runs_but_not_the_holder(storage: Storage, keyed: NewKeyed) -> None:
    holder, stale1, stale2 = keyed(), keyed(), keyed()
    newest = keyed(on_conflict="cancel_pending", by="alice")
    assert newest.concurrency == Concurrency(KEY, 1, "cancel_pending", 1, (holder.id,))
    reason = f"superseded by run {newest.id}"
    for stale in (stale1, stale2):
        run = storage.runs.get(stale.id)
        assert run.state == "cancelled"
        assert {step.state for step in run.steps} == {"cancelled"}
        log = [(e.type, e.step_id, json.loads(e.data_json)) for e in storage.runs.events(stale.id)]
        assert log[1:] == [("step.cancelled", "a", {"reason": reason}), ("step.cancelled", "b", {"reason": reason}),
                           ("run.cancelled", "", {"by": "alice", "reason": reason})]
        assert storage.runs.get(stale.id).last_seq == 4
    assert storage.runs.get(holder.id).state == "queued"
    assert [(e.run_id, e.seq, e.type) for e in newest.created_events] == [
        (newest.id, 1, "run.queued"),
        (stale1.id, 2, "step.cancelled"), (stale1.id, 3, "step.cancelled"), (stale1.id, 4, "run.cancelled"),
        (stale2.id, 2, "step.cancelled"), (stale2.id, 3, "step.cancelled"), (stale2.id, 4, "run.cancelled"),
    ]
    with pytest.raises(Exception, match="cancelled"):  # their terminal state is final like any other
        storage.transitions.record(stale1.id, "", 0, [Transition(event_type="run.started", run_state="running")])


def test_a_reopened_keyed_run_queues_again_instead_of_bypassing_the_limit(storage: Storage, keyed: NewKeyed) -> None:
    first = keyed()
    [lease] = storage.leases.claim("engine-1", 10, 30)
    storage.transitions.record(first.id, "engine-1", lease.epoch, [Transition(event_type="run.failed",
                                                                               run_state="failed")])
    storage.leases.release("engine-1", lease)
    second = keyed()
    assert second.concurrency.position == 0  # type: ignore[union-attr]
    storage.transitions.record(first.id, "", 0, [Transition(event_type="run.resumed", run_state="queued",
                                                            reopen=True)])
    assert _place(storage, first) == (1, [second.id])
    assert [lease.run_id for lease in storage.leases.claim("engine-1", 10, 30)] == [second.id]
    _end(storage, second)
    assert [lease.run_id for lease in storage.leases.claim("engine-1", 10, 30)] == [first.id]


def test_list_runs_shows_every_place_of_every_key(storage: Storage, keyed: NewKeyed) -> None:
    a1, a2, a3, b1, b2 = keyed("a"), keyed("a"), keyed("a"), keyed("b"), keyed("b")
    found, _ = storage.runs.list(limit=10)
    places = {run.id: (run.concurrency.position, list(run.concurrency.blocked_by))
              for run in found if run.concurrency}
    assert places == {a1.id: (0, []), a2.id: (1, [a1.id]), a3.id: (2, [a1.id]), b1.id: (0, []), b2.id: (1, [b1.id])}


@pytest.mark.parametrize(("key", "limit", "on_conflict", "message"), [
    (KEY, 1, "drop", "on_conflict: 'drop' is not one of"),
    (KEY, -1, "queue", "limit: must be between"),
    (KEY, 10_001, "queue", "limit: must be between"),
    ("k" * 501, 1, "queue", "key: at most 500"),
    ("", 2, "queue", "key: required"),
])
def test_bad_concurrency_is_invalid_argument(
    storage: Storage, keyed: NewKeyed, key: str, limit: int, on_conflict: str, message: str
) -> None:
    with pytest.raises(InvalidArgument, match=message):
        keyed(key, limit, on_conflict)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("limit", [1, 2])
def test_concurrent_claimers_never_run_more_than_the_limit_of_a_key(
    storage: Storage, keyed: NewKeyed, limit: int
) -> None:
    runs = [keyed(limit=limit) for _ in range(12)]
    claimers = 6
    barrier = threading.Barrier(claimers)
    intervals: list[tuple[float, float, str]] = []
    lock = threading.Lock()
    done = {run.id: False for run in runs}

    def work(worker: int) -> None:
        owner = f"engine-{worker}"
        barrier.wait()
        deadline = time.monotonic() + 90
        while not all(done.values()) and time.monotonic() < deadline:
            for lease in storage.leases.claim(owner, 3, 30):
                began = time.monotonic()
                time.sleep(0.01)
                ended = time.monotonic()
                storage.transitions.record(lease.run_id, owner, lease.epoch,
                                           [Transition(event_type="run.succeeded", run_state="succeeded")])
                with lock:
                    intervals.append((began, ended, lease.run_id))
                    done[lease.run_id] = True

    with ThreadPoolExecutor(claimers) as pool:
        list(pool.map(work, range(claimers)))
    assert sorted(run_id for _, _, run_id in intervals) == sorted(done)  # each run exactly once
    order = sorted(intervals)
    for began, _, run_id in order:
        overlapping = [other for b, e, other in order if b <= began < e]
        assert len(overlapping) <= limit, f"{run_id} ran beside {overlapping}"
    if limit == 1:
        assert [run_id for _, _, run_id in order] == [run.id for run in runs]  # FIFO
