"""End-to-end fixtures: every service as a real OS process, started by the same launcher as `make run`."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import time
import uuid
from collections.abc import AsyncIterator, Collection, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from vwmp_cli.up import Platform
from vwmp_common.clients import engine_client, storage_client
from vwmp_common.ports import free_port
from vwmp_common.states import TERMINAL_RUN_STATES, RunState
from vwmp_proto.engine.v1 import engine_pb2
from vwmp_proto.storage.v1 import storage_pb2

POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


def platform_env(root: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("VWMP_")}
    env.update(VWMP_DATA_DIR=str(root / "data"), VWMP_WORKSPACE_ROOT=str(root / "ws"),
               VWMP_HTTP_PORT=str(free_port()), VWMP_NATS_PORT=str(free_port()),
               VWMP_STORAGE_PORT=str(free_port()), VWMP_ENGINE_PORT=str(free_port()),
               VWMP_PLUGIN_HOST_PORT=str(free_port()), VWMP_PLUGINS="", VWMP_ENGINE_LEASE_SECONDS="2")
    env.update(extra)
    return env


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database on the machine's server, dropped afterwards."""
    name = f"vwmp_e2e_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Driver:
    """Talks gRPC to a running platform: apply workflows, start runs, wait, read events."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.storage = storage_client(f"127.0.0.1:{platform.env['VWMP_STORAGE_PORT']}")
        self.engine = engine_client(f"127.0.0.1:{platform.env['VWMP_ENGINE_PORT']}")

    async def apply(self, name: str, steps: list[dict[str, Any]], **spec: Any) -> None:
        definition = {"apiVersion": "vwmp/v1", "kind": "Workflow", "metadata": {"name": name},
                      "spec": {"steps": steps, **spec}}
        await self.storage.CreateWorkflow(storage_pb2.CreateWorkflowRequest(
            name=name, definition_json=json.dumps(definition), created_by="e2e"))

    async def start(self, name: str, engine: Any = None) -> str:
        response = await (engine or self.engine).StartRun(engine_pb2.StartRunRequest(workflow=name, actor="e2e"))
        assert not response.errors, list(response.errors)
        return response.run.id

    async def run(self, run_id: str) -> storage_pb2.Run:
        return await self.storage.GetRun(storage_pb2.GetRunRequest(id=run_id))

    async def wait(
        self, run_id: str, states: Collection[str] = TERMINAL_RUN_STATES, timeout: float = 60.0
    ) -> storage_pb2.Run:
        async with asyncio.timeout(timeout):
            while RunState.from_number((run := await self.run(run_id)).state) not in states:
                await asyncio.sleep(0.1)
        return run

    async def events(self, run_id: str) -> list[Any]:
        return list((await self.storage.ListEvents(storage_pb2.ListEventsRequest(run_id=run_id))).events)


@pytest.fixture
def grpc_platform(tmp_path: Path) -> Iterator[Platform]:
    """NATS, storage (SQLite), one plugin host with the test kit and one engine, as real processes."""
    with running(Platform(env=platform_env(tmp_path)), only=("storage", "plugin-host", "engine")) as platform:
        yield platform


def _wait_for_plugin_hosts(platform: Platform, timeout: float = 30.0) -> None:
    if "plugin-host" not in platform.services:
        return
    if "gateway" not in platform.services:
        if "engine" in platform.services:  # in a thread of its own: a test's event loop may be running
            with concurrent.futures.ThreadPoolExecutor(1) as thread:
                thread.submit(asyncio.run, _engine_sees_a_plugin_host(platform, timeout)).result()
        return
    headers = {"Authorization": f"Bearer {platform.admin_token_file.read_text().strip()}"}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            hosts = httpx.get(f"{platform.url}/api/v1/plugin-hosts", headers=headers, timeout=5)
            if hosts.status_code == 200 and any(host["step_types"] for host in hosts.json()["items"]):
                return
        time.sleep(0.1)
    raise TimeoutError(f"the engine saw no plugin host within {timeout:g} s")


async def _engine_sees_a_plugin_host(platform: Platform, timeout: float) -> None:
    engine = engine_client(f"127.0.0.1:{platform.env['VWMP_ENGINE_PORT']}",
                           service_token=platform.env.get("VWMP_SERVICE_TOKEN", ""))
    async with asyncio.timeout(timeout):
        while not any(host.step_types for host in
                      (await engine.ListPluginHosts(engine_pb2.ListPluginHostsRequest(), timeout=5)).hosts):
            await asyncio.sleep(0.1)


@contextlib.contextmanager
def running(platform: Platform, **start: Any) -> Iterator[Platform]:
    """Start a platform's processes and stop them whatever the test does.

    Started means serving, and with a gateway and a plugin host also that the engine sees the host
    (its announcement crossed NATS), so a test's first look at the palette or the templates is whole.
    """
    platform.start(**start)
    try:
        _wait_for_plugin_hosts(platform)
        yield platform
    finally:
        platform.stop()


@pytest.fixture
def token(platform: Platform) -> str:
    """The bootstrap admin token of the module's `platform` fixture."""
    return platform.admin_token_file.read_text().strip()


@pytest.fixture
async def api(platform: Platform, token: str) -> AsyncIterator[httpx.AsyncClient]:
    """A REST client of the module's platform at /api/v1, signed in as the admin."""
    async with httpx.AsyncClient(base_url=f"{platform.url}/api/v1", timeout=30,
                                 headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


@pytest.fixture
async def approver(api: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """A second person with the operator role: approval gates refuse the approval of the run's starter."""
    name = f"release-lead-{uuid.uuid4().hex[:8]}"
    created = await api.post("/tokens", json={"name": name, "role": "operator"})
    assert created.status_code == 201, created.text
    async with httpx.AsyncClient(base_url=str(api.base_url), timeout=30,
                                 headers={"Authorization": f"Bearer {created.json()['token']}"}) as client:
        yield client


async def approve_shown_plan(approver: httpx.AsyncClient, run_id: str, step_id: str = "approve",
                             **body: Any) -> httpx.Response:
    """What an approver does: read the gate's plan and approve exactly that one (its plan_digest)."""
    run = (await approver.get(f"/runs/{run_id}")).json()
    digest = next(s for s in run["steps"] if s["id"] == step_id)["outputs"]["plan_digest"]
    return await approver.post(f"/runs/{run_id}/steps/{step_id}/approve", json={"plan_digest": digest, **body})
