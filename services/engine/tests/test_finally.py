"""`spec.finally` over real processes: after a normal end, a cancel, a run timeout and a takeover;
how finally steps change (or never change) the run's end; retry-from-failure runs them again;
and what validation says about them, with pointers."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from vwmp_common.ports import free_port
from vwmp_common.states import RunState
from vwmp_engine.core_steps import CORE_STEP_TYPES
from vwmp_engine.validation import validate_definition
from vwmp_proto.storage.v1 import storage_pb2

from .conftest import Replica, Services, replica
from .test_runs import workflow
from .test_semantics import control, journal


def with_finally(*steps: dict[str, Any], final: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return workflow(*steps, **{"finally": final, **spec})


def echo(step_id: str, value: str, **more: Any) -> dict[str, Any]:
    return {"id": step_id, "uses": "testkit/echo", "with": {"value": value}, **more}


def outputs(run: Any, step_id: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(next(s for s in run.steps if s.id == step_id).outputs_json or "{}")
    return found


async def stored(engine: Replica, run_id: str) -> storage_pb2.Run:
    return await engine.storage.GetRun(storage_pb2.GetRunRequest(id=run_id))


async def run_to_end(engine: Replica, definition: dict[str, Any], **kwargs: Any) -> Any:
    await engine.apply(definition)
    return await engine.wait(await engine.start(definition["metadata"]["name"], **kwargs))


async def test_finally_steps_run_after_every_main_step_and_see_the_outcome(engine) -> None:
    definition = with_finally(
        {"id": "build", "uses": "core/sleep", "with": {"seconds": 0.2}},
        {"id": "side", "uses": "core/noop"},
        final=[echo("report", "run ${{ run.id }} ended ${{ run.state }}", **{"if": "${{ always() }}"}),
               echo("on_failure", "x", **{"if": "${{ failure() }}"}),
               echo("plain", "failed: ${{ toJSON(run.failed_steps) }}"),
               echo("after", "${{ steps.report.outputs.value }}", needs=["report"])])
    await engine.apply(definition)
    run_id = await engine.start(definition["metadata"]["name"])
    run = await engine.wait(run_id)
    assert run.state == "succeeded"
    states = {s.id: s.state for s in run.steps}
    assert states == {"build": "succeeded", "side": "succeeded", "report": "succeeded", "on_failure": "skipped",
                      "plain": "succeeded", "after": "succeeded"}
    assert outputs(run, "report") == {"value": f"run {run_id} ended succeeded"}
    assert outputs(run, "plain") == {"value": "failed: []"}
    assert outputs(run, "after") == {"value": f"run {run_id} ended succeeded"}
    events = await engine.events(run_id)
    main_done = max(i for i, e in enumerate(events) if e.step_id in ("build", "side") and e.type == "step.succeeded")
    first_finally = min(i for i, e in enumerate(events) if e.step_id in ("report", "plain", "on_failure"))
    assert main_done < first_finally
    assert events[-1].type == "run.succeeded"
    skipped = next(e for e in events if e.step_id == "on_failure")
    assert skipped.type == "step.skipped" and "condition is false" in skipped.data["reason"]


async def test_a_failed_run_runs_its_failure_steps_and_stays_failed(engine) -> None:
    definition = with_finally(
        {"id": "ok", "uses": "core/noop"},
        {"id": "broken", "uses": "testkit/fail", "with": {"message": "no"}},
        final=[echo("report", "${{ run.state }} ${{ join(run.failed_steps, ',') }}", **{"if": "${{ failure() }}"}),
               echo("celebrate", "yay", **{"if": "${{ success() }}"}),
               echo("cancelled_only", "x", **{"if": "${{ cancelled() }}"}),
               echo("plain", "runs whatever happened")])
    run = await run_to_end(engine, definition)
    assert run.state == "failed"
    states = {s.id: s.state for s in run.steps}
    assert (states["report"], states["celebrate"], states["cancelled_only"], states["plain"]) == (
        "succeeded", "skipped", "skipped", "succeeded")
    assert outputs(run, "report") == {"value": "failed broken"}


async def test_a_failing_finally_step_fails_a_succeeding_run_and_skips_what_needs_it(engine) -> None:
    definition = with_finally(
        {"id": "ok", "uses": "core/noop"},
        final=[{"id": "cleanup", "uses": "testkit/fail", "with": {"message": "disk full"}},
               echo("needs_cleanup", "x", needs=["cleanup"]),
               echo("always_after", "${{ steps.cleanup.state }}", needs=["cleanup"], **{"if": "${{ always() }}"}),
               {"id": "flaky", "uses": "testkit/flaky", "with": {"succeed_on": 2, "journal": "fin-flaky.txt"},
                "retry": {"max_attempts": 2, "initial_interval": "10ms"}}])
    await engine.apply(definition)
    run_id = await engine.start(definition["metadata"]["name"])
    run = await engine.wait(run_id)
    assert run.state == "failed"
    steps = {s.id: s for s in run.steps}
    assert steps["cleanup"].state == "failed" and steps["cleanup"].error == "disk full"
    assert steps["needs_cleanup"].state == "skipped"
    assert steps["always_after"].state == "succeeded" and outputs(run, "always_after") == {"value": "failed"}
    assert steps["flaky"].state == "succeeded" and steps["flaky"].attempt == 2
    final = (await engine.events(run_id))[-1]
    assert final.type == "run.failed" and "cleanup" in final.data["failed_steps"]


async def test_an_optional_failing_finally_step_only_warns(engine) -> None:
    definition = with_finally({"id": "ok", "uses": "core/noop"},
                              final=[{"id": "notify", "uses": "testkit/fail", "optional": True}])
    assert (await run_to_end(engine, definition)).state == "succeeded_with_warnings"


async def test_cancel_hands_the_run_to_its_finally_steps_then_it_ends_cancelled(engine, services: Services) -> None:
    definition = with_finally(
        {"id": "slow", "uses": "testkit/slow", "with": {"seconds": 30, "journal": "fin-cancel.txt"}},
        {"id": "later", "uses": "core/noop", "needs": ["slow"]},
        final=[{"id": "cleanup", "uses": "testkit/slow", "if": "${{ cancelled() }}",
                "with": {"seconds": 0.5, "journal": "fin-cancel.txt"}},
               echo("report", "${{ run.state }}", needs=["cleanup"]),
               echo("on_success", "x", **{"if": "${{ success() }}"})])
    await engine.apply(definition)
    run_id = await engine.start(definition["metadata"]["name"])
    await engine.wait_step(run_id, "slow", "running")
    await asyncio.sleep(0.2)
    await control(engine, run_id, "cancel")
    during = await stored(engine, run_id)
    assert during.finalizing == RunState.CANCELLED.number and RunState.from_number(during.state) == "running"
    run = await engine.wait(run_id, timeout=10)
    assert run.state == "cancelled"
    states = {s.id: s.state for s in run.steps}
    assert states == {"slow": "cancelled", "later": "cancelled", "cleanup": "succeeded", "report": "succeeded",
                      "on_success": "skipped"}
    assert outputs(run, "report") == {"value": "cancelled"}
    assert journal(services, "fin-cancel.txt") == [f"start {run_id}/slow/1", f"cancelled {run_id}/slow/1",
                                                   f"start {run_id}/cleanup/1", f"done {run_id}/cleanup/1"]
    events = await engine.events(run_id)
    types = [(e.type, e.step_id) for e in events]
    finalizing = types.index(("run.finalizing", ""))
    assert types.index(("step.cancelled", "slow")) < finalizing < types.index(("step.started", "cleanup"))
    assert events[finalizing].data == {"state": "cancelled", "reason": "cancelled", "by": "op"}
    assert events[-1].type == "run.cancelled" and events[-1].data["by"] == "op"
    assert (await stored(engine, run_id)).finalizing == RunState.CANCELLED.number


async def test_a_second_cancel_stops_the_finally_steps(engine, services: Services) -> None:
    definition = with_finally(
        {"id": "slow", "uses": "core/sleep", "with": {"seconds": 30}},
        final=[{"id": "cleanup", "uses": "testkit/slow", "with": {"seconds": 30, "journal": "fin-twice.txt"}},
               echo("after", "x", needs=["cleanup"], **{"if": "${{ always() }}"})])
    await engine.apply(definition)
    run_id = await engine.start(definition["metadata"]["name"])
    await engine.wait_step(run_id, "slow", "running")
    await control(engine, run_id, "cancel")
    await engine.wait_step(run_id, "cleanup", "running")
    await asyncio.sleep(0.2)
    began = time.monotonic()
    await control(engine, run_id, "cancel")
    run = await engine.wait(run_id, timeout=5)
    assert run.state == "cancelled" and time.monotonic() - began < 1.0
    assert {s.id: s.state for s in run.steps} == {"slow": "cancelled", "cleanup": "cancelled", "after": "cancelled"}
    await asyncio.sleep(0.3)
    assert f"cancelled {run_id}/cleanup/1" in journal(services, "fin-twice.txt")
    assert [e.type for e in await engine.events(run_id)].count("run.finalizing") == 1


async def test_a_cancel_of_a_paused_run_still_runs_its_finally_steps(engine) -> None:
    definition = with_finally({"id": "first", "uses": "core/sleep", "with": {"seconds": 0.3}},
                              {"id": "second", "uses": "core/noop", "needs": ["first"]},
                              final=[echo("report", "${{ run.state }}")])
    await engine.apply(definition)
    run_id = await engine.start(definition["metadata"]["name"])
    await engine.wait_step(run_id, "first", "running")
    await control(engine, run_id, "pause")
    await engine.wait(run_id, {"paused"})
    await control(engine, run_id, "cancel")
    run = await engine.wait(run_id)
    assert run.state == "cancelled" and outputs(run, "report") == {"value": "cancelled"}


async def test_pause_holds_back_the_next_finally_step_and_resume_goes_on(engine) -> None:
    definition = with_finally({"id": "quick", "uses": "core/noop"},
                              final=[{"id": "first", "uses": "core/sleep", "with": {"seconds": 0.4}},
                                     echo("second", "${{ run.state }}", needs=["first"])])
    await engine.apply(definition)
    run_id = await engine.start(definition["metadata"]["name"])
    await engine.wait_step(run_id, "first", "running")
    await control(engine, run_id, "pause")
    await engine.wait_step(run_id, "first", "succeeded")
    await asyncio.sleep(0.3)
    run = await engine.run(run_id)
    assert run.state == "paused" and next(s for s in run.steps if s.id == "second").state == "pending"
    await control(engine, run_id, "resume")
    run = await engine.wait(run_id)
    assert run.state == "succeeded" and outputs(run, "second") == {"value": "succeeded"}


async def test_after_a_run_timeout_the_finally_steps_run_with_their_own_timeout_and_the_run_fails(engine) -> None:
    definition = with_finally(
        {"id": "nap", "uses": "core/sleep", "with": {"seconds": 30}},
        final=[echo("report", "${{ run.state }}", **{"if": "${{ failure() }}"}),
               echo("on_cancel", "x", **{"if": "${{ cancelled() }}"}),
               {"id": "longer", "uses": "core/sleep", "with": {"seconds": 0.6}},  # outlives the run timeout
               {"id": "stuck", "uses": "core/sleep", "with": {"seconds": 30}, "timeout": "300ms", "optional": True}],
        timeout="400ms")
    await engine.apply(definition)
    run_id = await engine.start(definition["metadata"]["name"])
    run = await engine.wait(run_id, timeout=10)
    assert run.state == "failed"
    steps = {s.id: s for s in run.steps}
    assert {i: s.state for i, s in steps.items()} == {"nap": "cancelled", "report": "succeeded",
                                                      "on_cancel": "skipped", "longer": "succeeded",
                                                      "stuck": "failed"}
    assert outputs(run, "report") == {"value": "failed"}
    assert "timed out after 0.3s" in steps["stuck"].error
    events = await engine.events(run_id)
    finalizing = next(e for e in events if e.type == "run.finalizing")
    assert finalizing.data["state"] == "failed" and "timed out" in finalizing.data["reason"]
    assert finalizing.data["by"] == "engine"
    assert events[-1].type == "run.failed" and "timed out" in events[-1].data["reason"]


async def test_a_run_timeout_during_the_finally_steps_of_a_normal_end_fails_it_and_lets_them_finish(engine) -> None:
    definition = with_finally({"id": "quick", "uses": "core/noop"},
                              final=[{"id": "slow_cleanup", "uses": "core/sleep", "with": {"seconds": 0.8}},
                                     echo("report", "${{ run.state }}", needs=["slow_cleanup"])],
                              timeout="300ms")
    run = await run_to_end(engine, definition)
    assert run.state == "failed"
    assert {s.id: s.state for s in run.steps} == {"quick": "succeeded", "slow_cleanup": "succeeded",
                                                 "report": "succeeded"}
    assert outputs(run, "report") == {"value": "failed"}


@pytest.mark.parametrize(("by", "ends"), [("cancel", "cancelled"), ("timeout", "failed")])
async def test_a_takeover_mid_finally_continues_the_finally_steps_and_ends_as_handed_over(
        services: Services, nats_server: str, by: str, ends: str) -> None:
    definition = with_finally(
        {"id": "main", "uses": "core/sleep", "with": {"seconds": 30}},
        final=[{"id": "done_first", "uses": "testkit/echo", "with": {"value": "1"}},
               {"id": "cleanup", "uses": "testkit/slow", "needs": ["done_first"],
                "with": {"seconds": 1.5, "journal": f"fin-takeover-{by}.txt"}},
               echo("report", "${{ run.state }}", needs=["cleanup"])],
        **({"timeout": "500ms"} if by == "timeout" else {}))
    async with replica(services, nats_server, owner=f"first-{free_port()}", lease_seconds=1.5) as first:
        await first.apply(definition)
        run_id = await first.start(definition["metadata"]["name"])
        await first.wait_step(run_id, "main", "running")
        if by == "cancel":
            await control(first, run_id, "cancel")
        await first.wait_step(run_id, "cleanup", "running")
    # the first replica is gone mid-finally; the second takes the run over from storage
    async with replica(services, nats_server, owner=f"second-{free_port()}", lease_seconds=1.5) as second:
        run = await second.wait(run_id, timeout=20)
    assert run.state == ends
    steps = {s.id: s for s in run.steps}
    assert (steps["main"].state, steps["main"].attempt) == ("cancelled", 1)
    assert (steps["done_first"].state, steps["done_first"].attempt) == ("succeeded", 1)  # not run again
    assert (steps["cleanup"].state, steps["cleanup"].attempt) == ("succeeded", 2)
    assert outputs(run, "report") == {"value": ends}
    assert f"done {run_id}/cleanup/2" in journal(services, f"fin-takeover-{by}.txt")
    assert [e.type for e in await second.events(run_id)].count("run.finalizing") == 1


async def test_retry_from_failure_runs_the_finally_steps_again_after_the_retried_steps(engine) -> None:
    definition = with_finally(
        {"id": "fragile", "uses": "testkit/flaky", "with": {"succeed_on": 2, "journal": "fin-retry.txt"}},
        final=[echo("report", "${{ run.state }}", **{"if": "${{ always() }}"}),
               echo("on_success", "shipped", **{"if": "${{ success() }}"})])
    await engine.apply(definition)
    run_id = await engine.start(definition["metadata"]["name"])
    run = await engine.wait(run_id)
    assert run.state == "failed" and outputs(run, "report") == {"value": "failed"}
    await control(engine, run_id, "retry")
    run = await engine.wait(run_id)
    steps = {s.id: s for s in run.steps}
    assert run.state == "succeeded"
    assert (steps["fragile"].attempt, steps["report"].attempt, steps["on_success"].state) == (2, 2, "succeeded")
    assert outputs(run, "report") == {"value": "succeeded"}
    events = await engine.events(run_id)
    retried = max(i for i, e in enumerate(events) if e.type == "step.succeeded" and e.step_id == "fragile")
    assert retried < max(i for i, e in enumerate(events) if e.type == "step.started" and e.step_id == "report")


async def test_retry_of_a_cancelled_run_forgets_the_hand_over_and_can_succeed(engine) -> None:
    definition = with_finally({"id": "nap", "uses": "core/sleep", "with": {"seconds": "${{ params.s }}"}},
                              final=[echo("report", "${{ run.state }}")],
                              parameters={"type": "object", "properties": {"s": {"type": "number"}}})
    await engine.apply(definition)
    run_id = await engine.start(definition["metadata"]["name"], {"s": 0.5})
    await engine.wait_step(run_id, "nap", "running")
    await control(engine, run_id, "cancel")
    run = await engine.wait(run_id)
    assert run.state == "cancelled" and outputs(run, "report") == {"value": "cancelled"}
    await control(engine, run_id, "retry")
    run = await engine.wait(run_id)
    assert run.state == "succeeded" and outputs(run, "report") == {"value": "succeeded"}
    assert {s.id: s.attempt for s in run.steps} == {"nap": 2, "report": 2}
    assert (await stored(engine, run_id)).finalizing == 0


async def test_retry_of_a_run_failed_by_its_finally_step_runs_only_the_finally_steps(engine) -> None:
    definition = with_finally(
        {"id": "build", "uses": "testkit/echo", "with": {"value": "b"}},
        final=[{"id": "publish", "uses": "testkit/flaky", "with": {"succeed_on": 2, "journal": "fin-retry2.txt"}}])
    await engine.apply(definition)
    run_id = await engine.start(definition["metadata"]["name"])
    assert (await engine.wait(run_id)).state == "failed"
    await control(engine, run_id, "retry")
    run = await engine.wait(run_id)
    assert run.state == "succeeded"
    assert {s.id: s.attempt for s in run.steps} == {"build": 1, "publish": 2}
    assert (await stored(engine, run_id)).finalizing == 0


async def test_rerun_from_a_main_step_runs_the_finally_steps_again_and_from_a_finally_step_only_those(
        engine) -> None:
    definition = with_finally({"id": "a", "uses": "core/noop"}, {"id": "b", "uses": "core/noop"},
                              final=[echo("f1", "1"), echo("f2", "2", needs=["f1"]), echo("f3", "3")])
    await engine.apply(definition)
    run_id = await engine.start(definition["metadata"]["name"])
    await engine.wait(run_id)
    await control(engine, run_id, "rerun", step_id="a")
    run = await engine.wait(run_id)
    assert {s.id: s.attempt for s in run.steps} == {"a": 2, "b": 1, "f1": 2, "f2": 2, "f3": 2}
    await control(engine, run_id, "rerun", step_id="f1")
    run = await engine.wait(run_id)
    assert run.state == "succeeded"
    assert {s.id: s.attempt for s in run.steps} == {"a": 2, "b": 1, "f1": 3, "f2": 3, "f3": 2}


# ----- validation ---------------------------------------------------------------------------------------


def problems(definition: dict[str, Any]) -> dict[str, str]:
    return {p.pointer: p.message for p in validate_definition(definition, CORE_STEP_TYPES.get)}


def test_finally_ids_are_unique_across_steps_and_finally() -> None:
    found = problems(with_finally({"id": "a", "uses": "core/noop"},
                                  final=[{"id": "a", "uses": "core/noop"}, {"id": "b", "uses": "core/noop"},
                                         {"id": "b", "uses": "core/noop"}]))
    assert found["/spec/finally/0/id"] == "duplicate step id 'a' (used by spec.steps/0)"
    assert found["/spec/finally/2/id"] == "duplicate step id 'b' (first used by finally step 1)"


def test_finally_needs_name_only_finally_steps_and_main_steps_cannot_need_them() -> None:
    found = problems(with_finally(
        {"id": "a", "uses": "core/noop", "needs": ["f"]},
        final=[{"id": "f", "uses": "core/noop", "needs": ["a", "ghost"]},
               {"id": "g", "uses": "core/noop", "needs": ["h"]}, {"id": "h", "uses": "core/noop", "needs": ["g"]}]))
    assert found["/spec/steps/0/needs/0"].startswith("needs finally step 'f'")
    assert found["/spec/finally/0/needs/0"].startswith("needs step 'a' of spec.steps")
    assert found["/spec/finally/0/needs/1"] == "needs unknown finally step 'ghost'"
    assert any(key.startswith("/spec/finally/") and message.startswith("cycle: ")
               for key, message in found.items())


def test_finally_steps_are_checked_like_steps_and_may_neither_wait_for_a_person_nor_fan_out() -> None:
    found = problems(with_finally({"id": "a", "uses": "core/noop"},
                                  final=[{"id": "f", "uses": "nope/missing"},
                                         {"id": "g", "uses": "core/sleep", "with": {"seconds": "soon"}},
                                         {"id": "gate", "uses": "core/approval"},
                                         {"id": "fan", "uses": "core/noop", "for_each": [1, 2]}]))
    assert "unknown step type 'nope/missing'" in found["/spec/finally/0/uses"]
    assert "/spec/finally/1/with/seconds" in found
    assert found["/spec/finally/2/uses"] == "a finally step cannot wait for a person (core/approval)"
    assert found["/spec/finally/3/for_each"] == "a finally step cannot fan out (for_each)"


def test_finally_references_see_every_main_step_their_needs_and_the_run_outcome() -> None:
    good = with_finally(
        {"id": "a", "uses": "core/noop"},
        final=[{"id": "f", "uses": "core/sleep", "if": "${{ failure() || steps.a.state == 'failed' }}",
                "with": {"seconds": "${{ length(run.failed_steps) }}"}},
               {"id": "g", "uses": "core/sleep", "needs": ["f"], "if": "${{ run.state != 'cancelled' }}",
                "with": {"seconds": "${{ steps.f.outputs.slept }}"}}])
    assert problems(good) == {}
    found = problems(with_finally(
        {"id": "a", "uses": "core/noop", "if": "${{ run.state == 'failed' }}"},
        final=[{"id": "f", "uses": "core/sleep",
                "with": {"seconds": "${{ steps.g.outputs.slept }}"}},
               {"id": "g", "uses": "core/sleep", "with": {"seconds": "${{ run.owner }} ${{ steps.nope.state }}"}},
               {"id": "h", "uses": "core/sleep", "with": {"seconds": "${{ always() }}"}}]))
    assert "run has only id, workflow, version, dry_run" in found["/spec/steps/0/if"]
    assert found["/spec/finally/0/with/seconds"] == (
        "steps.g.outputs.slept: step 'g' is not upstream of 'f' (add it to needs)")
    assert found["/spec/finally/1/with/seconds"] == "steps.nope.state: no step 'nope'"  # after run.owner's:
    assert any(p.message.startswith("run.owner: run has only") for p in validate_definition(
        with_finally({"id": "a", "uses": "core/noop"}, final=[{"id": "g", "uses": "core/noop", "if": "run.owner"}]),
        CORE_STEP_TYPES.get))
    assert found["/spec/finally/2/with/seconds"] == "always() is only available in if: conditions"
    unknown = problems(with_finally({"id": "a", "uses": "core/noop"},
                                    final=[{"id": "g", "uses": "core/noop", "if": "${{ steps.nope.state == 'x' }}"}]))
    assert unknown == {"/spec/finally/0/if": "steps.nope.state: no step 'nope'"}
