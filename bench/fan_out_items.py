"""for_each throughput: a 1,000-item fan-out of a plugin step (`hello/noop`): `make bench`.

Starts the platform's real processes (embedded NATS, storage on SQLite, engine, one plugin host with
the hello plugin) in a temporary folder and runs a workflow whose only step is
`for_each: [0, …, 999]` of `hello/noop` — a real gRPC call to the plugin host per item, every
instance's start and end durable before it is published — with `max_parallel: 50` and without a
limit of its own. Items/s = items / run time (created_at → finished_at as stored), median of the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from typing import Any

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

TARGET_ITEMS_PER_SECOND = 1500


async def measure(platform: Platform, items: int, max_parallel: int | None, round_: int) -> float:
    """Items per second of one run."""
    storage = storage_client(f"127.0.0.1:{platform.env['VWMP_STORAGE_PORT']}")
    engine = engine_client(f"127.0.0.1:{platform.env['VWMP_ENGINE_PORT']}")
    name = f"bench-for-each-{items}-{max_parallel or 'all'}-{round_}"
    step: dict[str, Any] = {"id": "each", "uses": "hello/noop", "for_each": list(range(items))}
    if max_parallel:
        step["max_parallel"] = max_parallel
    definition = {"apiVersion": "vwmp/v1", "kind": "Workflow", "metadata": {"name": name}, "spec": {"steps": [step]}}
    await storage.CreateWorkflow(storage_pb2.CreateWorkflowRequest(
        name=name, definition_json=json.dumps(definition), created_by="bench"))
    nats = await connect(platform.env["VWMP_NATS_URL"], name="bench")
    finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def on_event(msg: Any) -> None:
        if EventType.from_number(Event.FromString(msg.data).type) in RUN_END_EVENTS and not finished.done():
            finished.set_result(None)

    response = await engine.StartRun(engine_pb2.StartRunRequest(workflow=name, actor="bench"))
    assert not response.errors, list(response.errors)
    await nats.subscribe(run_events_subject(response.run.id), cb=on_event)  # not polling: the run shares storage
    while not finished.done():  # the end may have been published before the subscription
        run = await storage.GetRun(storage_pb2.GetRunRequest(id=response.run.id))
        if RunState.from_number(run.state) in TERMINAL_RUN_STATES:
            break
        await asyncio.wait([finished], timeout=2.0)
    await nats.close()
    run = await storage.GetRun(storage_pb2.GetRunRequest(id=response.run.id))
    assert run.state == RunState.SUCCEEDED.number, RunState.from_number(run.state)
    assert sum(step.parent == "each" for step in run.steps) == items
    began, ended = from_timestamp(run.created_at), from_timestamp(run.finished_at)
    assert began is not None and ended is not None
    return items / (ended - began).total_seconds()


async def bench(platform: Platform, items: int, rounds: int) -> dict[str, list[float]]:
    found: dict[str, list[float]] = {"50": [], "all": []}
    for round_ in range(rounds):  # interleaved, so a slow spell of the machine hits both alike
        found["50"].append(await measure(platform, items, 50, round_))
        found["all"].append(await measure(platform, items, None, round_))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vwmp-bench-for-each-") as tmp:
        env = {**os.environ, "VWMP_DATA_DIR": f"{tmp}/data", "VWMP_WORKSPACE_ROOT": f"{tmp}/ws",
               "VWMP_HTTP_PORT": str(free_port()), "VWMP_NATS_PORT": str(free_port()),
               "VWMP_STORAGE_PORT": str(free_port()), "VWMP_ENGINE_PORT": str(free_port()),
               "VWMP_PLUGIN_HOST_PORT": str(free_port()), "VWMP_LOG_LEVEL": "WARNING", "VWMP_PLUGINS": "hello"}
        env.pop("VWMP_NATS_URL", None)
        env.pop("VWMP_DATABASE_URL", None)
        platform = Platform(env=env)
        platform.start()
        try:
            time.sleep(1.0)  # let the plugin host announce itself
            found = asyncio.run(bench(platform, args.items, args.rounds))
        finally:
            platform.stop()
    limited, unlimited = statistics.median(found["50"]), statistics.median(found["all"])
    verdict = "ok" if limited >= TARGET_ITEMS_PER_SECOND else "BELOW TARGET"
    print(f"{args.items:,}-item for_each of a plugin step: {limited:,.0f} items/s "
          f"(target ≥ {TARGET_ITEMS_PER_SECOND:,}) {verdict} — max_parallel 50, median of {args.rounds}", flush=True)
    print(f"{'':<10} without max_parallel: {unlimited:,.0f} items/s; every round: max_parallel 50 "
          f"{', '.join(f'{r:,.0f}' for r in found['50'])}, unlimited {', '.join(f'{r:,.0f}' for r in found['all'])}",
          flush=True)


if __name__ == "__main__":
    main()
