"""spec.concurrency: validated with pointers, evaluated at start, enforced by storage, shown on runs and events."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import pytest
from vwmp_common.states import ControlAction
from vwmp_engine.core_steps import CORE_STEP_TYPES
from vwmp_engine.validation import validate_definition
from vwmp_proto.engine.v1 import engine_pb2
from vwmp_proto.storage.v1 import storage_pb2

_names = itertools.count()
REPO = {"type": "object", "required": ["repo"], "properties": {"repo": {"type": "string"}, "tag": {"type": "string"}}}


def keyed(concurrency: dict[str, Any], seconds: float = 0.3) -> dict[str, Any]:
    return {"apiVersion": "vwmp/v1", "kind": "Workflow", "metadata": {"name": f"keyed-{next(_names)}"},
            "spec": {"parameters": REPO, "concurrency": concurrency,
                     "steps": [{"id": "work", "uses": "core/sleep", "with": {"seconds": seconds}},
                               {"id": "after", "uses": "core/noop", "needs": ["work"]}]}}


def problems(concurrency: Any) -> dict[str, str]:
    definition = keyed(concurrency)
    return {p.pointer: p.message for p in validate_definition(definition, CORE_STEP_TYPES.get)}


def test_a_good_concurrency_has_no_problems() -> None:
    assert problems({"key": "release:${{ params.repo }}:${{ run.workflow }}", "limit": 2,
                     "on_conflict": "cancel_pending"}) == {}
    assert problems({"key": "release:${{ run.created_by }}-${{ run.dry_run }}-${{ run.version }}"}) == {}


@pytest.mark.parametrize(("concurrency", "where", "says"), [
    ({"key": "k", "limit": 0}, "/spec/concurrency/limit", "less than the minimum of 1"),
    ({"key": "k", "limit": "one"}, "/spec/concurrency/limit", "is not of type 'integer'"),
    ({"key": "k", "on_conflict": "drop"}, "/spec/concurrency/on_conflict", "is not one of"),
    ({"limit": 1}, "/spec/concurrency/key", "key is required"),
    ({"key": ""}, "/spec/concurrency/key", "should be non-empty"),
    ({"key": "k", "extra": 1}, "/spec/concurrency/extra", "unknown field 'extra'"),
    ({"key": "${{ params.nope }}"}, "/spec/concurrency/key", "parameter 'nope' is not declared"),
    ({"key": "${{ steps.work.outputs.x }}"}, "/spec/concurrency/key", "can only use params and run"),
    ({"key": "${{ secrets.TOKEN }}"}, "/spec/concurrency/key", "can only use params and run"),
    ({"key": "${{ run.id }}"}, "/spec/concurrency/key", "a concurrency key can use run.workflow"),
    ({"key": "${{ params.repo == }}"}, "/spec/concurrency/key", "invalid expression"),
])
def test_bad_concurrency_is_a_problem_pointing_at_the_field(concurrency: Any, where: str, says: str) -> None:
    found = problems(concurrency)
    assert where in found, found
    assert says in found[where]


async def _start(engine: Any, name: str, parameters: dict[str, Any]) -> engine_pb2.StartRunResponse:
    return await engine.service.StartRun(engine_pb2.StartRunRequest(
        workflow=name, parameters_json=json.dumps(parameters), actor="tester"), None)


async def _concurrency(engine: Any, run_id: str) -> storage_pb2.RunConcurrency:
    return (await engine.storage.GetRun(storage_pb2.GetRunRequest(id=run_id))).concurrency


async def test_runs_of_one_key_run_one_after_another_and_other_keys_run_beside(engine) -> None:
    definition = keyed({"key": "release:${{ params.repo }}"})
    await engine.apply(definition)
    name = definition["metadata"]["name"]
    same = [await engine.start(name, {"repo": "a"}) for _ in range(3)]
    other = await engine.start(name, {"repo": "b"})
    third = await _concurrency(engine, same[2])
    assert third.key == "release:a" and third.limit == 1 and third.on_conflict == "queue"
    assert third.position in (1, 2) and list(third.blocked_by) in ([same[0]], [same[1]])
    runs = [await engine.wait(run_id) for run_id in [*same, other]]
    assert [run.state for run in runs] == ["succeeded"] * 4
    spans = []
    for run_id in [*same, other]:
        events = await engine.events(run_id)
        started = next(e for e in events if e.type == "run.started")
        ended = next(e for e in events if e.type == "run.succeeded")
        spans.append((started.at, ended.at))
        assert json.loads(started.data_json)["concurrency"]["key"] in ("release:a", "release:b")
    assert spans[0][1] <= spans[1][0] and spans[1][1] <= spans[2][0]  # one after another, in order
    assert spans[3][0] < spans[0][1]  # the other key did not wait
    queued = json.loads((await engine.events(same[2]))[0].data_json)["concurrency"]
    assert queued["key"] == "release:a" and queued["position"] == 2 and queued["blocked_by"] == [same[0]]
    done = await _concurrency(engine, same[2])
    assert done.position == 0 and list(done.blocked_by) == []


async def test_fail_refuses_a_start_while_the_key_is_held_and_names_the_holder(engine) -> None:
    definition = keyed({"key": "deploy:${{ params.repo }}", "on_conflict": "fail"}, seconds=5)
    await engine.apply(definition)
    name = definition["metadata"]["name"]
    holder = await engine.start(name, {"repo": "a"})
    refused = await _start(engine, name, {"repo": "a"})
    assert not refused.run.id
    assert refused.conflict.key == "deploy:a"
    assert list(refused.conflict.blocked_by) == [holder]
    assert holder in refused.conflict.detail
    other = (await _start(engine, name, {"repo": "b"})).run.id  # another key is free
    assert other
    await engine.controls.apply(holder, ControlAction.CANCEL, "tester")
    assert (await engine.wait(holder)).state == "cancelled"
    after = (await _start(engine, name, {"repo": "a"})).run.id
    assert after
    for run_id in (other, after):
        await engine.wait_step(run_id, "work", "running")  # cancel reaches a run once its executor has it
        await engine.controls.apply(run_id, ControlAction.CANCEL, "tester")
        assert (await engine.wait(run_id)).state == "cancelled"


async def test_cancel_pending_cancels_the_waiting_runs_with_events(engine) -> None:
    definition = keyed({"key": "k:${{ params.repo }}", "on_conflict": "cancel_pending"}, seconds=1)
    await engine.apply(definition)
    name = definition["metadata"]["name"]
    holder = await engine.start(name, {"repo": "a"})
    stale = await engine.start(name, {"repo": "a"})
    newest = await engine.start(name, {"repo": "a"})
    cancelled = await engine.wait(stale, timeout=5)
    assert cancelled.state == "cancelled"
    types = [(e.type, e.step_id, json.loads(e.data_json)) for e in await engine.events(stale)]
    reason = f"superseded by run {newest}"
    assert types[-1] == ("run.cancelled", "", {"by": "tester", "reason": reason})
    assert [t for t, *_ in types] == ["run.queued", "step.cancelled", "step.cancelled", "run.cancelled"]
    assert (await engine.wait(holder)).state == "succeeded"
    assert (await engine.wait(newest)).state == "succeeded"


async def test_cancelling_a_waiting_run_removes_it_from_the_queue(engine) -> None:
    definition = keyed({"key": "q"}, seconds=4)  # a control of a run nobody executes can take 2 s
    await engine.apply(definition)
    name = definition["metadata"]["name"]
    holder, first, second = [await engine.start(name, {"repo": "a"}) for _ in range(3)]
    assert (await _concurrency(engine, second)).position == 2
    await engine.controls.apply(first, ControlAction.CANCEL, "tester")
    assert (await engine.wait(first, timeout=5)).state == "cancelled"
    place = await _concurrency(engine, second)
    assert place.position == 1 and list(place.blocked_by) == [holder]
    assert (await engine.wait(second)).state == "succeeded"


async def test_a_key_that_cannot_be_evaluated_is_a_problem_at_start(engine) -> None:
    definition = keyed({"key": "release:${{ params.tag }}"})
    await engine.apply(definition)
    response = await _start(engine, definition["metadata"]["name"], {"repo": "a"})
    assert not response.run.id
    assert [e.pointer for e in response.errors] == ["/spec/concurrency/key"]
    assert "params.tag" in response.errors[0].message


async def test_a_retried_keyed_run_queues_again_behind_the_holder(engine) -> None:
    definition = keyed({"key": "r"}, seconds=0.1)
    definition["spec"]["steps"][1] = {"id": "after", "uses": "hello/greet", "needs": ["work"],
                                      "with": {"name": "${{ params.tag }}"}}
    await engine.apply(definition)
    name = definition["metadata"]["name"]
    failed = await engine.start(name, {"repo": "a"})  # params.tag is missing: the step fails
    assert (await engine.wait(failed)).state == "failed"
    slow = keyed({"key": "r"}, seconds=4)  # a control of a run nobody executes can take 2 s
    await engine.apply(slow)
    holder = await engine.start(slow["metadata"]["name"], {"repo": "a"})
    await engine.wait_step(holder, "work", "running")
    await engine.controls.apply(failed, ControlAction.RETRY, "tester")
    run = await engine.run(failed)
    assert run.state == "queued"
    place = await _concurrency(engine, failed)
    assert place.position == 1 and list(place.blocked_by) == [holder]
    await asyncio.sleep(0.5)
    assert (await engine.run(failed)).state == "queued"  # still behind the holder
    assert (await engine.wait(holder)).state == "succeeded"
    assert (await engine.wait(failed)).state == "failed"  # ran again, after the holder
    events = await engine.events(failed)
    started = [e for e in events if e.type == "run.started"]
    assert len(started) == 2
    holder_end = next(e for e in await engine.events(holder) if e.type == "run.succeeded")
    assert started[1].at >= holder_end.at
