"""PostgreSQL down for 30 s while runs execute: nothing fails, nothing runs twice, everything resumes by itself.

The whole platform (NATS, storage, two engine replicas, a plugin host, the gateway) runs as real processes
on a private PostgreSQL cluster of the test's own (`vwmp_testkit.postgres`), so stopping that server
leaves the machine's own untouched. Each replica executes half of the runs, so each could take over the
other's once storage answers again (every lease expired meanwhile): the hostile case of the claim grace.
"""

from __future__ import annotations

import asyncio
import collections
import time
from pathlib import Path

import httpx
import pytest
from vwmp_cli.up import Platform
from vwmp_common.clients import engine_client
from vwmp_common.ports import free_port
from vwmp_common.states import EventType, RunState
from vwmp_testkit.postgres import PostgresCluster

from .conftest import Driver, platform_env, running

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

OUTAGE_SECONDS = 30
RUNS = 6
STEPS = 4
STEP_SECONDS = 1.5
PROBE_PERIOD = 1.0


def journal(platform: Platform) -> list[str]:
    path = platform.workspace / "outage.txt"
    return path.read_text().splitlines() if path.exists() else []


async def probe(api: httpx.AsyncClient, run_id: str) -> list[tuple[str, httpx.Response]]:
    """What a user sees while the database is away: a status check, a run's page, a start."""
    return [
        ("GET /ready", await api.get("/ready")),
        ("GET /runs/{id}", await api.get(f"/runs/{run_id}")),
        ("POST /workflows/chain/runs", await api.post("/workflows/chain/runs", json={"parameters": {}})),
    ]


def assert_unavailable(what: str, response: httpx.Response) -> None:
    assert response.status_code == 503, f"{what}: {response.status_code} {response.text}"
    assert response.headers["content-type"].startswith("application/problem+json"), (what, response.headers)
    assert int(response.headers["retry-after"]) >= 1, (what, response.headers)
    assert response.json()["status"] == 503


@pytest.mark.timeout(240)  # the outage alone is 30 s; a busy machine doubles the rest
async def test_runs_ride_out_postgresql_down_for_30_seconds(tmp_path: Path) -> None:
    with PostgresCluster() as database:
        env = platform_env(tmp_path, VWMP_DATABASE_URL=database.url, VWMP_ENGINE_ID="engine-a")
        platform = Platform(env=env)
        second_port = free_port()
        platform.add("engine", "engine-b", {"VWMP_ENGINE_PORT": str(second_port), "VWMP_ENGINE_ID": "engine-b"})
        with running(platform):
            driver = Driver(platform)
            steps = [{"id": f"s{i}", "uses": "testkit/slow",
                      "with": {"seconds": STEP_SECONDS, "journal": "outage.txt"},
                      **({"needs": [f"s{i - 1}"]} if i else {})} for i in range(STEPS)]
            await driver.apply("chain", steps)
            token = platform.admin_token_file.read_text().strip()
            async with httpx.AsyncClient(base_url=f"{platform.url}/api/v1", timeout=30,
                                         headers={"Authorization": f"Bearer {token}"}) as api:
                assert (await api.get("/ready")).status_code == 200
                run_ids = []
                for _ in range(RUNS // 2):  # through the gateway: engine-a executes them
                    started = await api.post("/workflows/chain/runs", json={"parameters": {}})
                    assert started.status_code == 201, started.text
                    run_ids.append(started.json()["id"])
                engine_b = engine_client(f"127.0.0.1:{second_port}")  # and as many on engine-b
                run_ids += [await driver.start("chain", engine_b) for _ in range(RUNS - RUNS // 2)]
                async with asyncio.timeout(30):  # every run has a step in flight
                    while len({line.split()[1].split("/")[0] for line in journal(platform)}) < RUNS:
                        await asyncio.sleep(0.1)

                database.stop()
                down_at = time.monotonic()
                seen: list[tuple[str, httpx.Response]] = []
                while time.monotonic() - down_at < OUTAGE_SECONDS:
                    seen += await probe(api, run_ids[0])
                    await asyncio.sleep(PROBE_PERIOD)
                done_while_down = [line for line in journal(platform) if line.startswith("done ")]
                database.start()
                back_at = time.monotonic()

                for what, response in seen:
                    assert_unavailable(what, response)
                assert len(seen) >= 3 * 5, "the probes were answered all along"
                assert (await api.get("/health")).status_code == 200  # alive all along: nothing to restart
                assert done_while_down, "steps finished on the plugin host while the database was away"

                async with asyncio.timeout(20):  # back by itself: no restart, no operator
                    while (await api.get("/ready")).status_code != 200:
                        await asyncio.sleep(0.2)
                resumed_after = time.monotonic() - back_at

                runs = await asyncio.gather(*(driver.wait(run_id, timeout=90) for run_id in run_ids))
                assert [RunState.from_number(run.state) for run in runs] == [RunState.SUCCEEDED] * RUNS
                for run in runs:
                    events = await driver.events(run.id)
                    assert [e.seq for e in events] == list(range(1, len(events) + 1))
                    succeeded = collections.Counter(e.step_id for e in events
                                                    if e.type == EventType.STEP_SUCCEEDED.number)
                    assert succeeded == {f"s{i}": 1 for i in range(STEPS)}, run.id
                    assert [s.attempt for s in run.steps] == [1] * STEPS, f"{run.id}: a step was dispatched again"
                done = collections.Counter("/".join(line.split()[1].split("/")[:2])
                                           for line in journal(platform) if line.startswith("done "))
                assert [key for key, count in done.items() if count > 1] == [], "a step ran twice"
                assert len(done) == RUNS * STEPS

                after = await api.post("/workflows/chain/runs", json={"parameters": {}})
                assert after.status_code == 201, after.text
                finished = await driver.wait(after.json()["id"], timeout=60)
                assert finished.state == RunState.SUCCEEDED.number
                assert all(service.alive() for service in platform.services.values())
                engine_logs = "".join((platform.logs / f"{name}.log").read_text() for name in ("engine", "engine-b"))
                assert "storage answered a transition write sent again" in engine_logs  # the writes waited
                assert "lease lost" not in engine_logs  # no replica took a run from another
                assert resumed_after < 20
