"""Triggers on a real engine: schedules fire once per tick, overlap and catchup, pause/resume, A → B chains."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest
from vwmp_common.states import ControlAction, RunState
from vwmp_common.timeutil import from_timestamp, parse_iso, to_timestamp
from vwmp_engine.controls import OwnerUnreachable
from vwmp_engine.run_state import ControlRefused
from vwmp_proto.engine.v1 import engine_pb2
from vwmp_proto.storage.v1 import storage_pb2

from .conftest import Replica

_names = itertools.count()
PARAMETERS = {"type": "object", "properties": {"when": {"type": "string"}, "upstream": {"type": "string"},
                                               "state": {"type": "string"}, "part": {"type": "string"}}}


def triggered(triggers: list[dict[str, Any]], seconds: float = 0.0, name: str | None = None) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [{"id": "work", "uses": "core/sleep", "with": {"seconds": seconds}}]
    return {"apiVersion": "vwmp/v1", "kind": "Workflow", "metadata": {"name": name or f"trig-{next(_names)}"},
            "spec": {"parameters": PARAMETERS, "steps": steps, "triggers": triggers}}


async def runs_of(engine: Replica, workflow: str, trigger: str = "") -> list[storage_pb2.Run]:
    found = await engine.storage.ListRuns(storage_pb2.ListRunsRequest(workflow=workflow, trigger=trigger, limit=500))
    return list(reversed(found.runs))  # oldest first


async def wait_runs(engine: Replica, workflow: str, count: int, timeout: float = 20.0) -> list[storage_pb2.Run]:
    async with asyncio.timeout(timeout):
        while len(found := await runs_of(engine, workflow)) < count:
            await asyncio.sleep(0.1)
    return found


async def state_of(engine: Replica, workflow: str, trigger_id: str) -> storage_pb2.TriggerState:
    states = await engine.storage.ListTriggerStates(storage_pb2.ListTriggerStatesRequest(workflow=workflow))
    return next(s for s in states.states if s.trigger_id == trigger_id)


async def test_an_every_schedule_fires_once_per_tick_with_scheduled_at_and_records_the_trigger(
        engine: Replica) -> None:
    definition = triggered([{"id": "tick", "schedule": {"every": "1s"},
                             "parameters": {"when": "${{ trigger.scheduled_at }}"}}])
    await engine.apply(definition)
    name = definition["metadata"]["name"]
    found = await wait_runs(engine, name, 3)
    ticks = [from_timestamp(run.trigger.at) for run in found[:3]]
    assert all(t is not None and t.microsecond == 0 for t in ticks)
    assert [(b - a).total_seconds() for a, b in itertools.pairwise(ticks)] == [1.0, 1.0]  # type: ignore[operator]
    first = found[0]
    assert (first.trigger.kind, first.trigger.id, first.created_by) == ("schedule", "tick", "trigger:tick")
    assert parse_iso(json.loads(first.parameters_json)["when"]) == ticks[0]
    queued = (await engine.events(first.id))[0]
    assert queued.data["trigger"]["kind"] == "schedule" and queued.data["trigger"]["id"] == "tick"
    assert len(await runs_of(engine, name, "tick")) == len(await runs_of(engine, name, "schedule")) >= 3
    assert await runs_of(engine, name, "manual") == []


async def test_overlap_skip_fires_no_second_run_while_the_first_runs(engine: Replica) -> None:
    definition = triggered([{"id": "tick", "schedule": {"every": "1s"}}], seconds=2.5)
    await engine.apply(definition)
    name = definition["metadata"]["name"]
    await wait_runs(engine, name, 1)
    await asyncio.sleep(2.0)
    found = await runs_of(engine, name)
    assert len(found) == 1
    assert "skipped" in (await state_of(engine, name, "tick")).last_error
    await engine.wait(found[0].id)
    await wait_runs(engine, name, 2)  # the next tick after it ended fires again


async def test_overlap_queue_queues_and_allow_runs_side_by_side(engine: Replica) -> None:
    queue = triggered([{"id": "tick", "schedule": {"every": "1s"}, "overlap": "queue"}], seconds=5.0)
    allow = triggered([{"id": "tick", "schedule": {"every": "1s"}, "overlap": "allow"}], seconds=5.0)
    await engine.apply(queue)
    await engine.apply(allow)
    queued = await wait_runs(engine, queue["metadata"]["name"], 3)
    allowed = await wait_runs(engine, allow["metadata"]["name"], 3)
    for name in (queue["metadata"]["name"], allow["metadata"]["name"]):
        await engine.storage.ArchiveWorkflow(storage_pb2.ArchiveWorkflowRequest(name=name, actor="t"))
    states = {r.id: RunState.from_number((await engine.storage.GetRun(storage_pb2.GetRunRequest(id=r.id))).state)
              for r in [*queued, *allowed]}
    assert queued[2].concurrency.key == f"trigger:{queue['metadata']['name']}/tick"
    assert [states[r.id] for r in queued[:3]].count(RunState.RUNNING) == 1
    assert states[queued[2].id] == RunState.QUEUED
    assert [states[r.id] for r in allowed[:3]].count(RunState.RUNNING) >= 2
    for run in [*queued, *allowed]:  # stop them, so they do not outlive the test
        with contextlib.suppress(OwnerUnreachable, ControlRefused):
            await engine.controls.apply(run.id, ControlAction.CANCEL, "t")


@pytest.mark.parametrize(("catchup", "runs"), [("latest", 1), ("none", 0)])
async def test_catchup_after_downtime_fires_one_run_for_the_missed_ticks_or_none(
        engine: Replica, catchup: str, runs: int) -> None:
    definition = triggered([{"id": "yearly", "schedule": {"cron": "0 3 1 1 *", "timezone": "UTC"},
                             "catchup": catchup, "parameters": {"when": "${{ trigger.scheduled_at }}"}}])
    name = definition["metadata"]["name"]
    await engine.apply(definition)
    async with asyncio.timeout(10):
        while not (state := await state_of_or_none(engine, name, "yearly")) or not state.digest:
            await asyncio.sleep(0.1)
    # As if the engines were down since 2023: the schedule still waits for 2024-01-01 03:00.
    moved = await engine.storage.AdvanceTrigger(storage_pb2.TriggerAdvance(
        workflow=name, trigger_id="yearly", compare=True, expected_digest=state.digest,
        expected_next_fire_at=state.next_fire_at, digest=state.digest,
        next_fire_at=to_timestamp(datetime(2024, 1, 1, 3, tzinfo=UTC))))
    assert moved.advanced
    async with asyncio.timeout(10):
        while from_timestamp((await state_of(engine, name, "yearly")).next_fire_at).year < 2027:  # type: ignore[union-attr]
            await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)
    found = await runs_of(engine, name)
    assert len(found) == runs
    now = datetime.now(UTC)
    if runs:
        assert from_timestamp(found[0].trigger.at) == datetime(now.year, 1, 1, 3, tzinfo=UTC)
    else:
        assert "missed" in (await state_of(engine, name, "yearly")).last_error


async def state_of_or_none(engine: Replica, workflow: str, trigger_id: str) -> storage_pb2.TriggerState | None:
    states = await engine.storage.ListTriggerStates(storage_pb2.ListTriggerStatesRequest(workflow=workflow))
    return next((s for s in states.states if s.trigger_id == trigger_id), None)


async def test_a_paused_schedule_does_not_fire_and_resumes_from_now(engine: Replica) -> None:
    definition = triggered([{"id": "tick", "schedule": {"every": "1s"}}])
    name = definition["metadata"]["name"]
    await engine.apply(definition)
    await wait_runs(engine, name, 1)
    await engine.storage.PauseTrigger(storage_pb2.PauseTriggerRequest(workflow=name, trigger_id="tick", paused=True,
                                                                      actor="ops"))
    await asyncio.sleep(0.6)
    before = len(await runs_of(engine, name))
    await asyncio.sleep(2.0)
    assert len(await runs_of(engine, name)) == before
    listed = await engine.service.ListTriggers(engine_pb2.ListTriggersRequest(workflow=name), None)
    assert listed.triggers[0].state.paused and not listed.triggers[0].HasField("next_fire_at")
    await engine.storage.PauseTrigger(storage_pb2.PauseTriggerRequest(workflow=name, trigger_id="tick", paused=False,
                                                                      actor="ops"))
    await wait_runs(engine, name, before + 1)


async def test_saving_a_version_replaces_the_triggers_and_archiving_stops_them(engine: Replica) -> None:
    definition = triggered([{"id": "tick", "schedule": {"every": "1s"}}])
    name = definition["metadata"]["name"]
    await engine.apply(definition)
    await wait_runs(engine, name, 1)
    await engine.apply(triggered([{"id": "tock", "schedule": {"cron": "0 3 1 1 *"}}], name=name))
    listed = await engine.service.ListTriggers(engine_pb2.ListTriggersRequest(workflow=name), None)
    assert [t.id for t in listed.triggers] == ["tock"]
    assert from_timestamp(listed.triggers[0].next_fire_at).month == 1  # type: ignore[union-attr]
    await asyncio.sleep(0.6)
    count = len(await runs_of(engine, name))
    await asyncio.sleep(1.5)
    assert len(await runs_of(engine, name)) == count
    await engine.apply(triggered([{"id": "tick", "schedule": {"every": "1s"}}], name=name))
    await wait_runs(engine, name, count + 1)
    await engine.storage.ArchiveWorkflow(storage_pb2.ArchiveWorkflowRequest(name=name, actor="t"))
    await asyncio.sleep(0.6)
    count = len(await runs_of(engine, name))
    await asyncio.sleep(1.5)
    assert len(await runs_of(engine, name)) == count


async def test_a_completion_trigger_chain_a_to_b_passes_the_finished_run(engine: Replica) -> None:
    upstream = triggered([], name=f"build-{next(_names)}")
    del upstream["spec"]["triggers"]
    downstream = triggered([{"id": "after-build", "on_run": {"workflow": upstream["metadata"]["name"],
                                                             "states": ["succeeded"]},
                             "parameters": {"upstream": "${{ trigger.run.id }}", "state": "${{ trigger.run.state }}",
                                            "part": "${{ trigger.run.parameters.part }}"}}])
    await engine.apply(upstream)
    await engine.apply(downstream)
    first = await engine.start(upstream["metadata"]["name"], {"part": "minor"})
    await engine.wait(first)
    [chained] = await wait_runs(engine, downstream["metadata"]["name"], 1)
    assert (chained.trigger.kind, chained.trigger.id, chained.trigger.run_id) == ("on_run", "after-build", first)
    assert json.loads(chained.parameters_json) == {"upstream": first, "state": "succeeded", "part": "minor"}
    done = await engine.wait(chained.id)
    assert done.state == "succeeded"
    state = await state_of(engine, downstream["metadata"]["name"], "after-build")
    assert state.last_run_id == chained.id and state.last_error == ""


async def test_a_completion_loop_is_a_validation_error(engine: Replica) -> None:
    a_name, b_name = f"loop-a-{next(_names)}", f"loop-b-{next(_names)}"
    await engine.apply(triggered([{"id": "after-b", "on_run": {"workflow": b_name}}], name=a_name))
    closing = triggered([{"id": "after-a", "on_run": {"workflow": a_name}}], name=b_name)
    result = await engine.service.ValidateWorkflow(
        engine_pb2.ValidateWorkflowRequest(definition_json=json.dumps(closing)), None)
    assert not result.valid
    assert [(e.pointer, e.message) for e in result.errors] == [
        ("/spec/triggers/0/on_run/workflow", f"completion triggers loop: {a_name} → {b_name} → {a_name}")]


async def test_list_triggers_of_an_unknown_workflow_is_not_found(engine: Replica) -> None:
    from vwmp_common.clients import engine_client

    client = engine_client(f"127.0.0.1:{engine.engine.port}")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await client.ListTriggers(engine_pb2.ListTriggersRequest(workflow="no-such-workflow"))
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND


async def test_a_completion_trigger_fires_only_for_its_states_and_once_per_finished_run(engine: Replica) -> None:
    upstream = triggered([], name=f"flaky-{next(_names)}")
    upstream["spec"]["steps"] = [{"id": "bad", "uses": "testkit/fail", "with": {"message": "no way"}}]
    del upstream["spec"]["triggers"]
    source = upstream["metadata"]["name"]
    on_success = triggered([{"id": "ok", "on_run": {"workflow": source}}])
    on_failure = triggered([{"id": "broken", "on_run": {"workflow": source, "states": ["failed", "cancelled"]},
                             "parameters": {"state": "${{ trigger.run.state }}"}}])
    for definition in (upstream, on_success, on_failure):
        await engine.apply(definition)
    failed = await engine.start(source)
    assert (await engine.wait(failed)).state == "failed"
    [alerted] = await wait_runs(engine, on_failure["metadata"]["name"], 1)
    assert json.loads(alerted.parameters_json) == {"state": "failed"}
    await asyncio.sleep(1.0)
    assert await runs_of(engine, on_success["metadata"]["name"]) == []
    assert len(await runs_of(engine, on_failure["metadata"]["name"])) == 1
