"""Engine overhead per step and throughput: `make bench`.

Starts the platform's real processes (embedded NATS, storage on SQLite,
engine, one plugin host, gateway) in a temporary folder and runs chain,
fan-out and layered workflows of 10 to 1,000 no-op steps, built-in
(`core/noop`) and plugin (`hello/noop`, a real gRPC call to the plugin host).
Every transition is durable (SQLite WAL) and published on JetStream.

Per-step overhead = run time (created_at → finished_at as stored: the claim and the load included) / steps.
Not started_at: a short run of pure steps writes its start and its end in one commit.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from vwmp_cli.up import Platform
from vwmp_common.clients import engine_client, storage_client
from vwmp_common.nats import connect
from vwmp_common.ports import free_port
from vwmp_common.states import RUN_END_EVENTS, TERMINAL_RUN_STATES, EventType, RunState
from vwmp_common.subjects import run_events_subject
from vwmp_common.timeutil import from_timestamp
from vwmp_proto.engine.v1 import engine_pb2
from vwmp_proto.events.v1.events_pb2 import Event
from vwmp_proto.storage.v1 import storage_pb2

SIZES = (10, 100, 1000)


def chain(n: int, uses: str) -> list[dict[str, Any]]:
    return [{"id": f"s{i}", "uses": uses, **({"needs": [f"s{i - 1}"]} if i else {})} for i in range(n)]


def fan_out(n: int, uses: str) -> list[dict[str, Any]]:
    return [{"id": "root", "uses": uses}] + [{"id": f"s{i}", "uses": uses, "needs": ["root"]} for i in range(n - 1)]


def layered(n: int, uses: str, width: int = 10) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    for i in range(n):
        layer = i // width
        needs = [f"s{j}" for j in range((layer - 1) * width, layer * width)] if layer else []
        steps.append({"id": f"s{i}", "uses": uses, **({"needs": needs} if needs else {})})
    return steps


SHAPES = {"chain": chain, "fan-out": fan_out, "layered": layered}


async def connect_as_gateway(platform: Platform) -> Any:
    """NATS as the gateway's user (it may subscribe to every run's events): the embedded NATS has a user per
    service and refuses a client without one."""
    user = platform.nats_users.get("gateway")
    if user is not None:
        os.environ.update(VWMP_NATS_USER=user.name, VWMP_NATS_PASSWORD=user.password)
    return await connect(platform.env["VWMP_NATS_URL"], name="bench", attempts=5)


_MEASURED = itertools.count(1)


def seconds_between(start: Timestamp, end: Timestamp) -> float:
    began, ended = from_timestamp(start), from_timestamp(end)
    assert began is not None and ended is not None
    return (ended - began).total_seconds()


async def measure(platform: Platform, shape: str, uses: str, n: int) -> dict[str, Any]:
    storage = storage_client(f"127.0.0.1:{platform.env['VWMP_STORAGE_PORT']}")
    engine = engine_client(f"127.0.0.1:{platform.env['VWMP_ENGINE_PORT']}")
    name = f"bench-{shape}-{uses.replace('/', '-')}-{n}-{next(_MEASURED)}"  # each measurement its own workflow
    definition = {"apiVersion": "vwmp/v1", "kind": "Workflow", "metadata": {"name": name},
                  "spec": {"steps": SHAPES[shape](n, uses)}}
    await storage.CreateWorkflow(storage_pb2.CreateWorkflowRequest(
        name=name, definition_json=json.dumps(definition), created_by="bench"))
    nats = await connect_as_gateway(platform)
    finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def on_event(msg: Any) -> None:
        event = Event.FromString(msg.data)
        if EventType.from_number(event.type) in RUN_END_EVENTS and not finished.done():
            finished.set_result(None)

    began = time.perf_counter()
    response = await engine.StartRun(engine_pb2.StartRunRequest(workflow=name, actor="bench"))
    assert not response.errors, list(response.errors)
    run_id = response.run.id
    await nats.subscribe(run_events_subject(run_id), cb=on_event)  # core NATS: sees JetStream publishes too
    while not finished.done():  # the terminal event may have been published before we subscribed
        run = await storage.GetRun(storage_pb2.GetRunRequest(id=run_id, select_steps=True))  # no steps: cheap
        if RunState.from_number(run.state) in TERMINAL_RUN_STATES:
            break
        await asyncio.wait([finished], timeout=1.0)
    await nats.close()
    run = await storage.GetRun(storage_pb2.GetRunRequest(id=run_id))
    wall = time.perf_counter() - began
    assert run.state == RunState.SUCCEEDED.number, RunState.from_number(run.state)
    engine_seconds = seconds_between(run.created_at, run.finished_at)
    return {"shape": shape, "uses": uses, "steps": n, "run_s": engine_seconds, "wall_s": wall,
            "per_step_ms": engine_seconds / n * 1000, "steps_per_s": n / engine_seconds,
            "events": run.last_seq}


async def bench(platform: Platform, sizes: tuple[int, ...], kinds: list[str], shapes: list[str]
                ) -> list[dict[str, Any]]:
    results = []
    for uses in kinds:
        for shape in shapes:
            for n in sizes:
                results.append(await measure(platform, shape, uses, n))
                r = results[-1]
                print(f"{r['shape']:<8} {r['uses']:<11} {r['steps']:>5} steps  {r['run_s'] * 1000:9.1f} ms"
                      f"  {r['per_step_ms']:7.3f} ms/step  {r['steps_per_s']:8.0f} steps/s  {r['events']:>5} events",
                      flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--uses", default="core/noop,hello/noop", help="step types to measure")
    parser.add_argument("--shapes", default=",".join(SHAPES), help="workflow shapes to measure")
    args = parser.parse_args()
    sizes = tuple(int(s) for s in args.sizes.split(","))
    with tempfile.TemporaryDirectory(prefix="vwmp-bench-") as tmp:
        env = {**os.environ, "VWMP_DATA_DIR": f"{tmp}/data", "VWMP_WORKSPACE_ROOT": f"{tmp}/ws",
               "VWMP_HTTP_PORT": str(free_port()), "VWMP_NATS_PORT": str(free_port()),
               "VWMP_STORAGE_PORT": str(free_port()), "VWMP_ENGINE_PORT": str(free_port()),
               "VWMP_PLUGIN_HOST_PORT": str(free_port()), "VWMP_LOG_LEVEL": "WARNING",
               "VWMP_PLUGINS": "hello"}
        env.pop("VWMP_NATS_URL", None)
        platform = Platform(env=env)
        platform.start()
        try:
            time.sleep(1.0)  # let the plugin host announce itself
            print(f"{'shape':<8} {'uses':<11} {'size':>5}        {'run time':>9}     {'per step':>7}"
                  f"          {'throughput':>8}")
            results = asyncio.run(bench(platform, sizes, args.uses.split(","), args.shapes.split(",")))
        finally:
            platform.stop()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
