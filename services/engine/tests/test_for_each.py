"""`for_each` fan-out over real processes: expansion, item scope, limits, fail_fast, controls, takeover.

Validation of the for_each keys is checked at the end, without processes.
"""

from __future__ import annotations

import asyncio
import collections
import json
from pathlib import Path
from typing import Any

from vwmp_common.ports import free_port
from vwmp_common.states import ControlAction, RunState, StepState
from vwmp_engine.definition import StepSpec
from vwmp_engine.fan_out import aggregate_spec
from vwmp_engine.run_state import StepRun, StepsView, final_state
from vwmp_engine.validation import validate_definition
from vwmp_proto.engine.v1 import engine_pb2
from vwmp_proto.storage.v1 import storage_pb2

from .conftest import Services, replica
from .test_runs import workflow
from .test_validation import TYPES
from .test_validation import workflow as definition_of


def journal(services: Services, name: str) -> list[str]:
    path = Path(services.env["VWMP_WORKSPACE_ROOT"]) / name
    return path.read_text().splitlines() if path.exists() else []


async def stored_steps(engine, run_id: str) -> dict[str, storage_pb2.StepRun]:
    run = await engine.storage.GetRun(storage_pb2.GetRunRequest(id=run_id))
    return {step.id: step for step in run.steps}


async def control(engine, run_id: str, action: str) -> None:
    await engine.service.ControlRun(engine_pb2.ControlRunRequest(
        run_id=run_id, action=ControlAction(action).number, actor="op"), None)


async def wait_state(engine, run_id: str, step_id: str, state: str, timeout: float = 10.0) -> None:
    """Until the step (an instance may not be expanded yet) is in `state`."""
    async with asyncio.timeout(timeout):
        while not any(s.id == step_id and s.state == state for s in (await engine.run(run_id)).steps):
            await asyncio.sleep(0.02)


def outputs(step: storage_pb2.StepRun) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(step.outputs_json or "{}")
    return parsed


def max_overlap(lines: list[str]) -> int:
    """The most calls in flight at once, from a testkit/slow journal (start / done / cancelled lines)."""
    running = most = 0
    for line in lines:
        running += 1 if line.startswith("start ") else -1
        most = max(most, running)
    return most


async def test_instances_run_per_item_and_the_steps_outputs_are_their_list_in_order(engine) -> None:
    definition = workflow(
        {"id": "greet", "uses": "hello/greet", "for_each": "${{ params.names }}",
         "with": {"name": "${{ item }} #${{ item_index }}"}},
        {"id": "second", "uses": "testkit/echo", "needs": ["greet"],
         "with": {"value": "${{ steps.greet.outputs[1].greeting }}"}},
        {"id": "again", "uses": "testkit/echo", "needs": ["greet"], "for_each": "${{ steps.greet.outputs }}",
         "with": {"value": "${{ item.greeting }}"}},
        parameters={"type": "object", "properties": {"names": {"type": "array"}}},
    )
    await engine.apply(definition)
    run_id = await engine.start(definition["metadata"]["name"], {"names": ["Ada", "Bob", "Cy"]})
    run = await engine.wait(run_id)
    assert run.state == "succeeded"
    steps = await stored_steps(engine, run_id)
    assert [(s.id, s.parent, s.item_index) for s in steps.values() if s.parent == "greet"] == [
        ("greet[0]", "greet", 0), ("greet[1]", "greet", 1), ("greet[2]", "greet", 2)]
    assert [outputs(steps[f"greet[{i}]"])["greeting"] for i in range(3)] == [
        "Hello, Ada #0!", "Hello, Bob #1!", "Hello, Cy #2!"]
    assert steps["greet"].parent == "" and StepState.from_number(steps["greet"].state) == StepState.SUCCEEDED
    assert outputs(steps["second"]) == {"value": "Hello, Bob #1!"}
    assert [outputs(steps[f"again[{i}]"])["value"] for i in range(3)] == [
        "Hello, Ada #0!", "Hello, Bob #1!", "Hello, Cy #2!"]
    events = await engine.events(run_id)
    started = next(e for e in events if e.type == "step.started" and e.step_id == "greet")
    assert started.data == {"items": 3}
    first_instance = next(i for i, e in enumerate(events) if e.step_id.startswith("greet["))
    assert events.index(started) < first_instance
    ended = next(e for e in events if e.type == "step.succeeded" and e.step_id == "greet")
    assert ended.data == {"items": 3, "succeeded": 3, "failed": 0, "cancelled": 0}
    assert all(e.step_id != "greet" for e in events if e.type == "step.log")  # logs are the instances'
    assert {e.step_id for e in events if e.type == "step.log"} >= {"greet[0]", "greet[1]", "greet[2]"}


async def test_a_literal_list_an_empty_list_and_a_false_if(engine) -> None:
    definition = workflow(
        {"id": "literal", "uses": "testkit/echo", "for_each": [{"v": "x"}, {"v": "y"}],
         "with": {"value": "${{ item.v }}"}},
        {"id": "empty", "uses": "testkit/echo", "for_each": "${{ params.none }}", "with": {"value": "${{ item }}"}},
        {"id": "count", "uses": "testkit/echo", "needs": ["empty"],
         "with": {"value": "n=${{ length(steps.empty.outputs) }}"}},
        {"id": "never", "uses": "testkit/echo", "for_each": [1, 2], "if": "${{ params.go }}",
         "with": {"value": "${{ item }}"}},
        parameters={"type": "object", "properties": {"none": {"type": "array"}, "go": {"type": "boolean"}}},
    )
    await engine.apply(definition)
    run_id = await engine.start(definition["metadata"]["name"], {"none": [], "go": False})
    run = await engine.wait(run_id)
    assert run.state == "succeeded"
    steps = await stored_steps(engine, run_id)
    assert [outputs(steps[f"literal[{i}]"])["value"] for i in range(2)] == ["x", "y"]
    assert StepState.from_number(steps["empty"].state) == StepState.SUCCEEDED
    assert not [s for s in steps.values() if s.parent in ("empty", "never")]
    assert outputs(steps["count"]) == {"value": "n=0"}
    events = await engine.events(run_id)
    assert next(e.data for e in events if e.step_id == "empty" and e.type == "step.succeeded") == {
        "items": 0, "succeeded": 0, "failed": 0, "cancelled": 0}
    assert next(e for e in events if e.step_id == "never").type == "step.skipped"


async def test_a_for_each_that_is_not_a_list_or_too_long_fails_its_step_as_config(engine) -> None:
    definition = workflow(
        {"id": "text", "uses": "testkit/echo", "for_each": "${{ params.text }}", "with": {"value": "${{ item }}"},
         "optional": True},
        {"id": "long", "uses": "testkit/echo", "for_each": "${{ params.long }}", "with": {"value": "${{ item }}"},
         "optional": True},
        parameters={"type": "object", "properties": {"text": {"type": "string"}, "long": {"type": "array"}}},
    )
    await engine.apply(definition)
    run_id = await engine.start(definition["metadata"]["name"], {"text": "a,b", "long": list(range(10_001))})
    run = await engine.wait(run_id)
    assert run.state == "succeeded_with_warnings"  # optional: the run goes on as for any failed step
    steps = await stored_steps(engine, run_id)
    assert steps["text"].error == "for_each: '${{ params.text }}' evaluates to a string, not a list"
    assert steps["long"].error == "for_each: the list has 10,001 items; a step fans out to at most 10,000"
    assert len(steps) == 2
    failed = [e.data for e in await engine.events(run_id) if e.type == "step.failed"]
    assert {f["kind"] for f in failed} == {"config"}


async def test_max_parallel_bounds_the_instances_in_flight(engine, services: Services) -> None:
    definition = workflow({"id": "nap", "uses": "testkit/slow", "for_each": [0.15] * 6, "max_parallel": 2,
                           "with": {"seconds": "${{ item }}", "journal": "parallel.txt"}})
    await engine.apply(definition)
    run = await engine.wait(await engine.start(definition["metadata"]["name"]))
    assert run.state == "succeeded"
    lines = [line for line in journal(services, "parallel.txt") if run.id in line]
    assert len(lines) == 12 and max_overlap(lines) == 2


async def test_the_runs_own_limit_still_applies_to_the_instances(engine, services: Services) -> None:
    definition = workflow({"id": "nap", "uses": "testkit/slow", "for_each": [0.15] * 5,
                           "with": {"seconds": "${{ item }}", "journal": "run-limit.txt"}}, max_parallel=2)
    await engine.apply(definition)
    run = await engine.wait(await engine.start(definition["metadata"]["name"]))
    assert run.state == "succeeded"
    lines = [line for line in journal(services, "run-limit.txt") if run.id in line]
    assert len(lines) == 10 and max_overlap(lines) == 2


async def test_fail_fast_cancels_the_items_in_flight_and_not_started(engine, services: Services) -> None:
    definition = workflow(
        {"id": "nap", "uses": "testkit/slow", "for_each": [30, 30, -1, 30, 30], "max_parallel": 3, "fail_fast": True,
         "with": {"seconds": "${{ item }}", "journal": "fast.txt"}},
        {"id": "after", "uses": "core/noop", "needs": ["nap"]},
    )
    await engine.apply(definition)
    run_id = await engine.start(definition["metadata"]["name"])
    run = await engine.wait(run_id, timeout=15)
    assert run.state == "failed"
    steps = await stored_steps(engine, run_id)
    states = {sid: run_step.state for sid, run_step in ((s.id, s) for s in run.steps)}
    assert states["nap[2]"] == "failed"
    assert [states[f"nap[{i}]"] for i in (0, 1, 3, 4)] == ["cancelled"] * 4
    assert states["nap"] == "failed" and states["after"] == "skipped"
    assert "1 of 5 items failed, 4 cancelled: nap[2]" in steps["nap"].error
    events = await engine.events(run_id)
    reasons = {e.data["reason"] for e in events if e.type == "step.cancelled"}
    assert reasons == {"fail_fast: nap[2] failed"}
    assert events[-1].type == "run.failed" and events[-1].data["failed_steps"] == ["nap"]  # not every item
    ended = next(e.data for e in events if e.type == "step.failed" and e.step_id == "nap")
    assert {k: ended[k] for k in ("items", "succeeded", "failed", "cancelled")} == {
        "items": 5, "succeeded": 0, "failed": 1, "cancelled": 4}
    await asyncio.sleep(0.3)
    lines = journal(services, "fast.txt")
    for i in (0, 1):  # a call that had started was cancelled, none completed
        assert f"done {run_id}/nap[{i}]/1" not in lines
        assert (f"start {run_id}/nap[{i}]/1" in lines) == (f"cancelled {run_id}/nap[{i}]/1" in lines)
    assert not [line for line in lines if f"{run_id}/nap[3]" in line or f"{run_id}/nap[4]" in line]


async def test_without_fail_fast_every_item_runs_and_optional_keeps_the_run_going(engine) -> None:
    definition = workflow(
        {"id": "try", "uses": "testkit/flaky", "for_each": [1, 2, 1], "optional": True,
         "with": {"succeed_on": "${{ item }}", "journal": "opt.txt"}},
        {"id": "next", "uses": "core/noop"},
    )
    await engine.apply(definition)
    run = await engine.wait(await engine.start(definition["metadata"]["name"]))
    assert run.state == "succeeded_with_warnings"
    states = {s.id: s.state for s in run.steps}
    assert [states[f"try[{i}]"] for i in range(3)] == ["succeeded", "failed", "succeeded"]
    assert states["try"] == "failed" and states["next"] == "succeeded"


async def test_instances_have_their_own_retries_and_an_if_about_the_item(engine, services: Services) -> None:
    definition = workflow({"id": "try", "uses": "testkit/flaky", "for_each": [1, 2, 3],
                           "if": "${{ item != 3 }}", "retry": {"max_attempts": 2, "initial_interval": "10ms"},
                           "with": {"succeed_on": "${{ item }}", "journal": "own.txt"}})
    await engine.apply(definition)
    run_id = await engine.start(definition["metadata"]["name"])
    run = await engine.wait(run_id)
    assert run.state == "succeeded"
    steps = {s.id: s for s in run.steps}
    assert [(steps[f"try[{i}]"].state, steps[f"try[{i}]"].attempt) for i in range(3)] == [
        ("succeeded", 1), ("succeeded", 2), ("skipped", 0)]
    ended = next(e.data for e in await engine.events(run_id) if e.type == "step.succeeded" and e.step_id == "try")
    assert ended == {"items": 3, "succeeded": 2, "failed": 0, "cancelled": 0, "skipped": 1}


async def test_retry_from_failure_runs_only_the_failed_items_again(engine, services: Services) -> None:
    definition = workflow(
        {"id": "try", "uses": "testkit/flaky", "for_each": [1, 2, 1],
         "with": {"succeed_on": "${{ item }}", "journal": "retry-items.txt"}},
        {"id": "after", "uses": "core/noop", "needs": ["try"]},
    )
    await engine.apply(definition)
    run_id = await engine.start(definition["metadata"]["name"])
    assert (await engine.wait(run_id)).state == "failed"
    await control(engine, run_id, "retry")  # reopened in storage before it returns
    run = await engine.wait(run_id)
    assert run.state == "succeeded"
    ran = collections.Counter(line.split()[1].split("/")[1] for line in journal(services, "retry-items.txt")
                              if f"run {run_id}/" in line)
    assert ran == {"try[0]": 1, "try[1]": 2, "try[2]": 1}
    steps = {s.id: s for s in run.steps}
    assert steps["try[1]"].attempt == 2 and steps["try[0]"].attempt == 1
    assert steps["after"].state == "succeeded"


async def test_a_rerun_runs_every_item_again_and_follows_a_list_that_changed(engine, services: Services) -> None:
    attempt = "format('x{0}', steps.src.outputs.attempt)"  # "x1", then "x2" when src runs again
    definition = workflow(
        {"id": "src", "uses": "testkit/flaky", "with": {"succeed_on": 1, "journal": "rerun-src.txt"}},
        {"id": "grow", "uses": "testkit/echo", "needs": ["src"], "for_each": f"${{{{ split({attempt}, '2') }}}}",
         "with": {"value": "${{ item }}"}},
        {"id": "shrink", "uses": "testkit/echo", "needs": ["src"], "for_each": f"${{{{ split({attempt}, '1') }}}}",
         "with": {"value": "${{ item }}"}},
        {"id": "lengths", "uses": "testkit/echo", "needs": ["grow", "shrink"],
         "with": {"value": "${{ length(steps.grow.outputs) }}/${{ length(steps.shrink.outputs) }}"}},
    )
    await engine.apply(definition)
    run_id = await engine.start(definition["metadata"]["name"])
    assert (await engine.wait(run_id)).state == "succeeded"
    assert outputs((await stored_steps(engine, run_id))["lengths"]) == {"value": "1/2"}
    await engine.service.ControlRun(engine_pb2.ControlRunRequest(
        run_id=run_id, action=ControlAction.RERUN.number, actor="op", step_id="src"), None)
    run = await engine.wait(run_id)
    assert run.state == "succeeded"
    steps = await stored_steps(engine, run_id)
    assert outputs(steps["lengths"]) == {"value": "2/1"}
    assert [(s.id, StepState.from_number(s.state), s.attempt) for s in steps.values() if s.parent == "grow"] == [
        ("grow[0]", StepState.SUCCEEDED, 2), ("grow[1]", StepState.SUCCEEDED, 1)]
    assert [outputs(steps[f"grow[{i}]"])["value"] for i in range(2)] == ["x", ""]
    assert [(s.id, s.attempt) for s in steps.values() if s.parent == "shrink"] == [("shrink[0]", 2), ("shrink[1]", 1)]
    assert outputs(steps["shrink[0]"]) == {"value": "x2"} and not outputs(steps["shrink[1]"])
    skipped = [e.data for e in await engine.events(run_id) if e.type == "step.skipped" and e.step_id == "shrink[1]"]
    assert skipped == [{"reason": "no longer in the for_each list"}]


async def test_cancel_and_pause_reach_the_instances(engine, services: Services) -> None:
    definition = workflow({"id": "nap", "uses": "testkit/slow", "for_each": [0.3] * 6, "max_parallel": 2,
                           "with": {"seconds": "${{ item }}", "journal": "controls.txt"}})
    await engine.apply(definition)
    run_id = await engine.start(definition["metadata"]["name"])
    await wait_state(engine, run_id, "nap[0]", "running")
    await control(engine, run_id, "pause")
    await wait_state(engine, run_id, "nap[1]", "succeeded")
    await asyncio.sleep(0.5)
    paused = {s.id: s.state for s in (await engine.run(run_id)).steps}
    assert paused["nap[2]"] == "pending" and paused["nap"] == "running"  # nothing new started while paused
    await control(engine, run_id, "resume")
    async with asyncio.timeout(10):  # its call reached the plugin
        while f"start {run_id}/nap[2]/1" not in journal(services, "controls.txt"):
            await asyncio.sleep(0.02)
    await control(engine, run_id, "cancel")
    run = await engine.wait(run_id)
    assert run.state == "cancelled"
    states = {s.id: s.state for s in run.steps}
    assert [states[f"nap[{i}]"] for i in range(6)] == ["succeeded"] * 2 + ["cancelled"] * 4
    assert states["nap"] == "cancelled"
    await asyncio.sleep(0.3)
    assert f"cancelled {run_id}/nap[2]/1" in journal(services, "controls.txt")


async def test_a_run_timeout_mid_fan_out_cancels_every_item_left(engine, services: Services) -> None:
    definition = workflow({"id": "nap", "uses": "testkit/slow", "for_each": [30] * 4, "max_parallel": 2,
                           "with": {"seconds": "${{ item }}", "journal": "run-timeout.txt"}}, timeout="500ms")
    await engine.apply(definition)
    run_id = await engine.start(definition["metadata"]["name"])
    run = await engine.wait(run_id, timeout=10)
    assert run.state == "failed"
    assert {s.id: s.state for s in run.steps} == {"nap": "cancelled", **{f"nap[{i}]": "cancelled" for i in range(4)}}
    await asyncio.sleep(0.3)
    lines = journal(services, "run-timeout.txt")
    assert not [line for line in lines if line.startswith(f"done {run_id}/")]
    started = {line.split()[1] for line in lines if line.startswith(f"start {run_id}/")}
    assert started and started == {line.split()[1] for line in lines if line.startswith(f"cancelled {run_id}/")}


async def test_each_item_of_an_approval_fan_out_is_its_own_gate(engine) -> None:
    definition = workflow({"id": "gate", "uses": "core/approval", "for_each": ["eu", "us"],
                           "with": {"message": "deploy to ${{ item }}?"}})
    await engine.apply(definition)
    run_id = await engine.start(definition["metadata"]["name"])
    for index in (0, 1):
        await wait_state(engine, run_id, f"gate[{index}]", "awaiting_approval")
    await engine.decide(run_id, step_id="gate[1]", actor="alice")
    await wait_state(engine, run_id, "gate[1]", "succeeded")
    assert {s.id: s.state for s in (await engine.run(run_id)).steps}["gate"] == "running"
    await engine.decide(run_id, step_id="gate[0]", actor="bob")
    run = await engine.wait(run_id)
    assert run.state == "succeeded"
    waiting = [e.data["message"] for e in await engine.events(run_id) if e.type == "step.awaiting_approval"]
    assert sorted(waiting) == ["deploy to eu?", "deploy to us?"]


async def test_a_takeover_mid_fan_out_does_not_run_a_finished_item_again(services: Services,
                                                                        nats_server: str) -> None:
    definition = workflow({"id": "nap", "uses": "testkit/slow", "for_each": [0.2] * 10, "max_parallel": 2,
                           "with": {"seconds": "${{ item }}", "journal": "takeover.txt"}})
    async with replica(services, nats_server, owner=f"first-{free_port()}", lease_seconds=1.0) as first:
        await first.apply(definition)
        run_id = await first.start(definition["metadata"]["name"])
        async with asyncio.timeout(20):
            while sum(s.state == "succeeded" for s in (await first.run(run_id)).steps) < 3:
                await asyncio.sleep(0.02)
    finished = {s.id for s in (await first.run(run_id)).steps if s.state == "succeeded"}
    async with replica(services, nats_server, owner=f"second-{free_port()}") as second:
        run = await second.wait(run_id, timeout=40)
        assert run.state == "succeeded"
        events = await second.events(run_id)
    succeeded = collections.Counter(e.step_id for e in events if e.type == "step.succeeded")
    assert succeeded == {"nap": 1, **{f"nap[{i}]": 1 for i in range(10)}}
    starts = collections.Counter(line.split()[1].split("/")[1] for line in journal(services, "takeover.txt")
                                 if line.startswith(f"start {run_id}/"))
    assert all(starts[step_id] == 1 for step_id in finished)
    assert [e.data for e in events if e.type == "step.started" and e.step_id == "nap"] == [{"items": 10}] * 2
    assert len({s.id for s in run.steps}) == 11  # expanded once: the new owner found the instances stored


async def test_an_items_gate_waits_again_after_a_takeover(services: Services, nats_server: str) -> None:
    definition = workflow({"id": "gate", "uses": "core/approval", "for_each": ["eu", "us"]})
    async with replica(services, nats_server, owner=f"first-{free_port()}", lease_seconds=1.0) as first:
        await first.apply(definition)
        run_id = await first.start(definition["metadata"]["name"])
        for index in (0, 1):
            await wait_state(first, run_id, f"gate[{index}]", "awaiting_approval")
        await first.decide(run_id, step_id="gate[0]", actor="alice")
        await wait_state(first, run_id, "gate[0]", "succeeded")
    async with replica(services, nats_server, owner=f"second-{free_port()}") as second:
        async with asyncio.timeout(30):
            while second.keeper.executor(run_id) is None:
                await asyncio.sleep(0.05)
        await second.decide(run_id, step_id="gate[1]", actor="alice")
        run = await second.wait(run_id)
        assert run.state == "succeeded"
        events = await second.events(run_id)
    assert [e.step_id for e in events if e.type == "step.awaiting_approval"] in (
        ["gate[0]", "gate[1]"], ["gate[1]", "gate[0]"])  # the gate did not open again


# ----- in memory ------------------------------------------------------------------------------------------


def fanned(state: StepState, *instances: StepState, optional: bool = False) -> list[StepRun]:
    spec = StepSpec("each", "core/noop", for_each=[], optional=optional)
    aggregate = StepRun(spec, state, instances=[])
    children = [StepRun(StepSpec(f"each[{i}]", "core/noop", optional=optional), s, parent="each", item_index=i,
                        outputs={"n": i}) for i, s in enumerate(instances)]
    assert aggregate.instances is not None
    aggregate.instances.extend(children)
    return [aggregate, *children]


def test_instances_count_through_their_step_in_the_final_state() -> None:
    # fail_fast cancelled the rest: the run failed (its step did), it was not cancelled
    assert final_state(fanned(StepState.FAILED, StepState.FAILED, StepState.CANCELLED)) == RunState.FAILED
    assert final_state(fanned(StepState.FAILED, StepState.FAILED, optional=True)) == \
        RunState.SUCCEEDED_WITH_WARNINGS


def test_a_for_each_steps_outputs_are_its_instances_in_order() -> None:
    steps = fanned(StepState.SUCCEEDED, StepState.SUCCEEDED, StepState.SUCCEEDED)
    view = StepsView({step.spec.id: step for step in steps})
    assert view["each"] == {"outputs": [{"n": 0}, {"n": 1}], "state": "succeeded"}
    assert view["each[1]"]["outputs"] == {"n": 1}


def test_an_if_about_the_item_is_left_to_the_instances() -> None:
    about_item = StepSpec("each", "core/noop", condition="${{ item > 1 }}", for_each=[])
    assert aggregate_spec(about_item).condition is None  # the implicit success() of its needs only
    with_status = StepSpec("each", "core/noop", condition="${{ always() && item > 1 }}", for_each=[])
    assert aggregate_spec(with_status).condition == "always()"
    plain = StepSpec("each", "core/noop", condition="${{ params.go }}", for_each=[])
    assert aggregate_spec(plain) is plain


# ----- validation ------------------------------------------------------------------------------------------


def problems(*steps: dict[str, Any]) -> dict[str, str]:
    parameters = {"type": "object", "properties": {"names": {"type": "array"}}}
    found = validate_definition(definition_of(*steps, parameters=parameters), TYPES.get)
    return {problem.pointer: problem.message for problem in found}


def test_a_good_for_each_has_no_problems() -> None:
    assert problems(
        {"id": "a", "uses": "hello/greet", "for_each": "${{ params.names }}", "max_parallel": 3, "fail_fast": True,
         "with": {"name": "${{ item }} ${{ item_index }}"}, "if": "${{ item != 'x' }}"},
        {"id": "b", "uses": "hello/greet", "needs": ["a"], "for_each": "${{ steps.a.outputs }}",
         "with": {"name": "${{ item.greeting }} ${{ steps.a.outputs[0].greeting }}"}},
        {"id": "c", "uses": "hello/greet", "for_each": ["${{ params.names }}", "x"], "with": {"name": "${{ item }}"}},
    ) == {}


def test_item_outside_a_for_each_step_or_inside_its_list_is_a_problem() -> None:
    found = problems(
        {"id": "a", "uses": "hello/greet", "with": {"name": "${{ item }}"}, "if": "${{ item_index > 0 }}"},
        {"id": "b", "uses": "hello/greet", "for_each": "${{ item }}", "with": {"name": "${{ item_index.x }}"}},
    )
    assert found == {
        "/spec/steps/0/with/name": "item: item exists only in a step with for_each",
        "/spec/steps/0/if": "item_index: item_index exists only in a step with for_each",
        "/spec/steps/1/for_each": "item: for_each cannot use item (it is what for_each produces)",
        "/spec/steps/1/with/name": "item_index.x: item_index is a number (the item's 0-based position)",
    }


def test_for_each_references_are_checked_like_with_ones() -> None:
    found = problems(
        {"id": "a", "uses": "hello/greet", "with": {"name": "x"}},
        {"id": "b", "uses": "hello/greet", "for_each": "${{ steps.a.outputs.list }}", "with": {"name": "${{ item }}"}},
        {"id": "c", "uses": "hello/greet", "for_each": "${{ params.nope }}", "with": {"name": "${{ item }}"}},
        {"id": "d", "uses": "hello/greet", "for_each": "names: ${{ params.names }}", "with": {"name": "${{ item }}"}},
        {"id": "e", "uses": "hello/greet", "for_each": "${{ success() }}", "with": {"name": "${{ item }}"}},
    )
    assert "not upstream of 'b'" in found["/spec/steps/1/for_each"]
    assert "parameter 'nope' is not declared" in found["/spec/steps/2/for_each"]
    assert found["/spec/steps/3/for_each"] == (
        "for_each must be one ${{ }} expression that evaluates to a list, or a list")
    assert found["/spec/steps/4/for_each"] == "success() is only available in if: conditions"


def test_a_for_each_steps_outputs_are_a_list_in_references() -> None:
    found = problems(
        {"id": "a", "uses": "hello/greet", "for_each": [1], "with": {"name": "${{ item }}"}},
        {"id": "b", "uses": "hello/greet", "needs": ["a"], "with": {"name": "${{ steps.a.outputs.greeting }}"}},
        {"id": "c", "uses": "hello/greet", "needs": ["a"], "with": {"name": "${{ steps.a.outputs[0].nope }}"}},
    )
    assert found == {
        "/spec/steps/1/with/name": "steps.a.outputs.greeting: steps.a.outputs is a list (one element per item); "
                                   "use steps.a.outputs[<index>].<name>",
        "/spec/steps/2/with/name": "steps.a.outputs.0.nope: hello/greet has no output 'nope' (outputs: greeting)",
    }


def test_max_parallel_and_fail_fast_need_a_for_each() -> None:
    found = problems({"id": "a", "uses": "hello/greet", "with": {"name": "x"}, "max_parallel": 2, "fail_fast": True})
    assert found == {"/spec/steps/0/max_parallel": "max_parallel applies only to a step with for_each",
                     "/spec/steps/0/fail_fast": "fail_fast applies only to a step with for_each"}


def test_hostile_for_each_values_are_refused_with_pointers() -> None:
    found = problems(
        {"id": "a", "uses": "hello/greet", "for_each": list(range(10_001)), "with": {"name": "${{ item }}"}},
        {"id": "b", "uses": "hello/greet", "for_each": {"not": "a list"}, "with": {"name": "x"}},
        {"id": "c", "uses": "hello/greet", "for_each": [1], "max_parallel": 0, "fail_fast": "yes",
         "with": {"name": "x"}},
        {"id": "d", "uses": "hello/greet", "for_each": "${{ params.names", "with": {"name": "x"}},
    )
    assert set(found) >= {"/spec/steps/0/for_each", "/spec/steps/1/for_each", "/spec/steps/2/max_parallel",
                          "/spec/steps/2/fail_fast", "/spec/steps/3/for_each"}

