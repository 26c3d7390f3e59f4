"""Network faults between services, on real processes: a partition between an engine and storage, and
latency between the engine and one plugin host.

The partition: NATS, storage, the plugin host and two engine replicas each in a network namespace of
their own (`vwmp_testkit.netns`: a bridge and veth pairs, made by the test, removed after it). Engine A
executes three runs; it is cut off from storage (only from storage: it still reaches the plugin host
and NATS) for twice its lease while engine B takes the runs over; then the link is healed. A must
stop executing the runs itself before B can claim them (its plugin calls cancelled, nothing more
written), and no step attempt may run next to another one of the same step.

The latency: 200 ms each way between the engine and one plugin host (`vwmp_testkit.delay_proxy`),
while runs on another plugin host keep the pace they had without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from vwmp_cli.embedded_nats import nats_server_argv
from vwmp_cli.up import Platform, Service
from vwmp_common.clients import EngineStub, StorageStub, engine_client, storage_client
from vwmp_common.ports import free_port
from vwmp_common.states import TERMINAL_RUN_STATES, EventType, RunState
from vwmp_common.timeutil import from_timestamp
from vwmp_proto.engine.v1 import engine_pb2
from vwmp_proto.storage.v1 import storage_pb2
from vwmp_testkit import netns
from vwmp_testkit.delay_proxy import DelayProxy

from .conftest import platform_env

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

LEASE = 4.0
FENCED = "lease not renewed in time; stopped executing the run"
RUNS = 3


def log_lines(platform: Platform, name: str) -> list[dict[str, object]]:
    lines = []
    for line in (platform.logs / f"{name}.log").read_text().splitlines():
        with contextlib.suppress(ValueError):
            lines.append(json.loads(line))
    return lines


def journal(platform: Platform, name: str) -> list[str]:
    path = platform.workspace / name
    return path.read_text().splitlines() if path.exists() else []


async def wait_ended(storage: StorageStub, run_id: str, timeout: float) -> storage_pb2.Run:
    async with asyncio.timeout(timeout):
        while True:
            run = await storage.GetRun(storage_pb2.GetRunRequest(id=run_id))
            if RunState.from_number(run.state) in TERMINAL_RUN_STATES:
                return run
            await asyncio.sleep(0.1)


async def apply(storage: StorageStub, name: str, steps: list[dict[str, object]]) -> None:
    definition = {"apiVersion": "vwmp/v1", "kind": "Workflow", "metadata": {"name": name}, "spec": {"steps": steps}}
    await storage.CreateWorkflow(storage_pb2.CreateWorkflowRequest(
        name=name, definition_json=json.dumps(definition), created_by="e2e"))


async def start(engine: EngineStub, name: str) -> str:
    response = await engine.StartRun(engine_pb2.StartRunRequest(workflow=name, actor="e2e"))
    assert not response.errors, list(response.errors)
    return str(response.run.id)


@contextlib.contextmanager
def stopped_at_the_end(platform: Platform) -> Iterator[Platform]:
    try:
        yield platform
    finally:
        platform.stop()


def in_namespace(platform: Platform, network: netns.Network, kind: str, name: str,
                 env: dict[str, str] | None = None) -> Service:
    """A service of the platform that runs in the namespace `name` and is checked there."""
    service = platform.add(kind, name, env)
    service.argv = network.wrap(name, service.argv)
    service.host = network.address(name)
    return service


@pytest.mark.timeout(150)
async def test_an_engine_partitioned_from_storage_stops_its_runs_and_another_takes_them_over(
    tmp_path: Path
) -> None:
    if reason := netns.available():
        pytest.skip(f"network namespaces: {reason}")
    with netns.Network(["nats", "storage", "plugin-host", "engine-a", "engine-b"]) as network:
        ports = {"nats": free_port(), "storage": free_port(), "plugin-host": free_port(), "engine": free_port()}
        address = network.address
        env = platform_env(
            tmp_path, VWMP_NATS_URL=f"nats://{address('nats')}:{ports['nats']}", VWMP_PLUGINS="testkit",
            VWMP_GRPC_HOST="0.0.0.0", VWMP_ENGINE_LEASE_SECONDS=str(LEASE),
            VWMP_STORAGE_PORT=str(ports["storage"]), VWMP_STORAGE_ADDRESS=f"{address('storage')}:{ports['storage']}",
            VWMP_PLUGIN_HOST_PORT=str(ports["plugin-host"]),
            VWMP_PLUGIN_HOST_ADVERTISE_ADDRESS=f"{address('plugin-host')}:{ports['plugin-host']}",
            VWMP_ENGINE_PORT=str(ports["engine"]))
        platform = Platform(env=env)
        for folder in (platform.data_dir, platform.logs, platform.workspace, platform.data_dir / "nats"):
            folder.mkdir(parents=True, exist_ok=True)
        platform.services["nats"] = Service("nats", network.wrap("nats", nats_server_argv(
            ports["nats"], platform.data_dir / "nats", host="0.0.0.0")), platform.logs / "nats.log")
        in_namespace(platform, network, "storage", "storage")
        in_namespace(platform, network, "plugin-host", "plugin-host")
        in_namespace(platform, network, "engine", "engine-a", {"VWMP_ENGINE_ID": "engine-a"})
        with stopped_at_the_end(platform):
            await asyncio.to_thread(platform.start, 90, ())
            storage = storage_client(f"{address('storage')}:{ports['storage']}")
            engine_a = engine_client(f"{address('engine-a')}:{ports['engine']}")
            steps: list[dict[str, object]] = [
                {"id": "long", "uses": "testkit/slow", "with": {"seconds": 8, "journal": "partition.txt"}},
                {"id": "short", "uses": "testkit/slow", "needs": ["long"],
                 "with": {"seconds": 0.5, "journal": "partition.txt"}}]
            await apply(storage, "partitioned", steps)
            async with asyncio.timeout(60):  # engine A sees the plugin host
                while not any(t.type == "testkit/slow" for t in (await engine_a.ListStepTypes(
                        engine_pb2.ListStepTypesRequest())).step_types):
                    await asyncio.sleep(0.1)
            run_ids = [await start(engine_a, "partitioned") for _ in range(RUNS)]
            firsts = [f"{run_id}/long/1" for run_id in run_ids]
            async with asyncio.timeout(30):  # every run has its first step in flight on the plugin host
                while not all(f"start {key}" in journal(platform, "partition.txt") for key in firsts):
                    await asyncio.sleep(0.1)

            network.cut("engine-a", "storage")
            cut = time.monotonic()
            in_namespace(platform, network, "engine", "engine-b", {"VWMP_ENGINE_ID": "engine-b"}).start(platform.env)
            async with asyncio.timeout(LEASE * 2):  # A stops each run itself, its plugin calls cancelled
                while not all(f"cancelled {key}" in journal(platform, "partition.txt") for key in firsts):
                    await asyncio.sleep(0.05)
            assert time.monotonic() - cut < LEASE, "engine A went on past its lease"
            await asyncio.sleep(max(0.0, cut + 2 * LEASE - time.monotonic()))  # the partition lasts two leases
            network.heal("engine-a", "storage")

            runs = [await wait_ended(storage, run_id, 60) for run_id in run_ids]
            await asyncio.sleep(LEASE)  # A, healed, hears from storage again: it must do nothing more
            assert [RunState.from_number(run.state) for run in runs] == [RunState.SUCCEEDED] * RUNS

            lines = journal(platform, "partition.txt")
            for run_id in run_ids:
                long1, long2, short1 = f"{run_id}/long/1", f"{run_id}/long/2", f"{run_id}/short/1"
                mine = [line for line in lines if run_id in line]
                assert mine == [f"start {long1}", f"cancelled {long1}", f"start {long2}", f"done {long2}",
                                f"start {short1}", f"done {short1}"], mine  # never two attempts at once
                events = (await storage.ListEvents(storage_pb2.ListEventsRequest(run_id=run_id))).events
                attempts = [(EventType.from_number(e.type), e.step_id, e.attempt) for e in events if e.step_id]
                assert attempts == [
                    (EventType.STEP_STARTED, "long", 1), (EventType.STEP_STARTED, "long", 2),
                    (EventType.STEP_SUCCEEDED, "long", 2), (EventType.STEP_STARTED, "short", 1),
                    (EventType.STEP_SUCCEEDED, "short", 1)], attempts  # A wrote nothing after the cut

            fenced = [line for line in log_lines(platform, "engine-a") if line["message"] == FENCED]
            assert sorted(str(line["run_id"]) for line in fenced) == sorted(run_ids), fenced
            assert all(float(str(line["unrenewed_seconds"])) < LEASE for line in fenced), fenced
            assert not [line for line in log_lines(platform, "engine-a") if "lease lost" in str(line["message"])]
    assert network.namespace("storage") not in netns.ip("netns", "list")


def duration(run: storage_pb2.Run) -> float:
    started, finished = from_timestamp(run.started_at), from_timestamp(run.finished_at)
    assert started is not None and finished is not None
    return (finished - started).total_seconds()


@pytest.mark.timeout(150)
async def test_latency_to_one_plugin_host_leaves_the_runs_on_another_at_their_pace(tmp_path: Path) -> None:
    delayed_port = free_port()
    async with DelayProxy(f"127.0.0.1:{delayed_port}") as proxy:
        env = platform_env(tmp_path, VWMP_PLUGINS="hello")
        platform = Platform(env=env)
        platform.add("plugin-host", "delayed-host", {
            "VWMP_PLUGINS": "testkit", "VWMP_PLUGIN_HOST_PORT": str(delayed_port),
            "VWMP_PLUGIN_HOST_ADVERTISE_ADDRESS": proxy.target, "VWMP_PLUGIN_HOST_ID": f"delayed-{delayed_port}"})
        with stopped_at_the_end(platform):
            await asyncio.to_thread(platform.start, 90, ("storage", "plugin-host", "engine"))
            storage = storage_client(f"127.0.0.1:{env['VWMP_STORAGE_PORT']}")
            engine = engine_client(f"127.0.0.1:{env['VWMP_ENGINE_PORT']}")
            await apply(storage, "greetings", [{"id": f"g{i}", "uses": "hello/greet", "with": {"name": "Ada"},
                                                **({"needs": [f"g{i - 1}"]} if i else {})} for i in range(6)])
            await apply(storage, "echoes", [{"id": f"e{i}", "uses": "testkit/echo", "with": {"value": "x"},
                                             **({"needs": [f"e{i - 1}"]} if i else {})} for i in range(4)])
            async with asyncio.timeout(60):
                while not {"hello/greet", "testkit/echo"} <= {t.type for t in (await engine.ListStepTypes(
                        engine_pb2.ListStepTypesRequest())).step_types}:
                    await asyncio.sleep(0.1)

            async def greetings(count: int) -> list[float]:
                return [duration(await wait_ended(storage, await start(engine, "greetings"), 60))
                        for _ in range(count)]

            await greetings(1)  # warm: connections made, modules imported
            undelayed_echo = duration(await wait_ended(storage, await start(engine, "echoes"), 60))
            baseline = await greetings(4)

            proxy.delay = 0.2  # 200 ms each way between the engine and the testkit's host
            echo_ids = [await start(engine, "echoes") for _ in range(6)]
            await asyncio.sleep(1.0)  # the delayed runs are under way
            delayed = await greetings(4)
            echoes = [await wait_ended(storage, run_id, 90) for run_id in echo_ids]

    assert {RunState.from_number(run.state) for run in echoes} == {RunState.SUCCEEDED}
    fastest_echo = min(duration(run) for run in echoes)
    assert fastest_echo >= undelayed_echo + 4 * 0.4, "the latency was not injected"  # 4 steps, 400 ms round trip
    # Six steps each: had they waited for the delayed host they would be 2.4 s slower.
    assert statistics.median(delayed) <= statistics.median(baseline) * 1.5 + 0.5, (baseline, delayed)
    assert max(delayed) <= max(baseline) * 2 + 1.0, (baseline, delayed)
