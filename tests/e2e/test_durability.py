"""Crash and takeover: real processes, SIGKILL, storage checked afterwards."""

from __future__ import annotations

import asyncio
import collections
import json
from pathlib import Path

import pytest
from vwmp_cli.up import Platform
from vwmp_common.clients import engine_client
from vwmp_common.ports import free_port
from vwmp_common.states import EventType, RunState

from .conftest import Driver, platform_env

pytestmark = pytest.mark.e2e


def journal(platform: Platform, name: str) -> list[str]:
    path = platform.workspace / name
    return path.read_text().splitlines() if path.exists() else []


def assert_gapless(events: list) -> None:
    assert [e.seq for e in events] == list(range(1, len(events) + 1))


async def test_a_sigkilled_engine_run_is_finished_by_the_restarted_engine(grpc_platform: Platform) -> None:
    driver = Driver(grpc_platform)
    steps = [{"id": f"s{i}", "uses": "testkit/slow", "with": {"seconds": 0.4, "journal": "crash.txt"},
              **({"needs": [f"s{i - 1}"]} if i else {})} for i in range(6)]
    await driver.apply("crashy", steps)
    run_id = await driver.start("crashy")
    async with asyncio.timeout(20):
        while not any(line.startswith(f"start {run_id}/s2/") for line in journal(grpc_platform, "crash.txt")):
            await asyncio.sleep(0.05)
    grpc_platform.kill("engine")  # SIGKILL in the middle of s2
    grpc_platform.services["engine"].process.wait(timeout=5)
    grpc_platform.restart("engine")
    run = await driver.wait(run_id, timeout=60)
    assert run.state == RunState.SUCCEEDED.number
    events = await driver.events(run_id)
    assert_gapless(events)
    succeeded = collections.Counter(e.step_id for e in events if e.type == EventType.STEP_SUCCEEDED.number)
    assert succeeded == {f"s{i}": 1 for i in range(6)}, "no step completes twice"
    done = collections.Counter(line.split()[1].split("/")[1] for line in journal(grpc_platform, "crash.txt")
                               if line.startswith("done "))
    assert done == {f"s{i}": 1 for i in range(6)}
    assert next(s for s in run.steps if s.id == "s2").attempt == 2  # re-dispatched as a new attempt


async def test_a_killed_plugin_host_gets_the_step_again_or_retries_it_never_stuck(grpc_platform: Platform) -> None:
    driver = Driver(grpc_platform)
    await driver.apply("host-dies", [{"id": "slow", "uses": "testkit/slow", "with": {"seconds": 2, "journal": "h.txt"},
                                      "retry": {"max_attempts": 10, "backoff": "fixed", "initial_interval": "500ms"}}])
    run_id = await driver.start("host-dies")
    async with asyncio.timeout(20):
        while not journal(grpc_platform, "h.txt"):
            await asyncio.sleep(0.05)
    grpc_platform.kill("plugin-host")
    grpc_platform.services["plugin-host"].process.wait(timeout=5)
    grpc_platform.restart("plugin-host")
    run = await driver.wait(run_id, timeout=60)
    assert run.state == RunState.SUCCEEDED.number
    lines = journal(grpc_platform, "h.txt")
    done = [line.split()[1] for line in lines if line.startswith("done ")]
    assert len(done) == 1, lines
    events = await driver.events(run_id)
    retrying = [json.loads(e.data_json) for e in events if e.type == EventType.STEP_RETRYING.number]
    if run.steps[0].attempt == 1:
        # The host came back within the engine's wait: the same attempt was delivered again, same key.
        assert [line.split()[1] for line in lines if line.startswith("start ")] == [done[0], done[0]], lines
        assert not retrying
    else:  # it came back later: the attempt failed as gone away and a retry (a new key) finished the step
        assert retrying and "plugin host" in retrying[0]["error"]


async def test_two_engine_replicas_over_postgresql_never_run_a_step_attempt_twice(
    tmp_path: Path, postgres_url: str
) -> None:
    platform = Platform(env=platform_env(tmp_path, VWMP_DATABASE_URL=postgres_url, VWMP_ENGINE_ID="engine-a",
                                         VWMP_ENGINE_LEASE_SECONDS="10"))
    second_port = free_port()
    platform.add("engine", "engine-b", {"VWMP_ENGINE_PORT": str(second_port), "VWMP_ENGINE_ID": "engine-b"})
    platform.start(only=("storage", "plugin-host", "engine"))
    try:
        driver = Driver(platform)
        engines = [driver.engine, engine_client(f"127.0.0.1:{second_port}")]
        steps = [{"id": f"s{i}", "uses": "testkit/flaky", "with": {"succeed_on": 1, "journal": "twice.txt"},
                  **({"needs": [f"s{i - 1}"]} if i else {})} for i in range(3)]
        await driver.apply("shared", steps)
        run_ids = await asyncio.gather(*(driver.start("shared", engines[i % 2]) for i in range(200)))
        runs = await asyncio.gather(*(driver.wait(run_id, timeout=180) for run_id in run_ids))
        assert {run.state for run in runs} == {RunState.SUCCEEDED.number}
        keys = [line.split()[1] for line in journal(platform, "twice.txt")]
        assert [key for key, count in collections.Counter(keys).items() if count > 1] == []
        assert len(keys) == 600, "a step attempt ran again after a takeover"
        for log_name in ("engine.log", "engine-b.log"):  # both replicas took part
            assert "run created" in (platform.logs / log_name).read_text()
    finally:
        platform.stop()
