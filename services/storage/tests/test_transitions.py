"""RecordTransitions: state rules, fencing, and gapless sequences under concurrency."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from vwmp_storage.errors import Aborted, FailedPrecondition, InvalidArgument, NotFound
from vwmp_storage.runs import Run
from vwmp_storage.storage import Storage
from vwmp_storage.transitions import Transition

START = Transition(event_type="run.started", run_state="running")


def test_run_and_step_states_and_timestamps(storage: Storage, new_run: Callable[..., Run]) -> None:
    run = new_run()
    events = storage.transitions.record(
        run.id,
        "",
        0,
        [START, Transition(event_type="step.started", step_id="a", step_state="running", attempt=1)],
    )
    assert [(e.seq, e.type, e.step_id, e.attempt, e.data_json) for e in events] == [
        (2, "run.started", "", 0, "{}"),
        (3, "step.started", "a", 1, "{}"),
    ]
    got = storage.runs.get(run.id)
    assert got.state == "running" and got.started_at is not None and got.finished_at is None
    step = got.steps[0]
    assert (step.state, step.attempt, step.started_at is not None, step.finished_at) == ("running", 1, True, None)

    storage.transitions.record(
        run.id,
        "",
        0,
        [
            Transition(
                event_type="step.succeeded",
                step_id="a",
                step_state="succeeded",
                outputs_json='{"version": "1.2.0"}',
                data_json='{"outputs": {"version": "1.2.0"}}',
            ),
            Transition(event_type="step.skipped", step_id="b", step_state="skipped"),
            Transition(event_type="run.succeeded", run_state="succeeded"),
        ],
    )
    got = storage.runs.get(run.id)
    assert got.state == "succeeded" and got.finished_at is not None and got.last_seq == 6
    assert json.loads(got.steps[0].outputs_json) == {"version": "1.2.0"}
    assert got.steps[0].finished_at is not None and got.steps[1].finished_at is not None
    assert storage.runs.events(run.id)[3].data_json == '{"outputs":{"version":"1.2.0"}}'


def test_silent_update_appends_no_event(storage: Storage, new_run: Callable[..., Run]) -> None:
    run = new_run()
    events = storage.transitions.record(run.id, "", 0, [Transition(step_id="a", outputs_json='{"partial": 1}')])
    assert events == []
    got = storage.runs.get(run.id)
    assert got.last_seq == 1 and got.steps[0].outputs_json == '{"partial":1}'


def test_step_error_and_clear_step(storage: Storage, new_run: Callable[..., Run]) -> None:
    run = new_run()
    storage.transitions.record(
        run.id,
        "",
        0,
        [
            START,
            Transition(event_type="step.started", step_id="a", step_state="running", attempt=1),
            Transition(
                event_type="step.failed", step_id="a", step_state="failed", error="boom", outputs_json='{"x":1}'
            ),
        ],
    )
    step = storage.runs.get(run.id).steps[0]
    assert (step.state, step.error, step.finished_at is not None) == ("failed", "boom", True)
    storage.transitions.record(run.id, "", 0, [Transition(step_id="a", step_state="pending", clear_step=True)])
    step = storage.runs.get(run.id).steps[0]
    assert (step.state, step.error, step.outputs_json, step.started_at, step.finished_at, step.attempt) == (
        "pending",
        "",
        "{}",
        None,
        None,
        1,
    )


@pytest.mark.parametrize("terminal", ["succeeded", "succeeded_with_warnings", "failed", "cancelled"])
def test_terminal_run_refuses_transitions(storage: Storage, new_run: Callable[..., Run], terminal: str) -> None:
    run = new_run()
    storage.transitions.record(run.id, "", 0, [START, Transition(event_type=f"run.{terminal}", run_state=terminal)])
    with pytest.raises(FailedPrecondition, match=f"is {terminal}"):
        storage.transitions.record(
            run.id, "", 0, [Transition(event_type="step.started", step_id="a", step_state="running")]
        )
    assert storage.runs.get(run.id).last_seq == 3


def test_transitions_after_a_terminal_one_in_the_same_batch_roll_back_the_batch(
    storage: Storage, new_run: Callable[..., Run]
) -> None:
    run = new_run()
    with pytest.raises(FailedPrecondition, match="transitions\\[2\\]"):
        storage.transitions.record(
            run.id,
            "",
            0,
            [START, Transition(event_type="run.failed", run_state="failed"), Transition(event_type="step.log")],
        )
    got = storage.runs.get(run.id)
    assert (got.state, got.last_seq) == ("queued", 1)
    assert len(storage.runs.events(run.id)) == 1


def test_reopen_lets_a_finished_run_run_again(storage: Storage, new_run: Callable[..., Run]) -> None:
    run = new_run()
    storage.transitions.record(
        run.id,
        "",
        0,
        [
            START,
            Transition(event_type="step.failed", step_id="a", step_state="failed", error="x"),
            Transition(event_type="run.failed", run_state="failed"),
        ],
    )
    first_started = storage.runs.get(run.id).started_at
    events = storage.transitions.record(
        run.id,
        "",
        0,
        [
            Transition(event_type="run.resumed", run_state="running", reopen=True),
            Transition(step_id="a", step_state="pending", clear_step=True),
            Transition(event_type="step.started", step_id="a", step_state="running", attempt=2),
        ],
    )
    assert [e.seq for e in events] == [5, 6]
    got = storage.runs.get(run.id)
    assert (got.state, got.finished_at, got.started_at) == ("running", None, first_started)
    assert (got.steps[0].state, got.steps[0].attempt, got.steps[0].error) == ("running", 2, "")


def test_a_reopened_run_remembers_when_however_many_events_came_before(
    storage: Storage, new_run: Callable[..., Run]
) -> None:
    run = new_run()
    logs = [Transition(event_type="step.log", step_id="a", attempt=1) for _ in range(1_100)]
    storage.transitions.record(run.id, "", 0, [START, *logs, Transition(event_type="run.failed", run_state="failed")])
    assert storage.runs.get(run.id).reopened_at is None
    reopen = Transition(event_type="run.resumed", run_state="running", reopen=True)
    [resumed] = storage.transitions.record(run.id, "", 0, [reopen])
    got = storage.runs.get(run.id)
    assert resumed.seq > 1_000 and got.reopened_at == resumed.at
    assert got.started_at is not None and got.reopened_at > got.started_at
    storage.transitions.record(run.id, "", 0, [Transition(event_type="run.failed", run_state="failed")])
    [again] = storage.transitions.record(run.id, "", 0, [reopen])
    assert storage.runs.get(run.id).reopened_at == again.at > resumed.at


def test_unknown_step_is_invalid_argument_and_nothing_is_written(storage: Storage, new_run: Callable[..., Run]) -> None:
    run = new_run()
    with pytest.raises(InvalidArgument, match=r"transitions\[1\].step_id: run .* has no step 'zz'"):
        storage.transitions.record(
            run.id, "", 0, [START, Transition(event_type="step.started", step_id="zz", step_state="running")]
        )
    assert storage.runs.get(run.id).state == "queued"


@pytest.mark.parametrize(
    ("transition", "message"),
    [
        (Transition(run_state="exploded"), "transitions\\[0\\].run_state"),
        (Transition(step_id="a", step_state="done"), "transitions\\[0\\].step_state"),
        (Transition(step_state="running"), "transitions\\[0\\].step_id: required"),
        (Transition(step_id="a", outputs_json="[1]"), "transitions\\[0\\].outputs_json"),
        (Transition(event_type="step.log", data_json="{nope"), "transitions\\[0\\].data_json"),
    ],
)
def test_malformed_transitions_are_invalid_argument(
    storage: Storage, new_run: Callable[..., Run], transition: Transition, message: str
) -> None:
    run = new_run()
    with pytest.raises(InvalidArgument, match=message):
        storage.transitions.record(run.id, "", 0, [transition])


def test_unknown_run_is_not_found(storage: Storage) -> None:
    with pytest.raises(NotFound):
        storage.transitions.record("nope", "", 0, [START])


def test_fencing_refuses_a_stale_owner_or_epoch(storage: Storage, new_run: Callable[..., Run]) -> None:
    run = new_run()
    [lease] = storage.leases.claim("engine-1", 10, 30)
    storage.transitions.record(run.id, "engine-1", lease.epoch, [START])
    with pytest.raises(Aborted, match="lease lost"):
        storage.transitions.record(run.id, "engine-2", lease.epoch, [Transition(event_type="step.log")])
    with pytest.raises(Aborted, match="lease lost"):
        storage.transitions.record(run.id, "engine-1", lease.epoch - 1, [Transition(event_type="step.log")])
    storage.leases.release("engine-1", lease)
    with pytest.raises(Aborted, match="held by nobody"):
        storage.transitions.record(run.id, "engine-1", lease.epoch, [Transition(event_type="step.log")])
    # The gateway's control requests carry no lease and are not fenced.
    storage.transitions.record(run.id, "", 0, [Transition(event_type="run.paused", run_state="paused")])
    assert storage.runs.get(run.id).last_seq == 3


def test_sequences_stay_gapless_under_concurrent_writers(storage: Storage, new_run: Callable[..., Run]) -> None:
    runs = [new_run() for _ in range(3)]
    threads, calls = 12, 15
    barrier = threading.Barrier(threads)

    def write(worker: int) -> list[int]:
        barrier.wait()
        seqs = []
        run = runs[worker % len(runs)]
        for _ in range(calls):
            events = storage.transitions.record(
                run.id,
                "",
                0,
                [
                    Transition(event_type="step.log", step_id="a", data_json=json.dumps({"worker": worker})),
                    Transition(event_type="step.log", step_id="b", step_state="running"),
                ],
            )
            seqs.extend(e.seq for e in events)
        return seqs

    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(write, range(threads)))
    assert sum(len(r) for r in results) == threads * calls * 2
    for run in runs:
        stored = [e.seq for e in storage.runs.events(run.id, limit=10_000)]
        assert stored == list(range(1, len(stored) + 1))
        assert storage.runs.get(run.id).last_seq == len(stored) == 1 + (threads // len(runs)) * calls * 2
