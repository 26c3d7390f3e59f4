"""A 1,000-item for_each of plugin steps on the real processes, and its engine SIGKILLed mid-fan-out."""

from __future__ import annotations

import asyncio
import collections

import pytest
from vwmp_cli.up import Platform
from vwmp_common.states import EventType, RunState, StepState
from vwmp_proto.storage.v1 import storage_pb2

from .conftest import Driver
from .test_durability import assert_gapless, journal

pytestmark = pytest.mark.e2e
ITEMS = 1000


async def test_a_thousand_item_fan_out_completes_and_survives_a_sigkilled_engine(grpc_platform: Platform) -> None:
    driver = Driver(grpc_platform)
    await driver.apply("fan-noop", [{"id": "each", "uses": "hello/noop", "for_each": list(range(ITEMS)),
                                     "max_parallel": 50}])
    run = await driver.wait(await driver.start("fan-noop"), timeout=60)
    assert run.state == RunState.SUCCEEDED.number
    assert sum(step.parent == "each" and step.state == StepState.SUCCEEDED.number for step in run.steps) == ITEMS

    await driver.apply("fan-crash", [{"id": "nap", "uses": "testkit/slow", "for_each": [0.1] * ITEMS,
                                      "max_parallel": 50, "with": {"seconds": "${{ item }}", "journal": "fan.txt"}}])
    run_id = await driver.start("fan-crash")
    async with asyncio.timeout(60):
        while sum(s.state == StepState.SUCCEEDED.number for s in (await driver.run(run_id)).steps) < 150:
            await asyncio.sleep(0.05)
    grpc_platform.kill("engine")  # SIGKILL with items in flight
    grpc_platform.services["engine"].process.wait(timeout=5)
    finished = {s.id for s in (await driver.run(run_id)).steps if s.state == StepState.SUCCEEDED.number}
    assert 150 <= len(finished) < ITEMS, "the engine was killed mid-fan-out"
    grpc_platform.restart("engine")
    run = await driver.wait(run_id, timeout=120)
    assert run.state == RunState.SUCCEEDED.number
    events = list((await driver.storage.ListEvents(storage_pb2.ListEventsRequest(run_id=run_id, limit=100_000))).events)
    assert_gapless(events)
    succeeded = collections.Counter(e.step_id for e in events if e.type == EventType.STEP_SUCCEEDED.number)
    assert set(succeeded.values()) == {1} and len(succeeded) == ITEMS + 1, "no item succeeds twice"
    starts = collections.Counter(line.split()[1].split("/")[1] for line in journal(grpc_platform, "fan.txt")
                                 if line.startswith("start "))
    assert {step_id: starts[step_id] for step_id in finished if starts[step_id] != 1} == {}, \
        "an item finished before the kill ran again"
    assert len({s.id for s in run.steps}) == ITEMS + 1  # expanded once
