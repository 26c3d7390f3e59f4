"""500 concurrent runs of 10 steps: throughput and peak memory of every service: `make bench`.

Starts the platform's real processes (embedded NATS, storage on SQLite,
engine, one plugin host, gateway) in a temporary folder, then, for the
built-in `core/noop` and the plugin `hello/noop` (a real gRPC call to the
plugin host), starts N runs of a 10-step chain at once and waits until every
one has finished. Prints the wall time from the first start to the last
finish, runs/s, steps/s, and the peak resident memory (VmHWM from
/proc/<pid>/status) of each service process after each scenario (VmHWM is
the process's high-water mark, so later rows include earlier scenarios).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from vwmp_cli.up import Platform
from vwmp_common.clients import engine_client, storage_client
from vwmp_common.ports import free_port
from vwmp_common.states import TERMINAL_RUN_STATES, RunState
from vwmp_proto.engine.v1 import engine_pb2
from vwmp_proto.storage.v1 import storage_pb2

PAGE = 500


def chain(n: int, uses: str) -> list[dict[str, Any]]:
    return [{"id": f"s{i}", "uses": uses, **({"needs": [f"s{i - 1}"]} if i else {})} for i in range(n)]


def peak_rss_mib(platform: Platform) -> dict[str, float]:
    """VmHWM of every service process, in MiB (Linux /proc)."""
    peaks: dict[str, float] = {}
    for name, service in platform.services.items():
        if service.process is None:
            continue
        try:
            status = Path(f"/proc/{service.process.pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peaks[name] = int(line.split()[1]) / 1024
    return peaks


async def finished_states(storage: Any, workflow: str, expected: int) -> collections.Counter[str] | None:
    """States of the workflow's runs once all `expected` are terminal, else None."""
    states: collections.Counter[str] = collections.Counter()
    offset = 0
    while True:
        page = await storage.ListRuns(storage_pb2.ListRunsRequest(workflow=workflow, limit=PAGE, offset=offset))
        for run in page.runs:
            state = RunState.from_number(run.state)
            if state not in TERMINAL_RUN_STATES:
                return None
            states[state] += 1
        offset += len(page.runs)
        if len(page.runs) < PAGE:
            break
    return states if sum(states.values()) == expected else None


async def scenario(platform: Platform, uses: str, runs: int, steps: int, within: float) -> dict[str, Any]:
    storage = storage_client(f"127.0.0.1:{platform.env['VWMP_STORAGE_PORT']}")
    engine = engine_client(f"127.0.0.1:{platform.env['VWMP_ENGINE_PORT']}")
    name = f"concurrent-{uses.replace('/', '-')}"
    definition = {"apiVersion": "vwmp/v1", "kind": "Workflow", "metadata": {"name": name},
                  "spec": {"steps": chain(steps, uses)}}
    await storage.CreateWorkflow(storage_pb2.CreateWorkflowRequest(
        name=name, definition_json=json.dumps(definition), created_by="bench"))

    async def start() -> None:
        response = await engine.StartRun(engine_pb2.StartRunRequest(workflow=name, actor="bench"))
        assert not response.errors, list(response.errors)

    began = time.perf_counter()
    await asyncio.gather(*(start() for _ in range(runs)))
    started = time.perf_counter() - began
    async with asyncio.timeout(within):
        while True:
            states = await finished_states(storage, name, runs)
            if states is not None:
                break
            await asyncio.sleep(0.25)
    wall = time.perf_counter() - began
    assert states == {"succeeded": runs}, dict(states)
    return {"uses": uses, "runs": runs, "steps_per_run": steps, "start_s": started, "total_s": wall,
            "runs_per_s": runs / wall, "steps_per_s": runs * steps / wall, "peak_rss_mib": peak_rss_mib(platform)}


def report(result: dict[str, Any]) -> None:
    print(f"{result['uses']:<10} {result['runs']} runs x {result['steps_per_run']} steps: all succeeded in "
          f"{result['total_s']:.1f} s (all started after {result['start_s']:.1f} s)  "
          f"{result['runs_per_s']:.1f} runs/s  {result['steps_per_s']:.0f} steps/s", flush=True)
    peaks = "  ".join(f"{name} {mib:.0f} MiB" for name, mib in sorted(result["peak_rss_mib"].items()))
    print(f"{'':<10} peak RSS so far: {peaks}", flush=True)


async def bench(platform: Platform, kinds: list[str], runs: int, steps: int, within: float) -> list[dict[str, Any]]:
    results = []
    for uses in kinds:
        results.append(await scenario(platform, uses, runs, steps, within))
        report(results[-1])
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--uses", default="core/noop,hello/noop", help="step types to measure")
    parser.add_argument("--timeout", type=float, default=150.0, help="seconds per scenario before giving up")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vwmp-bench-") as tmp:
        env = {**os.environ, "VWMP_DATA_DIR": f"{tmp}/data", "VWMP_WORKSPACE_ROOT": f"{tmp}/ws",
               "VWMP_HTTP_PORT": str(free_port()), "VWMP_NATS_PORT": str(free_port()),
               "VWMP_STORAGE_PORT": str(free_port()), "VWMP_ENGINE_PORT": str(free_port()),
               "VWMP_PLUGIN_HOST_PORT": str(free_port()), "VWMP_LOG_LEVEL": "WARNING",
               "VWMP_PLUGINS": "hello"}
        env.pop("VWMP_NATS_URL", None)
        env.pop("VWMP_DATABASE_URL", None)  # the embedded default: SQLite in the data folder
        platform = Platform(env=env)
        platform.start()
        try:
            time.sleep(1.0)  # let the plugin host announce itself
            results = asyncio.run(bench(platform, args.uses.split(","), args.runs, args.steps, args.timeout))
        finally:
            platform.stop()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
