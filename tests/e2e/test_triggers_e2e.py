"""Triggers on real processes.

An `every: 2s` schedule runs for a while on two engine replicas over PostgreSQL; one is SIGKILLed
mid-way and never restarted. The runs' ticks (trigger.at, which is also the dedupe key) are 2 s
apart from the first to the last: no tick twice, none missed, the dead replica's runs finished by
the other one. Then the whole platform (`vwmp up`'s processes) takes a signed GitHub push, a
redelivery, a bad signature, and chains a completion trigger A → B. Last, completion triggers on
two replicas over PostgreSQL: ends they handed over and ends written while both were SIGKILLed
each start exactly one run once they are back.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from vwmp_cli.up import Platform
from vwmp_common.clients import engine_client
from vwmp_common.ports import free_port
from vwmp_common.states import EventType, RunState, StepState
from vwmp_common.timeutil import from_timestamp
from vwmp_proto.storage.v1 import storage_pb2

from .conftest import Driver, platform_env, running

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


# ----- the whole platform: a GitHub webhook and a completion chain, over REST ---------------------------

HOOK_SECRET = "e2e-hook-secret"


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    root = tmp_path_factory.mktemp("triggers")
    with running(Platform(env=platform_env(root, VWMP_SECRET_E2E_HOOK=HOOK_SECRET))) as platform:
        yield platform


def workflow(name: str, triggers: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "vwmp/v1", "kind": "Workflow", "metadata": {"name": name},
            "spec": {"parameters": {"type": "object", "properties": {"ref": {"type": "string"},
                                                                     "after": {"type": "string"}}},
                     "steps": [{"id": "build", "uses": "core/noop"}], "triggers": triggers}}


async def wait_done(api: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    async with asyncio.timeout(30):
        while (run := (await api.get(f"/runs/{run_id}")).json())["state"] not in ("succeeded", "failed", "cancelled"):
            await asyncio.sleep(0.2)
    return dict(run)


@pytest.mark.timeout(120)
async def test_a_signed_github_push_starts_a_run_whose_end_starts_the_next_workflow(
        platform: Platform, api: httpx.AsyncClient) -> None:
    hook = {"id": "on-push", "webhook": {"provider": "github", "secret": "${{ secrets.E2E_HOOK }}",
                                         "filter": "${{ event.ref == 'refs/heads/main' }}"},
            "parameters": {"ref": "${{ event.ref }}"}}
    chained = {"id": "after-build", "on_run": {"workflow": "build", "states": ["succeeded"]},
               "parameters": {"after": "${{ trigger.run.id }}"}}
    assert (await api.post("/workflows", json=workflow("build", [hook]))).status_code == 201
    assert (await api.post("/workflows", json=workflow("publish", [chained]))).status_code == 201

    body = json.dumps({"ref": "refs/heads/main", "after": "a" * 40,
                       "repository": {"full_name": "acme/shop"}}).encode()
    signature = "sha256=" + hmac.new(HOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    delivery = {"Content-Type": "application/json", "X-GitHub-Event": "push",
                "X-GitHub-Delivery": "e2e-delivery-1", "X-Hub-Signature-256": signature}
    async with httpx.AsyncClient(base_url=f"{platform.url}/api/v1", timeout=30) as forge:  # no bearer token
        accepted = await forge.post("/hooks/build/on-push", content=body, headers=delivery)
        assert accepted.status_code == 202, accepted.text
        again = await forge.post("/hooks/build/on-push", content=body, headers=delivery)
        assert again.json()["id"] == accepted.json()["id"]
        forged = await forge.post("/hooks/build/on-push", content=body,
                                  headers={**delivery, "X-Hub-Signature-256": "sha256=" + "0" * 64})
        assert forged.status_code == 401
        assert forged.headers["content-type"].startswith("application/problem+json")
    build = await wait_done(api, accepted.json()["id"])
    assert build["state"] == "succeeded" and build["trigger"]["delivery"] == "e2e-delivery-1"

    chained_runs = {"workflow": "publish", "trigger": "on_run"}
    async with asyncio.timeout(30):
        while not (page := (await api.get("/runs", params=chained_runs)).json())["items"]:
            await asyncio.sleep(0.2)
    [publish] = page["items"]
    assert publish["trigger"]["run_id"] == build["id"] and publish["parameters"] == {"after": build["id"]}
    assert (await wait_done(api, publish["id"]))["state"] == "succeeded"
    audit = (await api.get("/audit", params={"limit": 200})).json()["items"]
    assert any(e["action"] == "webhook.deliver" and e["outcome"] == "denied" and e["target"] == "hooks/build/on-push"
               for e in audit)
    triggers = (await api.get("/workflows/build/triggers")).json()["items"]
    assert triggers[0]["last_run_id"] == build["id"]


# ----- completion triggers are durable: two engine replicas over PostgreSQL, SIGKILLed and back ---------


def _chained_pair() -> list[dict[str, Any]]:
    upstream = {"apiVersion": "vwmp/v1", "kind": "Workflow", "metadata": {"name": "upstream"},
                "spec": {"steps": [{"id": "work", "uses": "core/sleep", "with": {"seconds": 0.2}}]}}
    follower = {"apiVersion": "vwmp/v1", "kind": "Workflow", "metadata": {"name": "follower"},
                "spec": {"parameters": {"type": "object", "properties": {"after": {"type": "string"}}},
                         "steps": [{"id": "work", "uses": "core/noop"}],
                         "triggers": [{"id": "after-up", "on_run": {"workflow": "upstream",
                                                                    "states": ["succeeded", "cancelled"]},
                                       "parameters": {"after": "${{ trigger.run.id }}"}}]}}
    return [upstream, follower]


async def _followers(driver: Driver) -> list[storage_pb2.Run]:
    found = await driver.storage.ListRuns(storage_pb2.ListRunsRequest(workflow="follower", trigger="after-up",
                                                                      limit=500))
    return list(found.runs)


async def _cancelled_in_storage(driver: Driver) -> str:
    """A queued run cancelled as a control does while no replica executes it: a storage write, nobody told."""
    created = await driver.storage.CreateRun(storage_pb2.CreateRunRequest(
        workflow="upstream", parameters_json="{}", created_by="e2e",
        steps=[storage_pb2.StepRun(id="work", uses="core/sleep")]))
    await driver.storage.RecordTransitions(storage_pb2.RecordTransitionsRequest(run_id=created.id, transitions=[
        storage_pb2.Transition(event_type=EventType.STEP_CANCELLED.number, step_id="work",
                               step_state=StepState.CANCELLED.number, data_json='{"reason": "cancelled"}'),
        storage_pb2.Transition(event_type=EventType.RUN_CANCELLED.number, run_state=RunState.CANCELLED.number,
                               data_json='{"by": "e2e"}')]))
    return created.id


@pytest.mark.timeout(240)
async def test_completion_triggers_start_one_run_per_end_on_two_replicas_even_for_ends_no_engine_saw(
        tmp_path: Path, postgres_url: str) -> None:
    platform = Platform(env=platform_env(tmp_path, VWMP_DATABASE_URL=postgres_url, VWMP_ENGINE_ID="engine-a",
                                         VWMP_ENGINE_COMPLETION_SETTLE_SECONDS="2"))
    engine_b = free_port()
    platform.add("engine", "engine-b", {"VWMP_ENGINE_PORT": str(engine_b), "VWMP_ENGINE_ID": "engine-b"})
    platform.start(only=("storage", "plugin-host", "engine"))
    try:
        driver = Driver(platform)
        for definition in _chained_pair():
            await driver.storage.CreateWorkflow(storage_pb2.CreateWorkflowRequest(
                name=definition["metadata"]["name"], definition_json=json.dumps(definition), created_by="e2e"))
        replica_b = engine_client(f"127.0.0.1:{engine_b}")
        # Ends the engines write and hand over: the fast path of whichever replica ran each.
        ended = {await driver.start("upstream", engine=engine) for engine in [driver.engine, replica_b] * 3}
        for run_id in ended:
            await driver.wait(run_id)
        # The fast path follows an end just after it is written (a listener of the run's events), not with it.
        async with asyncio.timeout(30):
            while len(await _followers(driver)) < len(ended):
                await asyncio.sleep(0.1)
        # Both replicas SIGKILLed; ends written meanwhile reach no engine at all.
        for name in ("engine", "engine-b"):
            platform.kill(name)
            process = platform.services[name].process
            assert process is not None
            process.wait(timeout=10)
        unseen = {await _cancelled_in_storage(driver) for _ in range(5)}
        assert len(await _followers(driver)) == len(ended)
        for name in ("engine", "engine-b"):  # back at once: their sweeps race for the same ends
            platform.services[name].start(platform.env)
        async with asyncio.timeout(90):
            while len(await _followers(driver)) < len(ended | unseen):
                await asyncio.sleep(0.2)
        await asyncio.sleep(8.0)  # several sweeps of both replicas later: still one run per end
        found = await _followers(driver)
        assert sorted(run.trigger.run_id for run in found) == sorted(ended | unseen)
        assert {json.loads(run.parameters_json)["after"] for run in found} == ended | unseen
        finished = [await driver.wait(run.id, timeout=60) for run in found]
        assert {RunState.from_number(run.state) for run in finished} == {RunState.SUCCEEDED}
    finally:
        platform.stop()
