"""Compensation over real processes: a failing run undoes its succeeded steps in reverse order of
completion, retried per the compensation's policy; a failed compensation leaves the run `partial`;
a cancel unwinds only when asked; a takeover mid-unwind never repeats a finished compensation;
and what validation says about `compensate`, with pointers."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from vwmp_common.ports import free_port
from vwmp_common.states import ControlAction, RunState
from vwmp_engine.core_steps import CORE_STEP_TYPES
from vwmp_engine.validation import validate_definition
from vwmp_proto.engine.v1 import engine_pb2
from vwmp_proto.storage.v1 import storage_pb2

from .conftest import Replica, Services, replica
from .test_runs import workflow
from .test_semantics import journal


def undone(step_id: str, journal_name: str, seconds: float = 0, **more: Any) -> dict[str, Any]:
    """A step that succeeds (echoing its id) and whose compensation journals itself."""
    return {"id": step_id, "uses": "testkit/echo", "with": {"value": step_id},
            "compensate": {"uses": "testkit/slow", "with": {"seconds": seconds, "journal": journal_name}}, **more}


def named(definition: dict[str, Any], name: str) -> dict[str, Any]:
    definition["metadata"]["name"] = name
    return definition


def problems(definition: dict[str, Any]) -> dict[str, str]:
    return {p.pointer: p.message for p in validate_definition(definition, CORE_STEP_TYPES.get)}


async def stored(engine: Replica, run_id: str) -> storage_pb2.Run:
    return await engine.storage.GetRun(storage_pb2.GetRunRequest(id=run_id))


async def test_a_failed_run_undoes_its_succeeded_steps_newest_first(engine, services: Services) -> None:
    name = "comp-order.txt"
    definition = workflow(
        undone("a", name),
        undone("b", name, needs=["a"]),
        {"id": "plain", "uses": "core/noop", "needs": ["a"]},  # nothing to undo
        {"id": "boom", "uses": "testkit/fail", "needs": ["b"], "with": {"message": "refused"},
         "compensate": {"uses": "testkit/slow", "with": {"seconds": 0, "journal": name}}},  # failed: not undone
        undone("after", name, needs=["boom"]))  # skipped: not undone
    await engine.apply(definition)
    run_id = await engine.start(definition["metadata"]["name"])
    run = await engine.wait(run_id)
    assert run.state == "failed" and run.compensated == "true"
    assert {s.id: s.state for s in run.steps} == {"a": "compensated", "b": "compensated", "plain": "succeeded",
                                                  "boom": "failed", "after": "skipped"}
    assert json.loads(next(s for s in run.steps if s.id == "a").outputs_json) == {"value": "a"}  # kept
    assert journal(services, name) == [f"start {run_id}/b/compensate/1", f"done {run_id}/b/compensate/1",
                                       f"start {run_id}/a/compensate/1", f"done {run_id}/a/compensate/1"]
    events = await engine.events(run_id)
    unwind = [(e.type, e.step_id) for e in events if e.type.startswith("step.compensat")]
    assert unwind == [("step.compensating", "b"), ("step.compensated", "b"),
                      ("step.compensating", "a"), ("step.compensated", "a")]
    assert events[-1].type == "run.failed" and events[-1].data["failed_steps"] == ["boom"]
    compensated = next(e for e in events if e.type == "step.compensated" and e.step_id == "a")
    assert compensated.data["uses"] == "testkit/slow" and compensated.data["attempt"] == 1
    assert compensated.data["outputs"] == {"slept": 0}


async def test_a_succeeding_run_and_a_dry_run_undo_nothing(engine, services: Services) -> None:
    definition = workflow(undone("a", "comp-none.txt"))
    await engine.apply(definition)
    run = await engine.wait(await engine.start(definition["metadata"]["name"]))
    assert run.state == "succeeded" and run.compensated == ""
    failing = named(workflow(undone("a", "comp-none.txt"), {"id": "boom", "uses": "testkit/fail", "needs": ["a"]}),
                    "comp-dry")
    await engine.apply(failing)
    dry = await engine.wait(await engine.start("comp-dry", dry_run=True))
    assert dry.compensated == "" and {s.id: s.state for s in dry.steps}["a"] == "succeeded"
    assert journal(services, "comp-none.txt") == []


async def test_a_compensation_is_retried_and_one_that_fails_leaves_the_run_partial(engine, services: Services) -> None:
    definition = workflow(
        undone("a", "comp-partial.txt"),
        {"id": "b", "uses": "testkit/echo", "needs": ["a"], "with": {"value": "b"},
         "compensate": {"uses": "testkit/fail", "with": {"message": "cannot undo", "journal": "comp-partial.txt"},
                        "retry": {"max_attempts": 2, "initial_interval": "50ms"}}},
        {"id": "boom", "uses": "testkit/fail", "needs": ["b"]})
    await engine.apply(definition)
    run_id = await engine.start(definition["metadata"]["name"])
    run = await engine.wait(run_id)
    assert run.state == "failed" and run.compensated == "partial"
    steps = {s.id: s for s in run.steps}
    assert steps["a"].state == "compensated"
    assert steps["b"].state == "succeeded" and steps["b"].error == "compensation failed: cannot undo"
    assert journal(services, "comp-partial.txt") == [
        f"run {run_id}/b/compensate/1", f"run {run_id}/b/compensate/2",
        f"start {run_id}/a/compensate/1", f"done {run_id}/a/compensate/1"]  # a is undone even so
    failed = next(e for e in await engine.events(run_id) if e.type == "step.compensation_failed")
    assert failed.step_id == "b" and failed.data == {"uses": "testkit/fail", "attempt": 2, "error": "cannot undo",
                                                     "kind": "error"}


async def test_a_cancel_unwinds_only_when_asked(engine, services: Services) -> None:
    for asked in (False, True):
        name = f"comp-cancel-{str(asked).lower()}"
        definition = named(workflow(undone("a", f"{name}.txt"),
                                    {"id": "wait", "uses": "core/sleep", "needs": ["a"], "with": {"seconds": 30}}),
                           name)
        await engine.apply(definition)
        run_id = await engine.start(name)
        await engine.wait_step(run_id, "wait", "running")
        await engine.service.ControlRun(engine_pb2.ControlRunRequest(
            run_id=run_id, action=ControlAction.CANCEL.number, actor="op", compensate=asked), None)
        run = await engine.wait(run_id, timeout=10)
        assert run.state == "cancelled"
        assert {s.id: s.state for s in run.steps} == {"a": "compensated" if asked else "succeeded",
                                                      "wait": "cancelled"}
        assert run.compensated == ("true" if asked else "")
        assert journal(services, f"{name}.txt") == ([f"start {run_id}/a/compensate/1", f"done {run_id}/a/compensate/1"]
                                                    if asked else [])


async def test_a_run_timeout_unwinds_what_succeeded(engine, services: Services) -> None:
    definition = workflow(undone("a", "comp-timeout.txt"),
                          {"id": "wait", "uses": "core/sleep", "needs": ["a"], "with": {"seconds": 30}},
                          timeout="1s")
    await engine.apply(definition)
    run = await engine.wait(await engine.start(definition["metadata"]["name"]), timeout=15)
    assert run.state == "failed" and run.compensated == "true"
    assert {s.id: s.state for s in run.steps} == {"a": "compensated", "wait": "cancelled"}


async def test_a_takeover_mid_unwind_goes_on_without_repeating_a_finished_compensation(
        services: Services, nats_server: str) -> None:
    name = "comp-takeover.txt"
    definition = named(workflow(undone("a", name, seconds=2), undone("b", name, needs=["a"]),
                                {"id": "boom", "uses": "testkit/fail", "needs": ["b"]}), "comp-takeover")
    async with replica(services, nats_server, owner=f"first-{free_port()}", lease_seconds=1.5) as first:
        await first.apply(definition)
        run_id = await first.start("comp-takeover")
        async with asyncio.timeout(20):
            while f"start {run_id}/a/compensate/1" not in journal(services, name):
                await asyncio.sleep(0.05)
        assert RunState.from_number((await stored(first, run_id)).state) == "running"
    # the first replica is gone mid-unwind (b undone, a's compensation in flight); the second goes on
    async with replica(services, nats_server, owner=f"second-{free_port()}", lease_seconds=1.5) as second:
        run = await second.wait(run_id, timeout=30)
        events = await second.events(run_id)
    assert run.state == "failed" and run.compensated == "true"
    assert {s.id: s.state for s in run.steps} == {"a": "compensated", "b": "compensated", "boom": "failed"}
    lines = journal(services, name)
    assert lines.count(f"start {run_id}/b/compensate/1") == 1  # finished before the takeover: not again
    assert f"done {run_id}/a/compensate/1" in lines
    assert [(e.type, e.step_id) for e in events if e.type == "step.compensated"] == [
        ("step.compensated", "b"), ("step.compensated", "a")]
    assert [e.seq for e in events] == list(range(1, len(events) + 1))


async def test_a_takeover_mid_unwind_goes_on_with_the_compensations_retry_budget(
        services: Services, nats_server: str) -> None:
    name = "comp-budget.txt"
    # The journal's name is the item: the new owner must give the item back to render the compensation.
    definition = named(workflow(
        {"id": "a", "uses": "testkit/echo", "for_each": [name], "with": {"value": "${{ item }}"},
         "compensate": {"uses": "testkit/flaky", "with": {"succeed_on": 99, "journal": "${{ item }}"},
                        "retry": {"max_attempts": 3, "backoff": "fixed", "initial_interval": "3s"}}},
        {"id": "boom", "uses": "testkit/fail", "needs": ["a"]}), "comp-budget")
    async with replica(services, nats_server, owner=f"first-{free_port()}", lease_seconds=1.5) as first:
        await first.apply(definition)
        run_id = await first.start("comp-budget")
        async with asyncio.timeout(20):
            while f"run {run_id}/a[0]/compensate/2" not in journal(services, name):
                await asyncio.sleep(0.05)
        item = next(s for s in (await stored(first, run_id)).steps if s.id == "a[0]")
        assert item.compensation_attempt == 2
    # gone while attempt 2 waits for its retry: the new owner delivers attempt 2 again (the host answers
    # with its recorded failure), then attempt 3, the last of the policy's three; never attempt 1 again
    async with replica(services, nats_server, owner=f"second-{free_port()}", lease_seconds=1.5) as second:
        run = await second.wait(run_id, timeout=30)
        events = await second.events(run_id)
    assert run.state == "failed" and run.compensated == "partial"
    steps = {s.id: s for s in run.steps}
    assert steps["a[0]"].error == "compensation failed: attempt 3 failed on purpose"
    attempts = [e.data["attempt"] for e in events if e.type == "step.compensating"]
    assert attempts == [1, 2, 2, 3]
    assert journal(services, name) == [f"run {run_id}/a[0]/compensate/{n}" for n in (1, 2, 3)]
    failed = next(e for e in events if e.type == "step.compensation_failed" and e.step_id == "a[0]")
    assert failed.data["attempt"] == 3 and failed.data["item_index"] == 0


def test_compensate_is_checked_like_a_step_with_pointers() -> None:
    good = workflow({"id": "a", "uses": "core/sleep", "with": {"seconds": 0},
                     "compensate": {"uses": "core/sleep", "with": {"seconds": "${{ steps.a.outputs.slept }}"},
                                    "retry": {"max_attempts": 3}, "timeout": "5s"}},
                    {"id": "b", "uses": "core/noop", "needs": ["a"],
                     "compensate": {"uses": "core/sleep", "with": {"seconds": "${{ steps.a.outputs.slept }}"}}})
    assert problems(good) == {}
    found = problems(workflow(
        {"id": "a", "uses": "core/noop", "compensate": {"uses": "nope/missing"}},
        {"id": "b", "uses": "core/noop", "compensate": {"uses": "core/sleep", "with": {"seconds": "soon"}}},
        {"id": "c", "uses": "core/noop",
         "compensate": {"uses": "core/sleep", "with": {"seconds": "${{ steps.d.outputs.slept }}"}}},
        {"id": "d", "uses": "core/sleep", "with": {"seconds": 0}},
        {"id": "e", "uses": "core/noop", "for_each": [1], "compensate": {"uses": "core/noop"},
         "with": {"x": "${{ item_index.n }}"}},  # a for_each step may have one; the step's own with is checked
        {"id": "f", "uses": "core/noop", "compensate": {"uses": "core/approval"}},
        {"id": "g", "uses": "core/noop", "compensate": {"with": {}}},
        {"id": "h", "uses": "core/noop", "compensate": {"uses": "core/noop", "when": "always"}},
        **{"finally": [{"id": "z", "uses": "core/noop", "compensate": {"uses": "core/noop"}}]}))
    assert "unknown step type 'nope/missing'" in found["/spec/steps/0/compensate/uses"]
    assert "/spec/steps/1/compensate/with/seconds" in found
    assert found["/spec/steps/2/compensate/with/seconds"] == (
        "steps.d.outputs.slept: step 'd' is not upstream of the compensation of 'c' (add it to needs)")
    assert "/spec/steps/4/compensate" not in found
    assert found["/spec/steps/5/compensate/uses"].startswith("a compensation is a plugin or core step")
    assert found["/spec/steps/6/compensate/uses"] == "uses is required"
    assert found["/spec/steps/7/compensate/when"] == "unknown field 'when'"
    assert found["/spec/finally/0/compensate"] == "a finally step has no compensation: it runs after the unwind"



async def test_an_approval_gate_shows_what_a_later_failure_would_undo(engine, services: Services) -> None:
    definition = workflow(undone("a", "comp-gate.txt"), undone("b", "comp-gate.txt", needs=["a"]),
                          {"id": "plain", "uses": "core/noop", "needs": ["b"]},
                          {"id": "gate", "uses": "core/approval", "needs": ["plain"]})
    await engine.apply(definition)
    run_id = await engine.start(definition["metadata"]["name"])
    gate = await engine.wait_step(run_id, "gate", "awaiting_approval")
    shown = [{"step": "b", "uses": "testkit/slow"}, {"step": "a", "uses": "testkit/slow"}]  # newest first
    assert json.loads(gate.outputs_json)["would_undo"] == shown
    opened = next(e for e in await engine.events(run_id) if e.type == "step.awaiting_approval")
    assert opened.data["would_undo"] == shown


async def test_a_cancel_during_the_unwind_stops_it_and_the_run_is_partial(engine, services: Services) -> None:
    name = "comp-stop.txt"
    definition = workflow(undone("a", name, seconds=30), undone("b", name, needs=["a"]),
                          {"id": "boom", "uses": "testkit/fail", "needs": ["b"]})
    await engine.apply(definition)
    run_id = await engine.start(definition["metadata"]["name"])
    async with asyncio.timeout(20):
        while f"start {run_id}/a/compensate/1" not in journal(services, name):
            await asyncio.sleep(0.05)
    await engine.service.ControlRun(engine_pb2.ControlRunRequest(
        run_id=run_id, action=ControlAction.CANCEL.number, actor="op"), None)
    run = await engine.wait(run_id, timeout=10)
    assert run.state == "cancelled" and run.compensated == "partial"
    assert {s.id: s.state for s in run.steps} == {"a": "succeeded", "b": "compensated", "boom": "failed"}
    await asyncio.sleep(0.3)
    assert f"cancelled {run_id}/a/compensate/1" in journal(services, name)


def test_a_for_each_compensation_sees_its_item_and_the_items_outputs() -> None:
    per_item = {"uses": "core/sleep", "with": {"seconds": "${{ steps.e.outputs.slept }}${{ item_index }}${{ item.n }}"}}
    good = workflow({"id": "e", "uses": "core/sleep", "for_each": [{"n": 1}], "with": {"seconds": 0},
                     "compensate": per_item})
    assert problems(good) == {}
    found = problems(workflow(
        {"id": "e", "uses": "core/sleep", "for_each": [1], "with": {"seconds": 0},
         "compensate": {"uses": "core/sleep", "with": {"seconds": "${{ item_index.n }}"}}},
        {"id": "f", "uses": "core/sleep", "for_each": [1], "with": {"seconds": 0},  # its item's outputs: no index
         "compensate": {"uses": "core/sleep", "with": {"seconds": "${{ steps.f.outputs.nope }}"}}},
        {"id": "g", "uses": "core/sleep", "needs": ["e"], "with": {"seconds": 0},
         "compensate": {"uses": "core/sleep", "with": {"seconds": "${{ steps.e.outputs.slept }}"}}},
        {"id": "h", "uses": "core/sleep", "with": {"seconds": 0},
         "compensate": {"uses": "core/sleep", "with": {"seconds": "${{ item }}"}}}))
    assert found == {
        "/spec/steps/0/compensate/with/seconds": "item_index.n: item_index is a number (the item's 0-based position)",
        "/spec/steps/2/compensate/with/seconds": (  # another for_each step's outputs stay a list
            "steps.e.outputs.slept: steps.e.outputs is a list (one element per item); "
            "use steps.e.outputs[<index>].<name>"),
        "/spec/steps/3/compensate/with/seconds": "item: item exists only in a step with for_each"}


def per_item(step_id: str, items: list[Any], undo: dict[str, Any], **more: Any) -> dict[str, Any]:
    """A for_each step echoing each item, with a compensation per item."""
    return {"id": step_id, "uses": "testkit/echo", "for_each": items, "max_parallel": 1,
            "with": {"value": "${{ item }}"}, "compensate": undo, **more}


async def test_a_for_each_step_undoes_each_succeeded_item_newest_first(engine, services: Services) -> None:
    name = "comp-items.txt"
    definition = workflow(
        undone("pre", name),
        per_item("e", ["x", "y", "z"], {"uses": "testkit/echo",
                                         "with": {"value": "${{ item_index }}/${{ item }}/${{ steps.e.outputs.value }}"
                                                           "/${{ steps.pre.outputs.value }}"}}, needs=["pre"]),
        {"id": "boom", "uses": "testkit/fail", "needs": ["e"]})
    await engine.apply(definition)
    run_id = await engine.start(definition["metadata"]["name"])
    run = await engine.wait(run_id)
    assert run.state == "failed" and run.compensated == "true"
    assert {s.id: s.state for s in run.steps} == {
        "pre": "compensated", "e": "compensated", "boom": "failed",
        "e[0]": "compensated", "e[1]": "compensated", "e[2]": "compensated"}
    events = await engine.events(run_id)
    done = [(e.step_id, e.data.get("outputs"), e.data.get("item_index"))
            for e in events if e.type == "step.compensated"]
    assert done == [("e[2]", {"value": "2/z/z/pre"}, 2), ("e[1]", {"value": "1/y/y/pre"}, 1),
                    ("e[0]", {"value": "0/x/x/pre"}, 0), ("e", None, None), ("pre", {"slept": 0}, None)]
    whole = next(e for e in events if e.type == "step.compensated" and e.step_id == "e")
    assert whole.data == {"uses": "testkit/echo", "items": 3}
    assert journal(services, name) == [f"start {run_id}/pre/compensate/1", f"done {run_id}/pre/compensate/1"]


async def test_only_the_succeeded_items_of_a_failed_for_each_step_are_undone(engine, services: Services) -> None:
    name = "comp-items-failed.txt"
    definition = workflow(per_item("e", ["a", {"not": "a string"}, "c"],
                                   {"uses": "testkit/slow", "with": {"seconds": 0, "journal": name}}))
    await engine.apply(definition)
    run_id = await engine.start(definition["metadata"]["name"])
    run = await engine.wait(run_id)
    assert run.state == "failed" and run.compensated == "true"
    assert {s.id: s.state for s in run.steps} == {"e": "failed", "e[0]": "compensated", "e[1]": "failed",
                                                  "e[2]": "compensated"}
    assert journal(services, name) == [f"start {run_id}/e[2]/compensate/1", f"done {run_id}/e[2]/compensate/1",
                                       f"start {run_id}/e[0]/compensate/1", f"done {run_id}/e[0]/compensate/1"]


async def test_failed_item_compensations_leave_the_for_each_step_succeeded_and_the_run_partial(
        engine, services: Services) -> None:
    name = "comp-items-partial.txt"
    definition = workflow(
        per_item("e", ["a", "b"], {"uses": "testkit/fail", "with": {"message": "cannot undo ${{ item }}",
                                                                     "journal": name}}),
        {"id": "boom", "uses": "testkit/fail", "needs": ["e"]})
    await engine.apply(definition)
    run_id = await engine.start(definition["metadata"]["name"])
    run = await engine.wait(run_id)
    assert run.state == "failed" and run.compensated == "partial"
    steps = {s.id: s for s in run.steps}
    assert steps["e[1]"].state == "succeeded" and steps["e[1]"].error == "compensation failed: cannot undo b"
    assert steps["e"].state == "succeeded" and steps["e"].error == "compensation failed: 2 of 2 items: e[0], e[1]"
    assert journal(services, name) == [f"run {run_id}/e[1]/compensate/1", f"run {run_id}/e[0]/compensate/1"]


async def test_a_gate_names_the_newest_hundred_items_it_would_undo_and_counts_the_rest(engine) -> None:
    definition = workflow(
        {"id": "e", "uses": "core/noop", "for_each": list(range(103)), "max_parallel": 1,
         "compensate": {"uses": "core/noop"}},
        {"id": "gate", "uses": "core/approval", "needs": ["e"]})
    await engine.apply(definition)
    run_id = await engine.start(definition["metadata"]["name"])
    gate = json.loads((await engine.wait_step(run_id, "gate", "awaiting_approval", timeout=60)).outputs_json)
    assert gate["would_undo"] == [{"step": f"e[{i}]", "uses": "core/noop"} for i in range(102, 2, -1)]
    assert gate["would_undo_more"] == 3


async def test_a_cancel_that_asks_for_it_undoes_the_items_done_and_cancels_the_one_in_flight(
        engine, services: Services) -> None:
    name = "comp-items-cancel.txt"
    definition = workflow({"id": "e", "uses": "testkit/slow", "for_each": [0, 0, 30], "max_parallel": 1,
                           "with": {"seconds": "${{ item }}", "journal": name},
                           "compensate": {"uses": "testkit/echo", "with": {"value": "undo ${{ item_index }}"}}})
    await engine.apply(definition)
    run_id = await engine.start(definition["metadata"]["name"])
    async with asyncio.timeout(20):
        while f"start {run_id}/e[2]/1" not in journal(services, name):
            await asyncio.sleep(0.05)
    await engine.service.ControlRun(engine_pb2.ControlRunRequest(
        run_id=run_id, action=ControlAction.CANCEL.number, actor="op", compensate=True), None)
    run = await engine.wait(run_id, timeout=15)
    assert run.state == "cancelled" and run.compensated == "true"
    assert {s.id: s.state for s in run.steps} == {"e": "cancelled", "e[0]": "compensated", "e[1]": "compensated",
                                                  "e[2]": "cancelled"}
    undone = [(e.step_id, e.data["outputs"]) for e in await engine.events(run_id) if e.type == "step.compensated"]
    assert undone == [("e[1]", {"value": "undo 1"}), ("e[0]", {"value": "undo 0"})]
    assert f"cancelled {run_id}/e[2]/1" in journal(services, name)
