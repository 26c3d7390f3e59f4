"""A plugin host that dies in the middle of a step (its own module: the host is killed for good)."""

from __future__ import annotations

import asyncio

import pytest
from vwmp_common.states import EventType

from .conftest import Replica, Services


@pytest.mark.timeout(60)
async def test_a_plugin_host_killed_mid_step_fails_the_step_as_gone_away_not_unreachable(
    engine: Replica, services: Services
) -> None:
    definition = {"apiVersion": "vwmp/v1", "kind": "Workflow", "metadata": {"name": "host-dies"}, "spec": {"steps": [
        {"id": "slow", "uses": "testkit/slow", "retry": {"max_attempts": 1}, "with": {"seconds": 30}}]}}
    await engine.apply(definition)
    run_id = await engine.start("host-dies")
    await engine.wait_step(run_id, "slow", "running")
    async with asyncio.timeout(10):
        while not (services.logs / "ws" / "journal.txt").exists() or f"start {run_id}" not in (
                services.logs / "ws" / "journal.txt").read_text():
            await asyncio.sleep(0.05)
    services.plugin_host.kill()
    services.plugin_host.wait(timeout=10)
    run = await engine.wait(run_id, timeout=30)
    assert run.state == "failed"
    slow = next(step for step in run.steps if step.id == "slow")
    assert slow.attempt == 1
    assert "went away during the step" in slow.error, slow.error
    assert "unreachable" not in slow.error and "no live" not in slow.error
    failed = [event for event in await engine.events(run_id) if event.type == EventType.STEP_FAILED]
    assert [event.data["kind"] for event in failed] == ["error"]
