"""Sub-workflows (`uses: workflow/<name>`) through real storage, NATS and plugin host processes."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import pytest
from vwmp_common.clients import storage_client
from vwmp_common.ports import free_port
from vwmp_common.states import ControlAction, RunState
from vwmp_engine import Engine
from vwmp_engine.store import Run
from vwmp_engine.sub_workflows import SubWorkflows
from vwmp_proto.engine.v1 import engine_pb2
from vwmp_proto.storage.v1 import storage_pb2

from .conftest import Replica, Services, engine_settings, replica

_names = itertools.count()


def workflow(*steps: dict[str, Any], name: str | None = None, parameters: dict[str, Any] | None = None,
             **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"steps": list(steps), **spec}
    if parameters:
        body["parameters"] = parameters
    return {"apiVersion": "vwmp/v1", "kind": "Workflow", "metadata": {"name": name or f"sub-{next(_names)}"},
            "spec": body}


def call(step_id: str, child: dict[str, Any], **config: Any) -> dict[str, Any]:
    return {"id": step_id, "uses": f"workflow/{child['metadata']['name']}", "with": config}


WHO = {"type": "object", "required": ["who"], "properties": {"who": {"type": "string"}}}


async def children(engine: Replica, run_id: str, step_id: str = "") -> list[storage_pb2.Run]:
    response = await engine.storage.ListRuns(storage_pb2.ListRunsRequest(parent_run_id=run_id,
                                                                         parent_step_id=step_id))
    return list(response.runs)


async def one_child(engine: Replica, run_id: str, step_id: str, timeout: float = 20.0) -> storage_pb2.Run:
    async with asyncio.timeout(timeout):
        while not (found := await children(engine, run_id, step_id)):
            await asyncio.sleep(0.05)
    assert len(found) == 1, [run.id for run in found]
    return found[0]


def step_of(run: Any, step_id: str) -> Any:
    return next(step for step in run.steps if step.id == step_id)


async def control(engine: Replica, run_id: str, action: ControlAction) -> None:
    await engine.controls.apply(run_id, action, "tester")


async def applied(engine: Replica, *definitions: dict[str, Any]) -> None:
    for definition in definitions:
        await engine.apply(definition)


# ----- running a child ----------------------------------------------------------------------------------


async def test_a_sub_workflow_step_runs_a_child_run_and_its_outputs_name_the_child(engine) -> None:
    child = workflow({"id": "echo", "uses": "testkit/echo", "with": {"value": "${{ params.who }}"}},
                     parameters=WHO, outputs={"value": "${{ steps.echo.outputs.value }}"})
    parent = workflow(call("publish", child, parameters={"who": "${{ params.who }}"}),
                      {"id": "after", "uses": "core/noop", "needs": ["publish"]}, parameters=WHO)
    await applied(engine, child, parent)
    run_id = await engine.start(parent["metadata"]["name"], {"who": "Ada"})
    run = await engine.wait(run_id)
    assert run.state == "succeeded", [(s.id, s.error) for s in run.steps]
    kid = await one_child(engine, run_id, "publish")
    assert RunState.from_number(kid.state) == "succeeded"
    assert (kid.parent.run_id, kid.parent.step_id, kid.depth) == (run_id, "publish", 1)
    assert kid.workflow == child["metadata"]["name"] and kid.version == 1
    assert json.loads(kid.parameters_json) == {"who": "Ada"}
    assert kid.created_by == "tester" and not kid.dry_run
    outputs = json.loads(step_of(run, "publish").outputs_json)
    assert outputs == {**json.loads(kid.outputs_json or "{}"), "child_run_id": kid.id}


async def test_the_step_ends_promptly_once_its_child_ends(engine) -> None:
    child = workflow({"id": "nap", "uses": "core/sleep", "with": {"seconds": 0.5}})
    parent = workflow(call("publish", child))
    await applied(engine, child, parent)
    run = await engine.wait(await engine.start(parent["metadata"]["name"]))
    kid = await one_child(engine, run.id, "publish")
    child_ended = next(e.at for e in await engine.events(kid.id) if e.type == "run.succeeded")
    step_ended = next(e.at for e in await engine.events(run.id) if e.type == "step.succeeded")
    assert child_ended and step_ended and (step_ended - child_ended).total_seconds() < 1.0  # an event, not the 5 s poll


async def test_the_step_outputs_are_the_child_workflows_outputs(engine) -> None:
    child = workflow({"id": "echo", "uses": "testkit/echo", "with": {"value": "${{ params.who }}"}},
                     parameters=WHO, outputs={"value": "${{ steps.echo.outputs.value }}"})
    parent = workflow(call("publish", child, parameters={"who": "Ada"}),
                      {"id": "use", "uses": "testkit/echo", "needs": ["publish"],
                       "with": {"value": "got ${{ steps.publish.outputs.value }}"}})
    await applied(engine, child, parent)
    run = await engine.wait(await engine.start(parent["metadata"]["name"]))
    assert json.loads(step_of(run, "publish").outputs_json)["value"] == "Ada"
    assert json.loads(step_of(run, "use").outputs_json) == {"value": "got Ada"}


async def test_a_child_inherits_dry_run_and_the_starter_and_is_pinned_to_a_version(engine) -> None:
    child = workflow({"id": "one", "uses": "core/noop"})
    await engine.apply(child)
    changed = json.loads(json.dumps(child))
    changed["spec"]["steps"] = [{"id": "two", "uses": "core/noop"}]
    await engine.apply(changed)  # version 2 is the latest now
    parent = workflow(call("pinned", child, version=1), call("latest", child))
    await engine.apply(parent)
    run = await engine.wait(await engine.start(parent["metadata"]["name"], dry_run=True))
    assert run.state == "succeeded"
    pinned, latest = await one_child(engine, run.id, "pinned"), await one_child(engine, run.id, "latest")
    assert (pinned.version, [s.id for s in pinned.steps]) == (1, ["one"])
    assert (latest.version, [s.id for s in latest.steps]) == (2, ["two"])
    assert pinned.dry_run and latest.dry_run and pinned.created_by == latest.created_by == "tester"


@pytest.mark.parametrize(("config", "error"), [
    ({"parameters": {"who": 3}}, "with.parameters/who: 3 is not of type 'string'"),
    ({"parameters": {}}, "with.parameters/who: who is required"),
    ({"parameters": "${{ params.nothing_there }}"}, "with: "),
    ({"version": 7}, "no workflow 'NAME' version 7"),
    ({"color": "red"}, "with: unknown field 'color'"),
])
async def test_a_call_that_does_not_fit_the_child_fails_the_step_as_config(engine, config, error) -> None:
    child = workflow({"id": "echo", "uses": "testkit/echo", "with": {"value": "${{ params.who }}"}}, parameters=WHO)
    parent = workflow(call("publish", child, **config))
    await applied(engine, child, parent)
    run = await engine.wait(await engine.start(parent["metadata"]["name"]))
    assert run.state == "failed"
    step = step_of(run, "publish")
    assert step.state == "failed" and error.replace("NAME", child["metadata"]["name"]) in step.error, step.error
    failed = [e for e in await engine.events(run.id) if e.type == "step.failed"]
    assert failed[0].data["kind"] == "config"
    assert await children(engine, run.id) == []


@pytest.mark.parametrize("name", ["no-such-workflow", "x" * 100])
async def test_an_unknown_workflow_fails_the_step_as_config(engine, name) -> None:
    parent = workflow({"id": "publish", "uses": f"workflow/{name}"})
    await engine.apply(parent)
    run = await engine.wait(await engine.start(parent["metadata"]["name"]))
    assert step_of(run, "publish").error.startswith(f"no workflow {name!r}")
    failed = [e for e in await engine.events(run.id) if e.type == "step.failed"]
    assert failed[0].data["kind"] == "config"


async def test_nesting_deeper_than_ten_fails_the_deepest_step_as_config(engine) -> None:
    # Stored without validation (which refuses the self-call): the depth limit is the run-time guard.
    deep = workflow({"id": "again", "uses": "workflow/deep"}, name="deep")
    await engine.apply(deep)
    top = await engine.start("deep")
    run = await engine.wait(top, timeout=60)
    assert run.state == "failed"
    chain = [top]
    for _ in range(10):
        chain.append((await one_child(engine, chain[-1], "again")).id)
    deepest = await engine.run(chain[-1])
    assert (await engine.storage.GetRun(storage_pb2.GetRunRequest(id=chain[-1]))).depth == 10
    assert "nesting deeper than 10" in step_of(deepest, "again").error
    assert await children(engine, chain[-1]) == []
    assert chain[1] in step_of(run, "again").error  # each parent names its failed child


# ----- the child's outcome ------------------------------------------------------------------------------


async def test_a_failed_child_fails_the_step_naming_the_child_and_its_failed_steps(engine) -> None:
    child = workflow({"id": "fine", "uses": "core/noop"},
                     {"id": "broken", "uses": "testkit/fail", "with": {"message": "disk full"}})
    parent = workflow(call("publish", child), {"id": "after", "uses": "core/noop", "needs": ["publish"]})
    await applied(engine, child, parent)
    run = await engine.wait(await engine.start(parent["metadata"]["name"]))
    kid = await one_child(engine, run.id, "publish")
    assert run.state == "failed" and RunState.from_number(kid.state) == "failed"
    error = step_of(run, "publish").error
    assert kid.id in error and "broken (disk full)" in error and "fine" not in error
    assert step_of(run, "after").state == "skipped"


async def test_a_child_cancelled_on_its_own_fails_the_step(engine) -> None:
    child = workflow({"id": "nap", "uses": "core/sleep", "with": {"seconds": 60}})
    parent = workflow(call("publish", child))
    await applied(engine, child, parent)
    run_id = await engine.start(parent["metadata"]["name"])
    kid = await one_child(engine, run_id, "publish")
    await engine.wait_step(kid.id, "nap", "running")
    await control(engine, kid.id, ControlAction.CANCEL)
    run = await engine.wait(run_id, timeout=10)
    assert run.state == "failed"
    assert step_of(run, "publish").error == f"child run {kid.id} ({kid.workflow} v1) was cancelled"


@pytest.mark.parametrize("timeout", ["step", "run"])
async def test_a_timeout_of_the_step_or_the_parent_run_cancels_the_child(engine, timeout) -> None:
    child = workflow({"id": "nap", "uses": "core/sleep", "with": {"seconds": 60}})
    step = call("publish", child)
    parent = workflow({**step, "timeout": "1s"}) if timeout == "step" else workflow(step, timeout="1s")
    await applied(engine, child, parent)
    run = await engine.wait(await engine.start(parent["metadata"]["name"]), timeout=10)
    kid = await engine.wait((await one_child(engine, run.id, "publish")).id, timeout=5)
    assert run.state == "failed" and kid.state == "cancelled"
    assert step_of(kid, "nap").state == "cancelled"
    if timeout == "step":
        assert step_of(run, "publish").error.startswith("timed out after 1s")


class SlowToAnswer(SubWorkflows):
    """Storage has created the child, but the answer takes a while to come back."""

    async def _start(self, *args: Any) -> Run:
        created = await super()._start(*args)
        await asyncio.sleep(0.5)
        return created


async def test_a_timeout_while_the_child_is_being_created_leaves_no_child_running(engine) -> None:
    child = workflow({"id": "nap", "uses": "core/sleep", "with": {"seconds": 60}})
    parent = workflow({**call("publish", child), "timeout": "200ms"})
    await applied(engine, child, parent)
    real = engine.engine.runtime.sub_workflows
    assert real is not None
    engine.engine.runtime.sub_workflows = SlowToAnswer(real.runtime, real.nats, real.controls, real.wake)
    try:
        run = await engine.wait(await engine.start(parent["metadata"]["name"]), timeout=10)
    finally:
        engine.engine.runtime.sub_workflows = real
    assert step_of(run, "publish").error.startswith("timed out after 0.2s")
    kid = await one_child(engine, run.id, "publish")
    assert (await engine.wait(kid.id, timeout=5)).state == "cancelled"


async def test_an_approval_gate_shows_a_sub_workflow_after_it_in_its_plan(engine) -> None:
    child = workflow({"id": "one", "uses": "core/noop"})
    parent = workflow({"id": "gate", "uses": "core/approval"}, {**call("publish", child), "needs": ["gate"]})
    await applied(engine, child, parent)
    run_id = await engine.start(parent["metadata"]["name"])
    await engine.wait_step(run_id, "gate", "awaiting_approval", timeout=5)
    assert (await engine.gate(run_id))["plan"] == [
        {"action": "run", "target": f"workflow {child['metadata']['name']}", "diff": None, "step": "publish",
         "note": "starts a child run of this workflow"}]
    await control(engine, run_id, ControlAction.CANCEL)


# ----- controls of the parent reach the child ----------------------------------------------------------


async def test_cancelling_the_parent_cancels_its_running_child(engine) -> None:
    child = workflow({"id": "nap", "uses": "core/sleep", "with": {"seconds": 60}})
    parent = workflow(call("publish", child))
    await applied(engine, child, parent)
    run_id = await engine.start(parent["metadata"]["name"])
    kid = await one_child(engine, run_id, "publish")
    await engine.wait_step(kid.id, "nap", "running")
    await control(engine, run_id, ControlAction.CANCEL)
    run, kid_run = await engine.wait(run_id, timeout=5), await engine.wait(kid.id, timeout=5)
    assert (run.state, step_of(run, "publish").state) == ("cancelled", "cancelled")
    assert (kid_run.state, step_of(kid_run, "nap").state) == ("cancelled", "cancelled")


async def test_pausing_and_resuming_the_parent_pauses_and_resumes_its_child(engine) -> None:
    child = workflow({"id": "nap", "uses": "core/sleep", "with": {"seconds": 1}},
                     {"id": "after", "uses": "core/noop", "needs": ["nap"]})
    parent = workflow(call("publish", child))
    await applied(engine, child, parent)
    run_id = await engine.start(parent["metadata"]["name"])
    kid = await one_child(engine, run_id, "publish")
    await engine.wait_step(kid.id, "nap", "running")
    await control(engine, run_id, ControlAction.PAUSE)
    assert (await engine.run(run_id)).state == "paused"
    assert (await engine.run(kid.id)).state == "paused"
    await engine.wait_step(kid.id, "nap", "succeeded", timeout=5)
    await asyncio.sleep(0.3)
    assert step_of(await engine.run(kid.id), "after").state == "pending"  # the paused child dispatches nothing
    await control(engine, run_id, ControlAction.RESUME)
    run = await engine.wait(run_id, timeout=10)
    assert run.state == "succeeded" and (await engine.run(kid.id)).state == "succeeded"
    kid_events = [e.type for e in await engine.events(kid.id)]
    assert "run.paused" in kid_events and "run.resumed" in kid_events


async def test_retrying_the_parent_retries_its_existing_child_from_its_failure(engine) -> None:
    journal = f"journal-{free_port()}.txt"
    child = workflow({"id": "first", "uses": "core/noop"},
                     {"id": "flaky", "uses": "testkit/flaky", "needs": ["first"],
                      "with": {"succeed_on": 2, "journal": journal}})
    parent = workflow(call("publish", child))
    await applied(engine, child, parent)
    run = await engine.wait(await engine.start(parent["metadata"]["name"]))
    assert run.state == "failed"
    kid = await one_child(engine, run.id, "publish")
    await control(engine, run.id, ControlAction.RETRY)
    run = await engine.wait(run.id, states={"succeeded"}, timeout=20)
    again = await one_child(engine, run.id, "publish")  # the same child, no second one
    assert again.id == kid.id and RunState.from_number(again.state) == "succeeded"
    kid_run = await engine.run(kid.id)
    assert {s.id: s.attempt for s in kid_run.steps} == {"first": 1, "flaky": 2}  # only the failure ran again
    assert json.loads(step_of(run, "publish").outputs_json)["child_run_id"] == kid.id


async def test_a_retry_policy_on_the_step_retries_the_same_child(engine) -> None:
    journal = f"journal-{free_port()}.txt"
    child = workflow({"id": "flaky", "uses": "testkit/flaky", "with": {"succeed_on": 2, "journal": journal}})
    parent = workflow({**call("publish", child), "retry": {"max_attempts": 2, "initial_interval": "10ms"}})
    await applied(engine, child, parent)
    run = await engine.wait(await engine.start(parent["metadata"]["name"]))
    assert run.state == "succeeded", step_of(run, "publish").error
    kid = await one_child(engine, run.id, "publish")
    assert step_of(run, "publish").attempt == 2
    assert step_of(await engine.run(kid.id), "flaky").attempt == 2


async def test_a_taken_over_parent_waits_for_the_child_it_has(services: Services, nats_server: str) -> None:
    child = workflow({"id": "nap", "uses": "core/sleep", "with": {"seconds": 1.5}})
    parent = workflow(call("publish", child), {"id": "after", "uses": "core/noop", "needs": ["publish"]})
    async with replica(services, nats_server, owner=f"first-{free_port()}", lease_seconds=1.5) as first:
        await applied(first, child, parent)
        run_id = await first.start(parent["metadata"]["name"])
        kid = await one_child(first, run_id, "publish")
        await first.wait_step(kid.id, "nap", "running")
    # The first replica stopped without cancelling anything: the second takes both runs over.
    async with replica(services, nats_server, owner=f"second-{free_port()}", lease_seconds=1.5) as second:
        run = await second.wait(run_id, timeout=30)
        assert run.state == "succeeded", [(s.id, s.error) for s in run.steps]
        assert [c.id for c in await children(second, run_id)] == [kid.id]
        assert step_of(run, "publish").attempt == 2  # dispatched again; it found its child instead of a new one
        assert json.loads(step_of(run, "publish").outputs_json)["child_run_id"] == kid.id


async def test_a_child_whose_engine_died_is_cancelled_once_another_engine_takes_it_over(
        services: Services, nats_server: str) -> None:
    child = workflow({"id": "nap", "uses": "core/sleep", "with": {"seconds": 60}})
    parent = workflow(call("publish", child))
    one_run = engine_settings(services, nats_server, f"full-{free_port()}", lease_seconds=1.5).model_copy(
        update={"engine_max_runs": 1})  # holds the parent only: another engine must take the child
    async with Engine(one_run) as engine:
        keeper = Replica(engine, storage_client(services.storage_target))
        await applied(keeper, child, parent)
        run_id = await keeper.start(parent["metadata"]["name"])
        await keeper.wait(run_id, states={"running"})
        async with replica(services, nats_server, owner=f"doomed-{free_port()}", lease_seconds=1.5) as doomed:
            kid = await one_child(keeper, run_id, "publish")
            await doomed.wait_step(kid.id, "nap", "running")
            assert doomed.keeper.executor(kid.id) is not None
        # The child's engine is gone (its lease runs out); the parent's cancel cannot reach the child now.
        await control(keeper, run_id, ControlAction.CANCEL)
        assert (await keeper.run(run_id)).state == "cancelled"
        kid_run = await keeper.wait(kid.id, timeout=20)  # taken over by the one engine left, then cancelled
        assert kid_run.state == "cancelled"
        by = next(e.data["by"] for e in await keeper.events(kid.id) if e.type == "run.cancelled")
        assert by == f"parent {run_id}"


async def test_a_for_each_of_sub_workflows_runs_one_child_per_item(engine) -> None:
    child = workflow({"id": "echo", "uses": "testkit/echo", "with": {"value": "${{ params.who }}"}}, parameters=WHO)
    parent = workflow({**call("publish", child, parameters={"who": "${{ item }}"}), "for_each": ["a", "b", "c"]})
    await applied(engine, child, parent)
    run = await engine.wait(await engine.start(parent["metadata"]["name"]))
    assert run.state == "succeeded", [(s.id, s.error) for s in run.steps]
    kids = {kid.parent.step_id: kid for kid in await children(engine, run.id)}
    assert sorted(kids) == ["publish[0]", "publish[1]", "publish[2]"]
    assert [json.loads(kids[f"publish[{i}]"].parameters_json)["who"] for i in range(3)] == ["a", "b", "c"]
    for index in range(3):
        outputs = json.loads(step_of(run, f"publish[{index}]").outputs_json)
        assert outputs["child_run_id"] == kids[f"publish[{index}]"].id


async def test_retrying_a_for_each_of_sub_workflows_retries_each_failed_child(engine) -> None:
    journal = f"journal-{free_port()}.txt"
    child = workflow({"id": "flaky", "uses": "testkit/flaky", "with": {"succeed_on": 2, "journal": journal}},
                     parameters=WHO)
    parent = workflow({**call("publish", child, parameters={"who": "${{ item }}"}), "for_each": ["a", "b"]})
    await applied(engine, child, parent)
    assert await validate(engine, parent) == {}
    run = await engine.wait(await engine.start(parent["metadata"]["name"]))
    assert run.state == "failed"
    first = {kid.parent.step_id: kid.id for kid in await children(engine, run.id)}
    assert sorted(first) == ["publish[0]", "publish[1]"]
    await control(engine, run.id, ControlAction.RETRY)
    run = await engine.wait(run.id, states={"succeeded"}, timeout=20)
    assert {kid.parent.step_id: kid.id for kid in await children(engine, run.id)} == first
    for kid_id in first.values():
        kid = await engine.run(kid_id)
        assert kid.state == "succeeded" and step_of(kid, "flaky").attempt == 2


# ----- validation and the palette ------------------------------------------------------------------------


async def validate(engine: Replica, definition: dict[str, Any]) -> dict[str, str]:
    response = await engine.service.ValidateWorkflow(
        engine_pb2.ValidateWorkflowRequest(definition_json=json.dumps(definition)), None)
    return {error.pointer: error.message for error in response.errors}


async def test_a_call_cycle_is_a_validation_error_at_the_uses_with_its_path(engine) -> None:
    suffix = next(_names)
    a, b, c = (f"cyc-a-{suffix}", f"cyc-b-{suffix}", f"cyc-c-{suffix}")
    await engine.apply(workflow({"id": "x", "uses": "core/noop"}, name=a))  # a, before it called b
    await engine.apply(workflow({"id": "call-a", "uses": f"workflow/{a}"}, name=b))
    await engine.apply(workflow({"id": "call-b", "uses": f"workflow/{b}"}, name=c))
    new_a = workflow({"id": "fine", "uses": "core/noop"}, {"id": "call-c", "uses": f"workflow/{c}"}, name=a)
    assert await validate(engine, new_a) == {"/spec/steps/1/uses": f"call cycle: {a} → {c} → {b} → {a}"}
    itself = workflow({"id": "me", "uses": f"workflow/{a}"}, name=a)
    assert await validate(engine, itself) == {"/spec/steps/0/uses": f"call cycle: {a} → {a}"}
    # b calls a's stored version 1 (no call): a pinned call is no cycle.
    pinned = workflow({"id": "call-a", "uses": f"workflow/{a}", "with": {"version": 1}}, name=b)
    assert await validate(engine, pinned) == {}


async def test_a_cycle_further_down_is_reported_at_the_step_that_leads_into_it(engine) -> None:
    suffix = next(_names)
    b, c = f"down-b-{suffix}", f"down-c-{suffix}"
    await engine.apply(workflow({"id": "call-c", "uses": f"workflow/{c}"}, name=b))  # stored unchecked: b → c → b
    await engine.apply(workflow({"id": "call-b", "uses": f"workflow/{b}"}, name=c))
    top = workflow({"id": "go", "uses": f"workflow/{b}"}, name=f"down-a-{suffix}")
    assert await validate(engine, top) == {"/spec/steps/0/uses": f"call cycle: down-a-{suffix} → {b} → {c} → {b}"}


async def test_sub_workflow_calls_are_validated_with_pointers(engine) -> None:
    child = workflow({"id": "echo", "uses": "testkit/echo", "with": {"value": "${{ params.who }}"}}, parameters=WHO,
                     outputs={"value": "${{ steps.echo.outputs.value }}"})
    await engine.apply(child)
    name = child["metadata"]["name"]
    parent = workflow(
        {"id": "good", "uses": f"workflow/{name}", "with": {"parameters": {"who": "${{ params.who }}"}}},
        {"id": "typed", "uses": f"workflow/{name}", "with": {"parameters": {"who": 3}}},
        {"id": "missing", "uses": f"workflow/{name}"},
        {"id": "extra", "uses": f"workflow/{name}", "with": {"parameters": {"who": "x"}, "colour": "red"}},
        {"id": "version", "uses": f"workflow/{name}", "with": {"version": 9, "parameters": {"who": "x"}}},
        {"id": "unknown", "uses": "workflow/nowhere-to-be-found"},
        {"id": "use", "uses": "testkit/echo", "needs": ["good"],
         "with": {"value": "${{ steps.good.outputs.value }} ${{ steps.good.outputs.child_run_id }}"}},
        {"id": "wrong", "uses": "testkit/echo", "needs": ["good"], "with": {"value": "${{ steps.good.outputs.nope }}"}},
        parameters={"type": "object", "properties": {"who": {"type": "string"}}},
    )
    assert await validate(engine, parent) == {
        "/spec/steps/1/with/parameters/who": "3 is not of type 'string'",
        "/spec/steps/2/with/parameters/who": "who is required",
        "/spec/steps/3/with/colour": "unknown field 'colour'",
        "/spec/steps/4/with/version": f"workflow {name!r} has no version 9",
        "/spec/steps/5/uses": "unknown workflow 'nowhere-to-be-found'",
        "/spec/steps/7/with/value": f"steps.good.outputs.nope: workflow/{name} has no output 'nope' "
                                    "(outputs: child_run_id, value)",
    }


async def test_hostile_sub_workflow_configs_get_pointed_errors(engine) -> None:
    child = workflow({"id": "one", "uses": "core/noop"})
    await engine.apply(child)
    uses = f"workflow/{child['metadata']['name']}"
    parent = workflow(
        {"id": "text", "uses": uses, "with": {"version": "latest"}},
        {"id": "zero", "uses": uses, "with": {"version": 0}},
        {"id": "listed", "uses": uses, "with": {"parameters": [1]}},
        {"id": "shouted", "uses": "workflow/NOT-A-NAME"},
        {"id": "long", "uses": "workflow/" + "x" * 300},
    )
    response = await engine.service.ValidateWorkflow(
        engine_pb2.ValidateWorkflowRequest(definition_json=json.dumps(parent)), None)
    assert sorted((error.pointer, error.message) for error in response.errors) == [
        ("/spec/steps/0/with/version", "'latest' is not of type 'integer'"),
        ("/spec/steps/1/with/version", "0 is less than the minimum of 1"),
        ("/spec/steps/2/with/parameters", "[1] is not of type 'object'"),
        ("/spec/steps/3/uses", "'workflow/NOT-A-NAME' does not match '^[a-z0-9][a-z0-9_-]*/[a-z0-9][a-z0-9._-]*$'"),
        ("/spec/steps/3/uses", "unknown workflow 'NOT-A-NAME'"),
        ("/spec/steps/4/uses", f"unknown workflow {'x' * 300!r}"),
    ]


@pytest.mark.parametrize(("config", "error"), [
    ({"version": "3"}, "with.version: '3' is not a version number"),
    ({"version": True}, "with.version: true is not a version number"),
    ({"parameters": "who=Ada"}, "with.parameters: 'who=Ada' is not an object"),
    ({"parameters": {}, "as": "x"}, "with: unknown field 'as' (a sub-workflow takes version and parameters)"),
])
def test_a_rendered_call_that_is_not_version_and_parameters_is_a_config_failure(config, error) -> None:
    from vwmp_engine.plugin_calls import StepFailed
    from vwmp_engine.sub_workflows import _call_of

    with pytest.raises(StepFailed) as failed:
        _call_of(config)
    assert (failed.value.kind, failed.value.message) == ("config", error)
    assert _call_of({"version": 2, "parameters": {"a": 1}}) == (2, {"a": 1})


async def test_the_palette_offers_every_stored_workflow_as_a_step_type(engine) -> None:
    child = workflow({"id": "echo", "uses": "testkit/echo", "with": {"value": "${{ params.who }}"}}, parameters=WHO,
                     outputs={"value": "${{ steps.echo.outputs.value }}"})
    await engine.apply(child)
    response = await engine.service.ListStepTypes(engine_pb2.ListStepTypesRequest(), None)
    offered = {item.type: item for item in response.step_types}
    info = offered[f"workflow/{child['metadata']['name']}"]
    config = json.loads(info.config_schema_json)
    assert config["properties"]["parameters"]["properties"] == WHO["properties"]
    assert config["properties"]["version"]["type"] == "integer" and config["required"] == ["parameters"]
    assert set(json.loads(info.outputs_schema_json)["properties"]) == {"value", "child_run_id"}
    assert info.plugin == "workflow" and "hello/greet" in offered and "core/noop" in offered
