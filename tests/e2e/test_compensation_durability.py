"""Compensation survives a crash: the engine SIGKILLed mid-unwind; the restarted engine goes on with the
unwind and no compensation runs to its end twice: a finished one is never started again, and the one in
flight (which the plugin host cancelled when the engine's call went away) is delivered again under the
same idempotency key and finishes once."""

from __future__ import annotations

import asyncio
import collections

import pytest
from vwmp_cli.up import Platform
from vwmp_common.states import EventType, RunState, StepState

from .conftest import Driver
from .test_durability import assert_gapless, journal

pytestmark = pytest.mark.e2e


def undone(step_id: str, seconds: float, **more: object) -> dict[str, object]:
    return {"id": step_id, "uses": "testkit/echo", "with": {"value": step_id},
            "compensate": {"uses": "testkit/slow", "with": {"seconds": seconds, "journal": "undo.txt"}}, **more}


async def test_a_sigkilled_engine_mid_unwind_is_finished_without_running_a_compensation_twice(
        grpc_platform: Platform) -> None:
    driver = Driver(grpc_platform)
    await driver.apply("unwind-crash", [undone("first", 0), undone("second", 3, needs=["first"]),
                                        undone("third", 0, needs=["second"]),
                                        {"id": "boom", "uses": "testkit/fail", "needs": ["third"]}])
    run_id = await driver.start("unwind-crash")
    async with asyncio.timeout(30):  # third is undone, second's compensation is under way
        while f"start {run_id}/second/compensate/1" not in journal(grpc_platform, "undo.txt"):
            await asyncio.sleep(0.05)
    grpc_platform.kill("engine")  # SIGKILL mid-unwind
    grpc_platform.services["engine"].process.wait(timeout=5)
    stopped = await driver.run(run_id)
    assert RunState.from_number(stopped.state) == RunState.RUNNING
    assert {s.id: StepState.from_number(s.state) for s in stopped.steps}["third"] == StepState.COMPENSATED
    grpc_platform.restart("engine")
    run = await driver.wait(run_id, timeout=60)
    assert RunState.from_number(run.state) == RunState.FAILED and run.compensated == "true"
    assert {s.id: StepState.from_number(s.state) for s in run.steps} == {
        "first": "compensated", "second": "compensated", "third": "compensated", "boom": "failed"}
    lines = journal(grpc_platform, "undo.txt")
    assert lines.count(f"start {run_id}/third/compensate/1") == 1  # finished before the crash: not again
    assert lines.count(f"start {run_id}/first/compensate/1") == 1
    assert lines.count(f"cancelled {run_id}/second/compensate/1") == 1  # in flight at the crash, run again
    done = collections.Counter(line for line in lines if line.startswith("done "))
    assert done == {f"done {run_id}/third/compensate/1": 1, f"done {run_id}/second/compensate/1": 1,
                    f"done {run_id}/first/compensate/1": 1}, lines  # none finished twice
    assert lines.index(f"done {run_id}/second/compensate/1") < lines.index(f"start {run_id}/first/compensate/1")
    events = await driver.events(run_id)
    assert_gapless(events)
    counted = collections.Counter((e.type, e.step_id) for e in events)
    assert all(counted[(EventType.STEP_COMPENSATED.number, step)] == 1 for step in ("first", "second", "third"))
    assert counted[(EventType.RUN_FAILED.number, "")] == 1
