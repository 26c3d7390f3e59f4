"""Concurrency keys on real processes: releases of one repository run one after another.

Five releases of one repository are started at once; the release workflow's key
`release:${{ params.repo }}` makes them run one at a time, so each bumps the version the previous
one tagged and every tag carries its own version. Over PostgreSQL with two engine replicas, the
replica executing the release that holds the key is SIGKILLed mid-queue: the other one takes the
run over (the slot stays with it meanwhile) and the queue goes on, every release exactly once.

The release definition is the shipped template without its approval gate (and without the
changelog, KB and Kanban steps, which need a fresh [Unreleased] entry per release): branch check →
bump → commit → tag → push.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from vwmp_cli.up import Platform
from vwmp_common.clients import engine_client
from vwmp_common.ports import free_port
from vwmp_common.states import TERMINAL_RUN_STATES, EventType, RunState
from vwmp_plugin_release.templates import release_definition
from vwmp_proto.engine.v1 import engine_pb2
from vwmp_proto.storage.v1 import storage_pb2

from .conftest import Driver, platform_env, running
from .release_repo import Sample, git, git_env

pytestmark = pytest.mark.e2e
RELEASES = 5
KEPT = ("branch", "bump", "commit", "tag", "push")


def without_gate(definition: dict[str, Any], name: str) -> dict[str, Any]:
    """The release definition, renamed, reduced to branch → bump → commit → tag → push (no approval)."""
    definition = json.loads(json.dumps(definition))
    definition["metadata"]["name"] = name
    steps = {step["id"]: step for step in definition["spec"]["steps"]}
    steps["bump"]["needs"], steps["commit"]["needs"], steps["push"]["needs"] = ["branch"], ["bump"], ["tag"]
    definition["spec"]["steps"] = [steps[step_id] for step_id in KEPT]
    return definition


def check_tags(sample: Sample, tags: list[str]) -> None:
    """Distinct tags, increasing versions, each tag's version files carrying its own version, all pushed."""
    assert len(set(tags)) == RELEASES, tags
    versions = [tuple(int(part) for part in tag.removeprefix("v").split(".")) for tag in tags]
    assert versions == sorted(versions), f"the releases bumped out of order: {tags}"
    for tag in tags:
        version = tag.removeprefix("v")
        assert f'version = "{version}"' in git(sample.env, sample.work, "show", f"{tag}:pyproject.toml")
        assert f'__version__ = "{version}"' in git(sample.env, sample.work, "show", f"{tag}:src/shop/__init__.py")
    pushed = sample.remote_git("tag", "--list")
    assert sorted(pushed.split()) == sorted(tags)


def assert_one_after_another(spans: list[tuple[datetime, datetime, str]]) -> None:
    """No two runs' running intervals (run.started → run end) overlap."""
    spans = sorted(spans)
    for (_, ended, before), (began, _, after) in itertools.pairwise(spans):
        assert ended <= began, f"run {after} started at {began} while {before} ran until {ended}"


# ----- one platform (SQLite), over REST -----------------------------------------------------------------


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keyed")


@pytest.fixture(scope="module")
def platform(root: Path) -> Iterator[Platform]:
    env = git_env(root)
    with running(Platform(env=platform_env(root, **{k: env[k] for k in ("GIT_CONFIG_GLOBAL",
                                                                          "GIT_CONFIG_NOSYSTEM")}))) as platform:
        yield platform


async def events_of(api: httpx.AsyncClient, run_id: str) -> list[dict[str, Any]]:
    response = await api.get(f"/runs/{run_id}/events", params={"after": 0})
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


@pytest.mark.timeout(240)
async def test_five_keyed_releases_of_one_repository_run_one_after_another(
    platform: Platform, root: Path, api: httpx.AsyncClient
) -> None:
    sample = Sample(platform.workspace, root, "shop-keyed")
    templates = (await api.get("/templates")).json()["items"]
    template = next(t for t in templates if t["name"] == "python-release")["definition"]
    assert template["spec"]["concurrency"] == {"key": "release:${{ params.repo }}"}
    created = await api.post("/workflows", json=without_gate(template, "shop-keyed-release"))
    assert created.status_code == 201, created.text

    started = await asyncio.gather(*(
        api.post("/workflows/shop-keyed-release/runs", json={"parameters": {"repo": "shop-keyed", "part": "patch"}})
        for _ in range(RELEASES)))
    assert [response.status_code for response in started] == [201] * RELEASES, [r.text for r in started]
    runs = [response.json() for response in started]
    places = sorted(run["concurrency"]["position"] for run in runs)
    assert places == list(range(RELEASES)), places  # one holds the key at once, the others queue behind it
    assert {run["concurrency"]["key"] for run in runs} == {"release:shop-keyed"}
    waiting = next(run for run in runs if run["concurrency"]["position"] == 2)
    holder = next(run for run in runs if run["concurrency"]["position"] == 0)
    assert waiting["concurrency"]["blocked_by"] == [holder["id"]]

    finished = {}
    async with asyncio.timeout(200):
        while len(finished) < RELEASES:
            for run in runs:
                found = (await api.get(f"/runs/{run['id']}")).json()
                if found["state"] in TERMINAL_RUN_STATES:
                    finished[run["id"]] = found
            await asyncio.sleep(0.2)
    assert {run["state"] for run in finished.values()} == {"succeeded"}, [
        (run["id"], run["state"], [(s["id"], s["state"], s["error"]) for s in run["steps"]])
        for run in finished.values()]
    assert all(run["concurrency"]["position"] == 0 and run["concurrency"]["blocked_by"] == []
               for run in finished.values())

    spans, tags = [], []
    for run in runs:
        log = await events_of(api, run["id"])
        began = next(e for e in log if e["type"] == "run.started")
        ended = next(e for e in log if e["type"] == "run.succeeded")
        assert began["data"]["concurrency"] == {"key": "release:shop-keyed"}
        spans.append((datetime.fromisoformat(began["at"]), datetime.fromisoformat(ended["at"]), run["id"]))
        tag = next(s for s in finished[run["id"]]["steps"] if s["id"] == "tag")["outputs"]["name"]
        tags.append((began["at"], tag))
    assert_one_after_another(spans)
    in_order = [tag for _, tag in sorted(tags)]
    assert in_order == ["v0.4.2", "v0.4.3", "v0.4.4", "v0.4.5", "v0.4.6"]
    check_tags(sample, in_order)
    assert 'version = "0.4.6"' in (sample.work / "pyproject.toml").read_text()


# ----- two engine replicas over PostgreSQL, one SIGKILLed mid-queue -------------------------------------


async def start(engine: Any, name: str, repo: str) -> str:
    response = await engine.StartRun(engine_pb2.StartRunRequest(
        workflow=name, parameters_json=json.dumps({"repo": repo, "part": "patch"}), actor="e2e"))
    assert not response.errors, list(response.errors)
    return str(response.run.id)


def holding(postgres_url: str) -> tuple[str, str] | None:
    """The running keyed run and the replica whose lease it is under, read from storage's own table."""
    with psycopg.connect(postgres_url.replace("postgresql+psycopg://", "postgresql://")) as connection:
        row = connection.execute(
            "SELECT id, lease_owner FROM runs WHERE state = 'running' AND concurrency_key <> '' "
            "AND admitted_at IS NOT NULL AND lease_owner <> ''").fetchone()
    return (str(row[0]), str(row[1])) if row else None


@pytest.mark.timeout(300)
async def test_keyed_releases_survive_a_sigkilled_replica_over_postgresql(tmp_path: Path, postgres_url: str) -> None:
    env = git_env(tmp_path)
    platform = Platform(env=platform_env(tmp_path, VWMP_DATABASE_URL=postgres_url, VWMP_ENGINE_ID="engine-a",
                                         VWMP_ENGINE_LEASE_SECONDS="3",
                                         **{k: env[k] for k in ("GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM")}))
    second_port = free_port()
    platform.add("engine", "engine-b", {"VWMP_ENGINE_PORT": str(second_port), "VWMP_ENGINE_ID": "engine-b"})
    platform.start(only=("storage", "plugin-host", "engine"))
    try:
        sample = Sample(platform.workspace, tmp_path, "shop-pg")
        driver = Driver(platform)
        definition = without_gate(release_definition("shop-pg-release", "keyed", allowed=["main"],
                                                     parts=["patch"], default_part="patch"), "shop-pg-release")
        await driver.storage.CreateWorkflow(storage_pb2.CreateWorkflowRequest(
            name="shop-pg-release", definition_json=json.dumps(definition), created_by="e2e"))
        engines = {"engine-a": driver.engine, "engine-b": engine_client(f"127.0.0.1:{second_port}")}
        replicas = list(engines.values())
        run_ids = await asyncio.gather(*(start(replicas[i % 2], "shop-pg-release", "shop-pg")
                                         for i in range(RELEASES)))

        async with asyncio.timeout(120):  # mid-queue: one release done, the next one running
            while True:
                done = [RunState.from_number((await driver.run(r)).state) for r in run_ids]
                held = holding(postgres_url)
                if done.count(RunState.SUCCEEDED) >= 1 and held is not None:
                    break
                await asyncio.sleep(0.05)
        victim_run, victim = held
        platform.kill("engine" if victim == "engine-a" else "engine-b")
        platform.services["engine" if victim == "engine-a" else "engine-b"].process.wait(timeout=5)
        waiting = [r for r in run_ids if (await driver.run(r)).concurrency.position > 0]
        for run_id in waiting:  # the dead replica's run keeps the key until another replica takes it over
            assert list((await driver.run(run_id)).concurrency.blocked_by) == [victim_run]

        runs = [await driver.wait(run_id, timeout=200) for run_id in run_ids]
        assert [RunState.from_number(run.state) for run in runs] == [RunState.SUCCEEDED] * RELEASES, [
            [(s.id, s.error) for s in run.steps if s.error] for run in runs]
        spans, tags = [], []
        for run in runs:
            log = await driver.events(run.id)
            assert [e.seq for e in log] == list(range(1, len(log) + 1))
            ends = [e for e in log if e.type in (EventType.RUN_SUCCEEDED.number, EventType.RUN_FAILED.number,
                                                  EventType.RUN_CANCELLED.number)]
            assert len(ends) == 1, "every release ends exactly once"
            [began] = [e for e in log if e.type == EventType.RUN_STARTED.number]
            spans.append((began.at.ToDatetime(), ends[0].at.ToDatetime(), run.id))
            tag = json.loads(next(s for s in run.steps if s.id == "tag").outputs_json)["name"]
            tags.append((began.at.ToDatetime(), tag))
        assert_one_after_another(spans)
        check_tags(sample, [tag for _, tag in sorted(tags)])
        # The run whose replica died was finished by the other one (the dead one was never restarted).
        assert RunState.from_number((await driver.run(victim_run)).state) == RunState.SUCCEEDED
    finally:
        platform.stop()


# ----- cancel_pending and fail, through the gateway -----------------------------------------------------


def sleeper(name: str, on_conflict: str) -> dict[str, Any]:
    return {"apiVersion": "vwmp/v1", "kind": "Workflow", "metadata": {"name": name},
            "spec": {"parameters": {"type": "object", "properties": {"env": {"type": "string"}}},
                     "concurrency": {"key": "deploy:${{ params.env }}", "on_conflict": on_conflict},
                     "steps": [{"id": "work", "uses": "core/sleep", "with": {"seconds": 3}}]}}


async def test_cancel_pending_supersedes_the_waiting_runs_and_fail_refuses_with_409(
    platform: Platform, api: httpx.AsyncClient
) -> None:
    for name, rule in (("deploy-latest", "cancel_pending"), ("deploy-once", "fail")):
        assert (await api.post("/workflows", json=sleeper(name, rule))).status_code == 201
    body = {"parameters": {"env": "prod"}}
    holder, stale, newest = [(await api.post("/workflows/deploy-latest/runs", json=body)).json() for _ in range(3)]
    assert newest["concurrency"]["position"] == 1 and newest["concurrency"]["blocked_by"] == [holder["id"]]
    superseded = (await api.get(f"/runs/{stale['id']}")).json()
    assert superseded["state"] == "cancelled"
    last = (await events_of(api, stale["id"]))[-1]
    reason = f"superseded by run {newest['id']}"
    assert (last["type"], last["data"]) == ("run.cancelled", {"by": "admin", "reason": reason})

    refused = await api.post("/workflows/deploy-once/runs", json=body)  # the same key, held by `holder`
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["concurrency"] == {"key": "deploy:prod", "blocked_by": [holder["id"]]}
    async with asyncio.timeout(30):
        while (await api.get(f"/runs/{newest['id']}")).json()["state"] != "succeeded":
            await asyncio.sleep(0.2)
    assert (await api.get(f"/runs/{holder['id']}")).json()["state"] == "succeeded"
