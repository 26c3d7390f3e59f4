"""RecordTransitions with an idempotency key: a repeated batch (its answer was lost) is applied once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select
from vwmp_storage.errors import Aborted, FailedPrecondition, InvalidArgument
from vwmp_storage.models import transition_batches
from vwmp_storage.runs import Run
from vwmp_storage.storage import Storage
from vwmp_storage.transitions import Transition

START = Transition(event_type="run.started", run_state="running")
A_STARTED = Transition(event_type="step.started", step_id="a", step_state="running", attempt=1)
A_DONE = Transition(event_type="step.succeeded", step_id="a", step_state="succeeded", attempt=1,
                    outputs_json='{"sha": "abc"}', data_json='{"duration_ms": 3}')
RUN_DONE = Transition(event_type="run.succeeded", run_state="succeeded")


def keys_of(storage: Storage, run_id: str) -> list[str]:
    with storage.database.read() as conn:
        rows = conn.execute(select(transition_batches.c.idempotency_key)
                            .where(transition_batches.c.run_id == run_id)
                            .order_by(transition_batches.c.idempotency_key))
        return [row.idempotency_key for row in rows]


def test_a_repeated_batch_is_answered_with_its_first_events_and_applied_once(
    storage: Storage, new_run: Callable[..., Run]
) -> None:
    run = new_run()
    storage.transitions.record(run.id, "", 0, [START], idempotency_key="k1")
    first = storage.transitions.record(run.id, "", 0, [A_STARTED, A_DONE], idempotency_key="k2")
    again = storage.transitions.record(run.id, "", 0, [A_STARTED, A_DONE], idempotency_key="k2")
    assert [(e.seq, e.type) for e in first] == [(3, "step.started"), (4, "step.succeeded")]
    assert again == first
    stored = storage.runs.events(run.id)
    assert [(e.seq, e.type) for e in stored] == [(1, "run.queued"), (2, "run.started"), (3, "step.started"),
                                                 (4, "step.succeeded")]
    assert storage.runs.get(run.id).last_seq == 4


def test_a_batch_without_events_repeats_as_no_events(storage: Storage, new_run: Callable[..., Run]) -> None:
    run = new_run()
    silent = Transition(step_id="a", outputs_json='{"partial": true}')
    assert storage.transitions.record(run.id, "", 0, [silent], idempotency_key="quiet") == []
    assert storage.transitions.record(run.id, "", 0, [silent], idempotency_key="quiet") == []
    assert storage.runs.get(run.id).last_seq == 1


def test_the_batch_that_ended_the_run_is_answered_again_not_refused(
    storage: Storage, new_run: Callable[..., Run]
) -> None:
    run = new_run()
    storage.transitions.record(run.id, "", 0, [START, A_STARTED], idempotency_key="k1")
    ended = storage.transitions.record(run.id, "", 0, [A_DONE, RUN_DONE], idempotency_key="end")
    assert storage.transitions.record(run.id, "", 0, [A_DONE, RUN_DONE], idempotency_key="end") == ended
    with pytest.raises(FailedPrecondition):  # without its key the same batch is a write to a finished run
        storage.transitions.record(run.id, "", 0, [A_DONE, RUN_DONE])
    assert [e.type for e in storage.runs.events(run.id)].count("run.succeeded") == 1


def test_a_repeat_after_the_lease_moved_on_gets_the_committed_events(
    storage: Storage, new_run: Callable[..., Run]
) -> None:
    run = new_run()
    [lease] = storage.leases.claim("engine-1", 10, 30)
    done = storage.transitions.record(run.id, "engine-1", lease.epoch, [START], idempotency_key="k1")
    storage.leases.release("engine-1", lease)
    [taken] = storage.leases.claim("engine-2", 10, 30)
    assert storage.transitions.record(run.id, "engine-1", lease.epoch, [START], idempotency_key="k1") == done
    with pytest.raises(Aborted):  # a new batch of the old owner is still fenced
        storage.transitions.record(run.id, "engine-1", lease.epoch, [A_STARTED], idempotency_key="k2")
    storage.transitions.record(run.id, "engine-2", taken.epoch, [A_STARTED], idempotency_key="k2")
    assert storage.runs.get(run.id).last_seq == 3


def test_a_key_sent_with_other_transitions_is_invalid_argument_and_writes_nothing(
    storage: Storage, new_run: Callable[..., Run]
) -> None:
    run = new_run()
    storage.transitions.record(run.id, "", 0, [START], idempotency_key="k1")
    with pytest.raises(InvalidArgument, match="idempotency_key: 'k1' was used for other transitions"):
        storage.transitions.record(run.id, "", 0, [A_STARTED], idempotency_key="k1")
    with pytest.raises(InvalidArgument, match="idempotency_key: at most 128 characters"):
        storage.transitions.record(run.id, "", 0, [A_STARTED], idempotency_key="k" * 129)
    assert storage.runs.get(run.id).last_seq == 2


def test_keys_are_kept_until_the_run_ends_then_only_the_last_batch_keeps_its_own(
    storage: Storage, new_run: Callable[..., Run]
) -> None:
    run, other = new_run(), new_run()
    storage.transitions.record(run.id, "", 0, [START], idempotency_key="k1")
    storage.transitions.record(run.id, "", 0, [A_STARTED], idempotency_key="k2")
    storage.transitions.record(other.id, "", 0, [START], idempotency_key="k1")
    assert keys_of(storage, run.id) == ["k1", "k2"]
    storage.transitions.record(run.id, "", 0, [A_DONE, RUN_DONE], idempotency_key="k3")
    assert keys_of(storage, run.id) == ["k3"]
    assert keys_of(storage, other.id) == ["k1"]  # another run's keys are its own
    storage.transitions.record(other.id, "", 0, [Transition(event_type="run.cancelled", run_state="cancelled")])
    assert keys_of(storage, other.id) == []  # ended by a batch without a key: nothing left to repeat


def test_concurrent_repeats_of_one_batch_apply_it_once(storage: Storage, new_run: Callable[..., Run]) -> None:
    run = new_run()
    storage.transitions.record(run.id, "", 0, [START, A_STARTED])
    threads = 8
    barrier = threading.Barrier(threads)

    def send(_: int) -> list[tuple[int, str]]:
        barrier.wait()
        return [(e.seq, e.type) for e in storage.transitions.record(run.id, "", 0, [A_DONE], idempotency_key="once")]

    with ThreadPoolExecutor(threads) as pool:
        answers = list(pool.map(send, range(threads)))
    assert answers == [[(4, "step.succeeded")]] * threads
    assert [e.type for e in storage.runs.events(run.id)].count("step.succeeded") == 1
