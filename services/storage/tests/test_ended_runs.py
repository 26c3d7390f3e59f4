"""What a completion-trigger sweep reads: runs that ended in a window and states, not yet followed by a trigger.

Each test runs on SQLite and on PostgreSQL, through a real gRPC server where the request's fields
are what is tested.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import grpc
import pytest
from sqlalchemy import text
from vwmp_common.clients import storage_client
from vwmp_common.states import RunState
from vwmp_common.timeutil import from_timestamp, to_timestamp, utcnow
from vwmp_proto.storage.v1 import storage_pb2 as pb
from vwmp_proto.storage.v1.storage_pb2_grpc import StorageServiceStub
from vwmp_storage.runs import EndedFilter, Run
from vwmp_storage.server import serve
from vwmp_storage.storage import Storage
from vwmp_storage.transitions import Transition
from vwmp_storage.triggers import Advance, RunTrigger


@pytest.fixture
async def stub(storage: Storage) -> AsyncIterator[StorageServiceStub]:
    server, port = await serve(storage, "127.0.0.1", 0, sync_workers=4)
    try:
        yield storage_client(f"127.0.0.1:{port}")
    finally:
        await server.stop(None)


def end(storage: Storage, run: Run, state: str) -> Run:
    storage.transitions.record(run.id, "", 0, [Transition(event_type=f"run.{state}", run_state=state)])
    return storage.runs.get(run.id)


def follow(storage: Storage, upstream: Run, trigger_id: str = "after-build") -> Run:
    """The run a completion trigger of `deploy` starts for `upstream` (its dedupe key is the upstream's id)."""
    return storage.runs.create("deploy", 0, "{}", False, f"trigger:{trigger_id}", [("a", "core/noop")],
                               trigger=RunTrigger("on_run", trigger_id, utcnow(), run_id=upstream.id,
                                                  dedupe_key=upstream.id))


async def test_ended_runs_come_oldest_end_first_within_the_window_and_states(
        storage: Storage, stub: StorageServiceStub, new_run: Callable[..., Run]) -> None:
    new_run("deploy")
    [first, failed, second, cancelled] = [end(storage, new_run(), state) for state in
                                          ("succeeded", "failed", "succeeded", "cancelled")]
    running = new_run()
    storage.transitions.record(running.id, "", 0, [Transition(event_type="run.started", run_state="running")])
    assert first.finished_at is not None and cancelled.finished_at is not None

    found = await stub.ListRuns(pb.ListRunsRequest(workflow="release", finished_after=to_timestamp(
        first.finished_at - timedelta(seconds=1))))
    assert [r.id for r in found.runs] == [first.id, failed.id, second.id, cancelled.id]  # the running one has no end
    assert found.total == 4
    found = await stub.ListRuns(pb.ListRunsRequest(
        workflow="release", finished_after=to_timestamp(first.finished_at),
        states=[RunState.SUCCEEDED.number, RunState.CANCELLED.number]))
    assert [r.id for r in found.runs] == [second.id, cancelled.id]  # strictly after: `first` is not listed again
    assert [from_timestamp(r.finished_at) for r in found.runs] == [second.finished_at, cancelled.finished_at]
    found = await stub.ListRuns(pb.ListRunsRequest(workflow="release",
                                                   finished_before=to_timestamp(second.finished_at)))
    assert [r.id for r in found.runs] == [first.id, failed.id, second.id]  # at or before
    found = await stub.ListRuns(pb.ListRunsRequest(workflow="release", states=[RunState.FAILED.number], limit=1))
    assert [r.id for r in found.runs] == [failed.id]
    newest = (await stub.ListRuns(pb.ListRunsRequest(workflow="release"))).runs[0]
    assert newest.id == running.id  # without a window: newest first, as before


async def test_not_followed_by_leaves_out_the_runs_that_trigger_has_started_a_run_for(
        storage: Storage, stub: StorageServiceStub, new_run: Callable[..., Run]) -> None:
    new_run("deploy")
    ended = [end(storage, new_run(), "succeeded") for _ in range(4)]
    follow(storage, ended[0])
    follow(storage, ended[2])
    follow(storage, ended[3], trigger_id="other-trigger")  # another trigger's run does not count
    request = pb.ListRunsRequest(workflow="release", states=[RunState.SUCCEEDED.number],
                                 not_followed_by=pb.TriggerRef(workflow="deploy", trigger_id="after-build"))
    found = await stub.ListRuns(request)
    assert [r.id for r in found.runs] == [ended[1].id, ended[3].id] and found.total == 2
    other = pb.TriggerRef(workflow="release", trigger_id="after-build")  # same trigger id, other workflow
    found = await stub.ListRuns(pb.ListRunsRequest(workflow="release", states=[RunState.SUCCEEDED.number],
                                                   not_followed_by=other))
    assert len(found.runs) == 4


async def test_bad_ended_filters_are_invalid_argument_naming_the_field(stub: StorageServiceStub) -> None:
    cases = [
        (pb.ListRunsRequest(states=[RunState.SUCCEEDED.number, 0]), "states[1]"),
        (pb.ListRunsRequest(states=[99]), "states[0]"),
        (pb.ListRunsRequest(not_followed_by=pb.TriggerRef(workflow="deploy")), "not_followed_by"),
        (pb.ListRunsRequest(not_followed_by=pb.TriggerRef(workflow="Not A Name", trigger_id="x")),
         "not_followed_by.workflow"),
        (pb.ListRunsRequest(not_followed_by=pb.TriggerRef(workflow="deploy", trigger_id="x" * 65)),
         "not_followed_by.trigger_id"),
    ]
    for request, field in cases:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.ListRuns(request)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert (refused.value.details() or "").startswith(field), refused.value.details()


def test_the_sweep_query_uses_the_workflow_finished_at_index(storage: Storage) -> None:
    """Run on both databases: the plan names the index (PostgreSQL may still pick a scan on a tiny table)."""
    with storage.database.read() as conn:
        if conn.dialect.name == "sqlite":
            plan = " ".join(str(row[-1]) for row in conn.execute(text(
                "EXPLAIN QUERY PLAN SELECT id FROM runs WHERE workflow = 'release' AND finished_at > '2026-01-01' "
                "ORDER BY finished_at")))
        else:
            conn.execute(text("SET LOCAL enable_seqscan = off"))
            plan = " ".join(str(row[0]) for row in conn.execute(text(
                "EXPLAIN SELECT id FROM runs WHERE workflow = 'release' AND finished_at > now() "
                "ORDER BY finished_at")))
    assert "ix_runs_workflow_finished_at" in plan, plan


def test_two_replicas_following_the_same_end_create_one_run(storage: Storage, new_run: Callable[..., Run]) -> None:
    """The dedupe guard on both databases: concurrent starts of one (trigger, finished run) converge."""
    new_run("deploy")
    upstream = end(storage, new_run(), "succeeded")
    with ThreadPoolExecutor(8) as pool:
        started = list(pool.map(lambda _: follow(storage, upstream), range(8)))
    assert len({run.id for run in started}) == 1
    assert sum(not run.replayed for run in started) == 1
    assert storage.runs.list("deploy", trigger="after-build")[1] == 1
    assert storage.runs.list("release", ended=EndedFilter(not_followed_by=("deploy", "after-build")))[1] == 0


def test_resuming_a_trigger_and_restoring_its_workflow_arm_it_again_at_now(
        storage: Storage, new_run: Callable[..., Run]) -> None:
    new_run("deploy")
    long_ago = utcnow() - timedelta(days=1)
    storage.triggers.advance(Advance("deploy", "after-build", compare=True, digest="on_run:x", next_fire_at=long_ago))
    storage.triggers.pause("deploy", "after-build", True, "ops")
    before = utcnow()
    resumed = storage.triggers.pause("deploy", "after-build", False, "ops")
    assert resumed.digest == "" and resumed.next_fire_at is not None and resumed.next_fire_at >= before
    storage.triggers.advance(Advance("deploy", "after-build", compare=True, expected_digest="",
                                     expected_next_fire_at=resumed.next_fire_at, digest="on_run:x",
                                     next_fire_at=long_ago))
    before = utcnow()
    storage.triggers.restart("deploy")
    [state] = storage.triggers.states("deploy")
    assert state.digest == "" and state.next_fire_at is not None and state.next_fire_at >= before
    assert state.paused is False


async def test_saving_an_archived_workflow_restarts_its_triggers_and_saving_a_live_one_does_not(
        storage: Storage, stub: StorageServiceStub, sample_definition: str) -> None:
    storage.definitions.create("deploy", sample_definition, "tester")
    long_ago = utcnow() - timedelta(days=1)
    storage.triggers.advance(Advance("deploy", "after-build", compare=True, digest="on_run:x", next_fire_at=long_ago))
    await stub.PutWorkflow(pb.PutWorkflowRequest(name="deploy", definition_json=sample_definition))
    [state] = storage.triggers.states("deploy")
    assert (state.digest, state.next_fire_at) == ("on_run:x", long_ago)
    await stub.ArchiveWorkflow(pb.ArchiveWorkflowRequest(name="deploy", actor="ops"))
    before = utcnow()
    await stub.PutWorkflow(pb.PutWorkflowRequest(name="deploy", definition_json=sample_definition))
    [state] = storage.triggers.states("deploy")
    assert state.digest == "" and state.next_fire_at is not None and state.next_fire_at >= before
