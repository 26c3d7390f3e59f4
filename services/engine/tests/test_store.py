"""The typed storage facade against the real storage service: engine-side types in, out and refused."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from vwmp_common.clients import storage_client
from vwmp_common.states import EventType, RunState, StepState
from vwmp_common.timeutil import from_timestamp
from vwmp_engine.store import LeaseLost, NotFound, RunClosed, Store, Transition, Workflow
from vwmp_proto.storage.v1 import storage_pb2

from .conftest import Services
from .test_runs import workflow


@pytest.fixture
async def store(services: Services) -> AsyncIterator[Store]:
    yield Store(storage_client(services.storage_target))


async def saved(store: Store, services: Services) -> Workflow:
    definition = workflow({"id": "a", "uses": "core/noop"}, {"id": "b", "uses": "core/noop", "needs": ["a"]})
    stub = storage_client(services.storage_target)
    await stub.CreateWorkflow(storage_pb2.CreateWorkflowRequest(
        name=definition["metadata"]["name"], definition_json=json.dumps(definition), created_by="t"))
    return await store.get_workflow(definition["metadata"]["name"])


async def test_a_created_run_comes_back_typed_with_the_queued_event_storage_wrote(
    store: Store, services: Services
) -> None:
    pinned = await saved(store, services)
    assert pinned.version == 1 and pinned.definition["spec"]["steps"][0]["id"] == "a"
    run, [queued] = await store.create_run(pinned, {"part": "minor"}, False, "tester", [("a", "core/noop"),
                                                                                        ("b", "core/noop")])
    assert (run.state, run.parameters, run.started_at, run.reopened_at) == (RunState.QUEUED, {"part": "minor"},
                                                                            None, None)
    assert [(s.id, s.state, s.attempt, s.outputs) for s in run.steps] == [
        ("a", StepState.PENDING, 0, {}), ("b", StepState.PENDING, 0, {})]
    stub = storage_client(services.storage_target)
    [stored] = (await stub.ListEvents(storage_pb2.ListEventsRequest(run_id=run.id))).events
    assert queued == stored


async def test_transitions_are_recorded_fenced_and_refused_once_the_run_is_terminal(
    store: Store, services: Services
) -> None:
    run, _ = await store.create_run(await saved(store, services), {}, False, "t", [("a", "core/noop")])
    [lease] = [lease for lease in await store.claim_runs("store-test", 50, 30) if lease.run_id == run.id]
    events = await store.record(run.id, [
        Transition(EventType.RUN_STARTED, run_state=RunState.RUNNING),
        Transition(EventType.STEP_SUCCEEDED, "a", attempt=1, step_state=StepState.SUCCEEDED, outputs={"v": 1}),
    ], owner="store-test", epoch=lease.epoch)
    assert [(e.seq, EventType.from_number(e.type)) for e in events] == [(2, "run.started"), (3, "step.succeeded")]
    with pytest.raises(LeaseLost):
        await store.record(run.id, [Transition(EventType.STEP_LOG, "a")], owner="store-test", epoch=lease.epoch + 1)
    got = await store.get_run(run.id, with_definition=True)
    assert got.state == RunState.RUNNING and got.started_at is not None and got.definition is not None
    assert got.steps[0].outputs == {"v": 1}
    await store.record(run.id, [Transition(EventType.RUN_SUCCEEDED, run_state=RunState.SUCCEEDED)])
    with pytest.raises(RunClosed):
        await store.record(run.id, [Transition(EventType.STEP_LOG, "a")])
    reopened = await store.record(run.id, [Transition(EventType.RUN_RESUMED, run_state=RunState.RUNNING,
                                                      reopen=True)])
    got = await store.get_run(run.id)
    assert got.reopened_at == from_timestamp(reopened[0].at)
    await store.release_lease("store-test", lease)


async def test_unknown_runs_and_workflows_are_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        await store.get_run("no-such-run")
    with pytest.raises(NotFound):
        await store.get_workflow("no-such-workflow")
