"""Completion triggers are durable: the sweep follows, from storage, the ends no engine followed.

A real storage process (SQLite) and real engines built as `__main__` builds them, with a short
settle time so the sweep looks at ends a second old.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

from vwmp_common.clients import storage_client
from vwmp_common.ports import free_port
from vwmp_common.states import EventType, RunState, StepState
from vwmp_common.timeutil import from_timestamp
from vwmp_engine import Engine
from vwmp_proto.storage.v1 import storage_pb2

from .conftest import Replica, Services, engine_settings

_names = itertools.count()
SETTLE = 1.0
# Long enough on a loaded machine for several sweeps to pass an end (settle + a few sweep periods).
QUIET = 6.0


@contextlib.asynccontextmanager
async def sweeping(services: Services, nats_server: str) -> AsyncIterator[Replica]:
    """An engine replica that sweeps every half second for ends older than SETTLE."""
    settings = engine_settings(services, nats_server, f"engine-{free_port()}").model_copy(update={
        "engine_completion_sweep_seconds": 0.5, "engine_completion_settle_seconds": SETTLE})
    async with Engine(settings) as engine:
        yield Replica(engine, storage_client(services.storage_target))


def workflow(name: str, triggers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"parameters": {"type": "object", "properties": {"after": {"type": "string"}}},
                            "steps": [{"id": "work", "uses": "core/noop"}]}
    if triggers:
        spec["triggers"] = triggers
    return {"apiVersion": "vwmp/v1", "kind": "Workflow", "metadata": {"name": name}, "spec": spec}


def pair(states: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """An upstream workflow and one whose completion trigger follows it in `states`."""
    n = next(_names)
    upstream = workflow(f"up-{n}")
    downstream = workflow(f"down-{n}", [{"id": "after-up", "on_run": {"workflow": f"up-{n}", "states": states},
                                         "parameters": {"after": "${{ trigger.run.id }}"}}])
    return upstream, downstream


async def followers(storage: Any, name: str) -> list[storage_pb2.Run]:
    found = await storage.ListRuns(storage_pb2.ListRunsRequest(workflow=name, trigger="after-up", limit=500))
    return list(found.runs)


async def wait_followers(storage: Any, name: str, count: int, timeout: float = 30.0) -> list[storage_pb2.Run]:
    async with asyncio.timeout(timeout):
        while len(found := await followers(storage, name)) < count:
            await asyncio.sleep(0.1)
    return found


async def cancelled_while_no_engine_runs(storage: Any, name: str) -> str:
    """A queued run cancelled as a control does when no replica executes it: written to storage, nobody told."""
    created = await storage.CreateRun(storage_pb2.CreateRunRequest(
        workflow=name, parameters_json="{}", created_by="tester", steps=[storage_pb2.StepRun(id="work",
                                                                                             uses="core/noop")]))
    await storage.RecordTransitions(storage_pb2.RecordTransitionsRequest(run_id=created.id, transitions=[
        storage_pb2.Transition(event_type=EventType.STEP_CANCELLED.number, step_id="work",
                               step_state=StepState.CANCELLED.number, data_json='{"reason": "cancelled"}'),
        storage_pb2.Transition(event_type=EventType.RUN_CANCELLED.number, run_state=RunState.CANCELLED.number,
                               data_json='{"by": "tester"}')]))
    return created.id


async def state_of(storage: Any, workflow: str, trigger_id: str) -> storage_pb2.TriggerState | None:
    states = await storage.ListTriggerStates(storage_pb2.ListTriggerStatesRequest(workflow=workflow))
    return next((s for s in states.states if s.trigger_id == trigger_id), None)


async def test_an_end_no_engine_saw_starts_exactly_one_completion_run_once_an_engine_is_back(
        services: Services, nats_server: str) -> None:
    upstream, downstream = pair(["cancelled"])
    storage = storage_client(services.storage_target)
    async with sweeping(services, nats_server) as engine:
        await engine.apply(upstream)
        await engine.apply(downstream)
    # Every engine is down: the upstream run ends and no engine hands its end over.
    ended = await cancelled_while_no_engine_runs(storage, upstream["metadata"]["name"])
    await asyncio.sleep(SETTLE)
    assert await followers(storage, downstream["metadata"]["name"]) == []
    async with sweeping(services, nats_server) as engine:
        [chained] = await wait_followers(storage, downstream["metadata"]["name"], 1)
        assert (chained.trigger.kind, chained.trigger.run_id) == ("on_run", ended)
        assert json.loads(chained.parameters_json) == {"after": ended}
        assert (await engine.wait(chained.id)).state == "succeeded"
        await asyncio.sleep(QUIET)
        assert len(await followers(storage, downstream["metadata"]["name"])) == 1


async def test_two_replicas_sweeping_the_same_ends_start_one_run_for_each(
        services: Services, nats_server: str) -> None:
    upstream, downstream = pair(["cancelled", "succeeded"])
    storage = storage_client(services.storage_target)
    async with sweeping(services, nats_server) as engine:
        await engine.apply(upstream)
        await engine.apply(downstream)
    ended = {await cancelled_while_no_engine_runs(storage, upstream["metadata"]["name"]) for _ in range(8)}
    async with sweeping(services, nats_server) as a, sweeping(services, nats_server) as b:
        finished = {await a.start(upstream["metadata"]["name"]), await b.start(upstream["metadata"]["name"])}
        found = await wait_followers(storage, downstream["metadata"]["name"], len(ended) + 2)
        await asyncio.sleep(QUIET)
        found = await followers(storage, downstream["metadata"]["name"])
    assert sorted(run.trigger.run_id for run in found) == sorted(ended | finished)


async def test_a_trigger_saved_after_upstream_runs_ended_does_not_fire_for_them(
        services: Services, nats_server: str) -> None:
    upstream, downstream = pair(["succeeded"])
    name = downstream["metadata"]["name"]
    async with sweeping(services, nats_server) as engine:
        await engine.apply(upstream)
        before = [await engine.start(upstream["metadata"]["name"]) for _ in range(3)]
        for run_id in before:
            await engine.wait(run_id)
        await engine.apply(downstream)
        async with asyncio.timeout(20):  # a sweep has armed the trigger
            while not ((state := await state_of(engine.storage, name, "after-up")) and state.digest):
                await asyncio.sleep(0.1)
        await asyncio.sleep(QUIET)
        assert await followers(engine.storage, name) == []
        after = await engine.start(upstream["metadata"]["name"])
        [chained] = await wait_followers(engine.storage, name, 1)
        assert chained.trigger.run_id == after
        await asyncio.sleep(QUIET)
        assert [run.trigger.run_id for run in await followers(engine.storage, name)] == [after]


async def test_a_paused_trigger_does_not_fire_keeps_its_mark_and_resumed_does_not_catch_up(
        services: Services, nats_server: str) -> None:
    upstream, downstream = pair(["succeeded", "cancelled"])
    name = downstream["metadata"]["name"]
    async with sweeping(services, nats_server) as engine:
        await engine.apply(upstream)
        await engine.apply(downstream)
        first = await engine.start(upstream["metadata"]["name"])
        await wait_followers(engine.storage, name, 1)
        await asyncio.sleep(QUIET)  # the sweep has passed `first` (its mark moved over it)
        await engine.storage.PauseTrigger(storage_pb2.PauseTriggerRequest(workflow=name, trigger_id="after-up",
                                                                          paused=True, actor="ops"))
        paused = await state_of(engine.storage, name, "after-up")
        assert paused is not None and paused.paused
        for _ in range(2):
            await engine.wait(await engine.start(upstream["metadata"]["name"]))
        await asyncio.sleep(QUIET)
        assert [run.trigger.run_id for run in await followers(engine.storage, name)] == [first]
        still = await state_of(engine.storage, name, "after-up")
        assert still is not None and from_timestamp(still.next_fire_at) == from_timestamp(paused.next_fire_at)

        await engine.storage.PauseTrigger(storage_pb2.PauseTriggerRequest(workflow=name, trigger_id="after-up",
                                                                          paused=False, actor="ops"))
        resumed = await engine.start(upstream["metadata"]["name"])
        await wait_followers(engine.storage, name, 2)
        await asyncio.sleep(QUIET)
        assert sorted(run.trigger.run_id for run in await followers(engine.storage, name)) == sorted([first, resumed])
