"""Schedules on real processes: two engine replicas over PostgreSQL, one SIGKILLed, every tick fired once.

An `every: 2s` schedule runs for a while on two replicas; one is SIGKILLed mid-way and never
restarted. The runs' ticks (trigger.at, which is also the dedupe key) are 2 s apart from the first
to the last: no tick twice, none missed, the dead replica's runs finished by the other one.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from datetime import timedelta
from pathlib import Path

import pytest
from vwmp_cli.up import Platform
from vwmp_common.ports import free_port
from vwmp_common.states import EventType, RunState
from vwmp_common.timeutil import from_timestamp
from vwmp_proto.storage.v1 import storage_pb2

from .conftest import Driver, platform_env

pytestmark = pytest.mark.e2e
NAME = "nightly-ish"


async def scheduled(driver: Driver) -> list[storage_pb2.Run]:
    found = await driver.storage.ListRuns(storage_pb2.ListRunsRequest(workflow=NAME, trigger="tick", limit=500))
    return sorted(found.runs, key=lambda run: from_timestamp(run.trigger.at) or 0)  # type: ignore[arg-type, return-value]


@pytest.mark.timeout(180)
async def test_an_every_2s_schedule_fires_once_per_tick_on_two_replicas_while_one_is_sigkilled(
        tmp_path: Path, postgres_url: str) -> None:
    platform = Platform(env=platform_env(tmp_path, VWMP_DATABASE_URL=postgres_url, VWMP_ENGINE_ID="engine-a",
                                         VWMP_ENGINE_LEASE_SECONDS="3"))
    platform.add("engine", "engine-b", {"VWMP_ENGINE_PORT": str(free_port()), "VWMP_ENGINE_ID": "engine-b"})
    platform.start(only=("storage", "plugin-host", "engine"))
    try:
        driver = Driver(platform)
        definition = {"apiVersion": "vwmp/v1", "kind": "Workflow", "metadata": {"name": NAME},
                      "spec": {"parameters": {"type": "object", "properties": {"when": {"type": "string"}}},
                               "steps": [{"id": "work", "uses": "core/sleep", "with": {"seconds": 0.5}}],
                               "triggers": [{"id": "tick", "schedule": {"every": "2s"}, "overlap": "allow",
                                             "parameters": {"when": "${{ trigger.scheduled_at }}"}}]}}
        await driver.storage.CreateWorkflow(storage_pb2.CreateWorkflowRequest(
            name=NAME, definition_json=json.dumps(definition), created_by="e2e"))
        async with asyncio.timeout(60):
            while len(await scheduled(driver)) < 4:
                await asyncio.sleep(0.2)
        platform.kill("engine")  # engine-a: SIGKILL, never restarted
        platform.services["engine"].process.wait(timeout=5)
        killed_at = len(await scheduled(driver))
        async with asyncio.timeout(60):
            while len(await scheduled(driver)) < killed_at + 6:
                await asyncio.sleep(0.2)
        await driver.storage.ArchiveWorkflow(storage_pb2.ArchiveWorkflowRequest(name=NAME, actor="e2e"))
        await asyncio.sleep(2.5)  # a tick already under way when the archive landed may still be written
        runs = await scheduled(driver)

        ticks = [from_timestamp(run.trigger.at) for run in runs]
        assert len(set(ticks)) == len(ticks), "a tick fired twice"
        gaps = [b - a for a, b in itertools.pairwise(ticks)]  # type: ignore[operator]
        assert set(gaps) == {timedelta(seconds=2)}, f"ticks missed: {ticks}"
        assert all(json.loads(run.parameters_json)["when"].startswith(str(tick.date())) for run, tick in
                   zip(runs, ticks, strict=True))  # type: ignore[union-attr]
        finished = [await driver.wait(run.id, timeout=60) for run in runs]
        assert {RunState.from_number(run.state) for run in finished} == {RunState.SUCCEEDED}
        for run in finished:  # one run.queued and one end each: no tick started twice or left behind
            log = await driver.events(run.id)
            assert [e.seq for e in log] == list(range(1, len(log) + 1))
            assert [e.type for e in log].count(EventType.RUN_QUEUED.number) == 1
            assert [e.type for e in log].count(EventType.RUN_SUCCEEDED.number) == 1
        states = await driver.storage.ListTriggerStates(storage_pb2.ListTriggerStatesRequest(workflow=NAME))
        assert states.states[0].last_run_id in {run.id for run in runs}
    finally:
        platform.stop()
