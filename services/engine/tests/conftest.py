"""Engine integration fixtures: real NATS, a real storage process and a real plugin host process.

The engine is a `vwmp_engine.Engine`, built from settings as `__main__` builds it, in the test's
event loop so tests can look inside (e.g. kill it mid-run); everything it talks to is a real OS
process over gRPC.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from vwmp_common.clients import engine_client, storage_client
from vwmp_common.ports import free_port
from vwmp_common.states import TERMINAL_RUN_STATES, EventType, RunState, StepState
from vwmp_common.timeutil import from_timestamp
from vwmp_engine import Engine
from vwmp_engine.controls import Controls
from vwmp_engine.leases import LeaseKeeper
from vwmp_engine.registry import StepTypeRegistry
from vwmp_engine.rpc import EngineService
from vwmp_engine.settings import EngineSettings
from vwmp_proto.engine.v1 import engine_pb2
from vwmp_proto.events.v1 import events_pb2
from vwmp_proto.storage.v1 import storage_pb2
from vwmp_proto.storage.v1.storage_pb2_grpc import StorageServiceStub
from vwmp_testkit.fixtures import own_nats_server

TERMINAL: set[str] = set(TERMINAL_RUN_STATES)


@dataclass(frozen=True)
class StepView:
    """A step run as storage sends it, with its state as the enum member and its times as datetimes."""

    id: str
    uses: str
    state: StepState
    attempt: int
    outputs_json: str
    error: str
    started_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True)
class RunView:
    """A run as storage sends it, readable in assertions (`run.state == "succeeded"`)."""

    id: str
    state: RunState
    dry_run: bool
    parameters_json: str
    last_seq: int
    started_at: datetime | None
    finished_at: datetime | None
    reopened_at: datetime | None
    steps: list[StepView]
    compensated: str = ""


@dataclass(frozen=True)
class EventView:
    """An event as storage stores it and NATS carries it, readable in assertions."""

    seq: int
    run_id: str
    type: EventType
    step_id: str
    attempt: int
    at: datetime | None
    data_json: str

    @property
    def data(self) -> dict[str, Any]:
        """The event's data, parsed."""
        parsed: dict[str, Any] = json.loads(self.data_json or "{}")
        return parsed


def run_view(m: storage_pb2.Run) -> RunView:
    return RunView(m.id, RunState.from_number(m.state), m.dry_run, m.parameters_json, m.last_seq,
                   from_timestamp(m.started_at), from_timestamp(m.finished_at), from_timestamp(m.reopened_at),
                   [StepView(s.id, s.uses, StepState.from_number(s.state), s.attempt, s.outputs_json, s.error,
                             from_timestamp(s.started_at), from_timestamp(s.finished_at)) for s in m.steps],
                   m.compensated)


def event_view(m: events_pb2.Event) -> EventView:
    return EventView(m.seq, m.run_id, EventType.from_number(m.type), m.step_id, m.attempt, from_timestamp(m.at),
                     m.data_json)
CANARY = "canary-s3cr3t-value"


def wait_serving(target: str, timeout: float = 60.0) -> None:
    channel = grpc.insecure_channel(target)
    try:
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=timeout,
                                                  wait_for_ready=True)
    finally:
        channel.close()


def start_process(module: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", module], env=env, stdout=out, stderr=subprocess.STDOUT)


@dataclass
class Services:
    env: dict[str, str]
    storage_target: str
    plugin_host: subprocess.Popen[bytes]
    logs: Path
    storage_metrics: str
    secrets_dir: Path


# This suite starts plugin hosts: a NATS server of its own keeps other suites' hosts out of its runs.
nats_server = own_nats_server("module")


@pytest.fixture(scope="module")
def services(nats_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    """Storage (SQLite) and one plugin host (every installed plugin) as real processes."""
    root = tmp_path_factory.mktemp("engine-it")
    storage_port, host_port = free_port(), free_port()
    env = {**os.environ, "VWMP_DATA_DIR": str(root / "data"), "VWMP_WORKSPACE_ROOT": str(root / "ws"),
           "VWMP_NATS_URL": nats_server, "VWMP_STORAGE_PORT": str(storage_port),
           "VWMP_PLUGIN_HOST_PORT": str(host_port), "VWMP_PLUGIN_HOST_ID": f"host-{host_port}"}
    (root / "ws").mkdir()
    (root / "secrets").mkdir()
    (root / "secrets" / "CANARY").write_text(CANARY + "\n")
    metrics_port = free_port()
    storage = start_process("vwmp_storage", {**env, "VWMP_METRICS_PORT": str(metrics_port)}, root / "storage.log")
    host = start_process("vwmp_plugin_host", env, root / "plugin-host.log")
    try:
        wait_serving(f"127.0.0.1:{storage_port}")
        wait_serving(f"127.0.0.1:{host_port}")
        yield Services(env, f"127.0.0.1:{storage_port}", host, root, f"http://127.0.0.1:{metrics_port}/metrics",
                       root / "secrets")
    finally:
        for process in (host, storage):
            process.terminate()
        for process in (host, storage):
            process.wait(timeout=10)


@dataclass
class Replica:
    """A running `Engine` in the test's loop, with helpers to drive runs through it."""

    engine: Engine
    storage: StorageServiceStub

    @property
    def service(self) -> EngineService:
        return self.engine.service

    @property
    def keeper(self) -> LeaseKeeper:
        return self.engine.keeper

    @property
    def controls(self) -> Controls:
        return self.engine.controls

    @property
    def registry(self) -> StepTypeRegistry:
        return self.engine.registry

    async def apply(self, definition: dict[str, Any]) -> None:
        name = definition["metadata"]["name"]
        request = storage_pb2.CreateWorkflowRequest(name=name, definition_json=json.dumps(definition), created_by="t")
        try:
            await self.storage.CreateWorkflow(request)
        except grpc.aio.AioRpcError as error:
            assert error.code() == grpc.StatusCode.ALREADY_EXISTS
            await self.storage.PutWorkflow(storage_pb2.PutWorkflowRequest(
                name=name, definition_json=json.dumps(definition), created_by="t"))

    async def start(self, name: str, parameters: dict[str, Any] | None = None, dry_run: bool = False) -> str:
        response = await self.service.StartRun(engine_pb2.StartRunRequest(
            workflow=name, parameters_json=json.dumps(parameters or {}), dry_run=dry_run, actor="tester"), None)
        assert not response.errors, list(response.errors)
        return response.run.id

    async def run(self, run_id: str) -> RunView:
        return run_view(await self.storage.GetRun(storage_pb2.GetRunRequest(id=run_id)))

    async def wait(self, run_id: str, states: set[str] = TERMINAL, timeout: float = 30.0) -> RunView:
        async with asyncio.timeout(timeout):
            while True:
                run = await self.run(run_id)
                if run.state in states:
                    return run
                await asyncio.sleep(0.05)

    async def wait_step(self, run_id: str, step_id: str, state: str, timeout: float = 30.0) -> StepView:
        async with asyncio.timeout(timeout):
            while True:
                run = await self.run(run_id)
                step = next(s for s in run.steps if s.id == step_id)
                if step.state == state:
                    return step
                await asyncio.sleep(0.05)

    async def gate(self, run_id: str, step_id: str = "gate") -> dict[str, Any]:
        """The gate's outputs as storage has them (what an approver is shown)."""
        step = next(s for s in (await self.run(run_id)).steps if s.id == step_id)
        outputs: dict[str, Any] = json.loads(step.outputs_json or "{}")
        return outputs

    async def decide(self, run_id: str, approve: bool = True, actor: str = "alice", role: str = "operator",
                     step_id: str = "gate", comment: str = "", digest: str | None = None,
                     inputs: dict[str, Any] | None = None) -> storage_pb2.Run:
        """A decision over the engine's real gRPC port, as the gateway sends it.

        `digest` None: the one the gate shows now (what an approver who just read the plan sends);
        "" sends none. Refusals raise `grpc.aio.AioRpcError` with their status code and metadata.
        """
        if digest is None:
            digest = (await self.gate(run_id, step_id)).get("plan_digest", "")
        client = engine_client(f"127.0.0.1:{self.engine.port}")
        result: storage_pb2.Run = await client.DecideApproval(engine_pb2.DecideApprovalRequest(
            run_id=run_id, step_id=step_id, approve=approve, actor=actor, actor_role=role, comment=comment,
            plan_digest=digest, inputs_json=json.dumps(inputs) if inputs is not None else ""))
        return result

    async def events(self, run_id: str) -> list[EventView]:
        response = await self.storage.ListEvents(storage_pb2.ListEventsRequest(run_id=run_id, limit=100_000))
        return [event_view(event) for event in response.events]


def engine_settings(services: Services, nats_url: str, owner: str, lease_seconds: float = 10.0,
                    max_steps: int = 64) -> EngineSettings:
    """What `__main__` would read from the environment for a replica next to the test's services."""
    return EngineSettings(
        engine_id=owner, nats_url=nats_url, storage_address=services.storage_target, engine_port=0,
        engine_lease_seconds=lease_seconds, engine_max_steps=max_steps, engine_max_runs=100,
        secrets_dir=services.secrets_dir,
    )


@contextlib.asynccontextmanager
async def replica(services: Services, nats_url: str, owner: str, lease_seconds: float = 10.0,
                  max_steps: int = 64) -> AsyncIterator[Replica]:
    """An engine replica, started as `__main__` starts it, once it sees the plugin host."""
    async with Engine(engine_settings(services, nats_url, owner, lease_seconds, max_steps)) as engine:
        async with asyncio.timeout(20):
            while engine.registry.get("hello/greet") is None:
                await asyncio.sleep(0.05)
        yield Replica(engine, storage_client(services.storage_target))


@pytest.fixture
async def engine(services: Services, nats_server: str) -> AsyncIterator[Replica]:
    async with replica(services, nats_server, owner=f"engine-{free_port()}") as running:
        yield running
