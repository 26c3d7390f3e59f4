"""`finally` survives a crash: the engine SIGKILLed while a cancelled run's finally step runs; the
restarted engine finishes the finally steps and ends the run as it was handed over."""

from __future__ import annotations

import asyncio
import collections
import json

import pytest
from vwmp_cli.up import Platform
from vwmp_common.states import ControlAction, EventType, RunState
from vwmp_proto.engine.v1 import engine_pb2

from .conftest import Driver
from .test_durability import assert_gapless, journal

pytestmark = pytest.mark.e2e


async def test_a_sigkilled_engine_mid_finally_is_finished_by_the_restarted_engine(grpc_platform: Platform) -> None:
    driver = Driver(grpc_platform)
    await driver.apply("finally-crash", [{"id": "main", "uses": "testkit/slow", "with": {"seconds": 60,
                                                                                       "journal": "fin.txt"}}],
                       outputs={"cleaned": "${{ steps.cleanup.outputs.slept }}", "state": "${{ run.state }}"},
                       **{"finally": [{"id": "first", "uses": "testkit/echo", "with": {"value": "${{ run.state }}"}},
                                      {"id": "cleanup", "uses": "testkit/slow", "needs": ["first"],
                                       "with": {"seconds": 1, "journal": "fin.txt"}}]})
    run_id = await driver.start("finally-crash")
    async with asyncio.timeout(20):
        while f"start {run_id}/main/1" not in journal(grpc_platform, "fin.txt"):
            await asyncio.sleep(0.05)
    await driver.engine.ControlRun(engine_pb2.ControlRunRequest(run_id=run_id, action=ControlAction.CANCEL.number,
                                                                actor="e2e"))
    async with asyncio.timeout(20):
        while f"start {run_id}/cleanup/1" not in journal(grpc_platform, "fin.txt"):
            await asyncio.sleep(0.05)
    grpc_platform.kill("engine")  # SIGKILL while the finally step runs
    grpc_platform.services["engine"].process.wait(timeout=5)
    assert (await driver.run(run_id)).finalizing == RunState.CANCELLED.number
    grpc_platform.restart("engine")
    run = await driver.wait(run_id, timeout=60)
    assert run.state == RunState.CANCELLED.number
    steps = {s.id: s for s in run.steps}
    assert (steps["first"].attempt, steps["cleanup"].attempt) == (1, 2)
    assert json.loads(steps["first"].outputs_json) == {"value": "cancelled"}
    assert json.loads(run.outputs_json) == {"cleaned": 1, "state": "cancelled"}
    events = await driver.events(run_id)
    assert_gapless(events)
    counted = collections.Counter(e.type for e in events)
    assert counted[EventType.RUN_FINALIZING.number] == 1 and counted[EventType.RUN_CANCELLED.number] == 1
    assert f"done {run_id}/cleanup/2" in journal(grpc_platform, "fin.txt")
