"""Issue 16's table, every row measured with its target beside it: `make bench` (`make bench-quick`).

Starts the platform's real processes (embedded NATS, storage on SQLite, engine, one plugin host,
gateway) in a temporary folder and measures, through the public HTTP API where the row is about it
and through the engine's gRPC otherwise:

- per plugin step (`hello/noop`) and per `core/noop` step in a 1,000-step chain (run time as stored / steps);
- the largest workflow the API accepts (a 10,000-step chain, a 10,000-item literal `for_each`, which is
  then run);
- `POST /api/v1/workflows` of a 1,000, 2,000 and 10,000-step chain (median of --rounds);
- `GET /api/v1/runs/{id}` of a 10,000-step run: `?steps=summary` and the whole run, time and size;
- 500 concurrent runs x 10 `hello/noop` steps (total time, steps/s, none stuck);
- 1-step workflows started and finished per second, sustained (p99 of created → finished as stored);
- a definition-level fan-out of 1,000 `hello/noop` steps (steps/s);
- the per-step cost of a `core/noop` chain at 10,000 steps against 10 steps.

`--quick` (about a minute) measures smaller sizes and says so in the row: a smoke run, not the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from vwmp_cli.up import Platform
from vwmp_common.clients import engine_client, storage_client
from vwmp_common.ports import free_port
from vwmp_common.states import TERMINAL_RUN_STATES, RunState
from vwmp_common.timeutil import from_timestamp
from vwmp_proto.engine.v1 import engine_pb2
from vwmp_proto.storage.v1 import storage_pb2

sys.path.insert(0, str(Path(__file__).resolve().parent))
import concurrent_runs
import engine_overhead

Row = dict[str, Any]


def row(figure: str, measured: str, target: str, met: bool | None, note: str = "") -> Row:
    return {"figure": figure, "measured": measured, "target": target, "met": met, "note": note}


def chain(n: int, uses: str = "core/noop") -> list[dict[str, Any]]:
    return engine_overhead.chain(n, uses)


def workflow(name: str, steps: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "vwmp/v1", "kind": "Workflow", "metadata": {"name": name}, "spec": {"steps": steps}}


async def wait_run(http: httpx.AsyncClient, run_id: str, within: float) -> dict[str, Any]:
    async with asyncio.timeout(within):
        while True:
            run = (await http.get(f"/api/v1/runs/{run_id}", params={"steps": "summary"})).json()
            if run["state"] in {state.value for state in TERMINAL_RUN_STATES}:
                return dict(run)
            await asyncio.sleep(0.5)


def succeeded(run: dict[str, Any]) -> int:
    """Succeeded steps of a run (step_counts, or counted from the steps of a gateway without it)."""
    if "step_counts" in run:
        return int(run["step_counts"].get("succeeded", 0))
    return sum(step["state"] == "succeeded" for step in run["steps"])


async def api_rows(platform: Platform, http: httpx.AsyncClient, quick: bool, rounds: int) -> list[Row]:
    rows: list[Row] = []
    # POST /workflows of a chain, the median of `rounds` (each a new workflow: a create, not a version).
    posted: dict[int, float] = {}
    for n in (1000, 2000, 10000):
        times = []
        for attempt in range(rounds):
            body = json.dumps(workflow(f"post-{n}-{attempt}", chain(n)))
            began = time.perf_counter()
            response = await http.post("/api/v1/workflows", content=body,
                                       headers={"Content-Type": "application/json"})
            times.append(time.perf_counter() - began)
            if response.status_code != 201:
                times[-1] = float("inf")
                print(f"POST of {n} steps: {response.status_code} {response.text[:300]}", flush=True)
                break
        posted[n] = statistics.median(times)
        print(f"POST /workflows, {n}-step chain: {posted[n]:.3f} s (median of {len(times)})", flush=True)
    accepted = posted[10000] != float("inf")
    # 10,000 for_each items (a literal list), accepted and run.
    items = 2000 if quick else 10000
    body = json.dumps(workflow("items", [{"id": "each", "uses": "core/noop", "for_each": list(range(items))}]))
    response = await http.post("/api/v1/workflows", content=body, headers={"Content-Type": "application/json"})
    items_ok = response.status_code == 201
    items_note = f"POST {response.status_code}"
    if items_ok:
        began = time.perf_counter()
        started = (await http.post("/api/v1/workflows/items/runs", json={})).json()
        run = await wait_run(http, started["id"], 300)
        items_ok = run["state"] == "succeeded" and succeeded(run) >= items
        items_note = f"run {run['state']} in {time.perf_counter() - began:.1f} s"
    rows.append(row("largest workflow the API accepts",
                    f"10,000-step chain {'accepted' if accepted else 'refused'}; {items:,} for_each items "
                    f"{'ran' if items_ok else 'failed'} ({items_note})",
                    "10,000 steps and 10,000 for_each items", accepted and items_ok and items == 10000,
                    "quick: 2,000 items" if quick else ""))
    rows.append(row("POST /workflows, 1,000 / 2,000 / 10,000-step chain",
                    " / ".join(f"{posted[n]:.2f} s" for n in (1000, 2000, 10000)), "linear: <= 0.5 s for 10,000",
                    posted[10000] <= 0.5))
    # GET /runs/{id} of a 10,000-step run (a fan-out of core/noop steps: quick to run).
    steps = 2000 if quick else 10000
    for size in (steps, 2000):  # 2,000 where 10,000 is refused (the API before issue 16)
        fan = [{"id": "root", "uses": "core/noop"}] + [{"id": f"s{i}", "uses": "core/noop", "needs": ["root"]}
                                                       for i in range(size - 1)]
        response = await http.post("/api/v1/workflows", content=json.dumps(workflow(f"big-run-{size}", fan)),
                                   headers={"Content-Type": "application/json"})
        if response.status_code == 201:
            steps = size
            break
    started = (await http.post(f"/api/v1/workflows/big-run-{steps}/runs", json={})).json()
    await wait_run(http, started["id"], 300)
    timings: dict[str, list[float]] = {"summary": [], "all": []}
    sizes: dict[str, int] = {}
    await asyncio.sleep(2.0)  # let the run's last writes settle (WAL checkpoint, the engine's finishing)
    for mode, count in (("summary", 11), ("all", max(rounds, 3))):  # the summary first: the whole run is heavy
        for _ in range(count):
            began = time.perf_counter()
            response = await http.get(f"/api/v1/runs/{started['id']}", params={"steps": mode})
            timings[mode].append(time.perf_counter() - began)
            sizes[mode] = len(response.content)
    page = await http.get(f"/api/v1/runs/{started['id']}/steps", params={"state": "succeeded", "limit": 100})
    summary_ms = statistics.median(timings["summary"]) * 1000
    rows.append(row(f"GET /runs/{{id}} of a {steps:,}-step run",
                    f"summary {summary_ms:.1f} ms, {sizes['summary'] / 1024:.1f} KB; whole run "
                    f"{statistics.median(timings['all']) * 1000:.0f} ms, {sizes['all'] / 1024:.0f} KB; "
                    f"/steps page of 100: {page.status_code}, total {page.json().get('total', '-')}",
                    "<= 20 ms summary of 10,000; paginated, ?state=", summary_ms <= 20 and page.status_code == 200
                    and steps == 10000, "quick: 2,000 steps" if quick else ""))
    return rows


async def sustained(platform: Platform, seconds: float, in_flight: int = 32) -> Row:
    """1-step runs started as fast as `in_flight` concurrent starts allow for `seconds`, then all awaited."""
    storage = storage_client(f"127.0.0.1:{platform.env['VWMP_STORAGE_PORT']}")
    engine = engine_client(f"127.0.0.1:{platform.env['VWMP_ENGINE_PORT']}")
    name = "sustained"
    await storage.CreateWorkflow(storage_pb2.CreateWorkflowRequest(
        name=name, definition_json=json.dumps(workflow(name, chain(1))), created_by="bench"))
    ids: list[str] = []
    deadline = time.perf_counter() + seconds

    async def starter() -> None:
        while time.perf_counter() < deadline:
            response = await engine.StartRun(engine_pb2.StartRunRequest(workflow=name, actor="bench"))
            ids.append(response.run.id)

    await asyncio.gather(*(starter() for _ in range(in_flight)))
    async with asyncio.timeout(120):
        while True:  # polled as concurrent_runs does: what is asked is the stored end of every run
            states = await concurrent_runs.finished_states(storage, name, len(ids))
            if states is not None:
                break
            await asyncio.sleep(0.5)
    latencies, first, last = [], None, None
    offset = 0
    while True:
        page = await storage.ListRuns(storage_pb2.ListRunsRequest(workflow=name, limit=500, offset=offset))
        for run in page.runs:
            created, finished = from_timestamp(run.created_at), from_timestamp(run.finished_at)
            assert created is not None and finished is not None
            latencies.append((finished - created).total_seconds())
            first = created if first is None or created < first else first
            last = finished if last is None or finished > last else last
        offset += len(page.runs)
        if len(page.runs) < 500:
            break
    assert first is not None and last is not None
    rate = len(latencies) / (last - first).total_seconds()
    p99 = statistics.quantiles(latencies, n=100)[98] * 1000 if len(latencies) > 100 else max(latencies) * 1000
    stuck = len(ids) - states.get(RunState.SUCCEEDED, 0)
    return row(f"1-step runs started and finished per second, sustained {seconds:.0f} s",
               f"{rate:.0f} runs/s, p99 start->finish {p99:.0f} ms ({len(ids)} runs, {stuck} not succeeded)",
               ">= 200 runs/s, p99 < 250 ms (60 s)", rate >= 200 and p99 < 250 and seconds >= 60 and not stuck,
               f"quick: {seconds:.0f} s" if seconds < 60 else "")


async def engine_rows(platform: Platform, quick: bool) -> list[Row]:
    rows: list[Row] = []
    chain_n = 200 if quick else 1000
    plugin = await engine_overhead.measure(platform, "chain", "hello/noop", chain_n)
    core = await engine_overhead.measure(platform, "chain", "core/noop", chain_n)
    print(f"chain of {chain_n}: hello/noop {plugin['per_step_ms']:.2f} ms/step, core/noop "
          f"{core['per_step_ms']:.2f} ms/step", flush=True)
    rows.append(row(f"plugin step (hello/noop) in a {chain_n:,}-step chain, durable",
                    f"{plugin['per_step_ms']:.2f} ms (core/noop {core['per_step_ms']:.2f} ms)",
                    "<= 1.5 ms (core/noop <= 1.0 ms)", plugin["per_step_ms"] <= 1.5 and core["per_step_ms"] <= 1.0,
                    "quick: 200 steps" if quick else ""))
    runs = 100 if quick else 500
    concurrent = await concurrent_runs.scenario(platform, "hello/noop", runs, 10, 300)
    print(f"{runs} concurrent runs x 10 hello/noop: {concurrent['total_s']:.1f} s", flush=True)
    rows.append(row(f"{runs} concurrent runs x 10 plugin steps",
                    f"{concurrent['total_s']:.1f} s ({concurrent['steps_per_s']:.0f} steps/s), none stuck",
                    "<= 4 s (>= 1,250 steps/s), none stuck", concurrent["total_s"] <= 4 and runs == 500,
                    "quick: 100 runs" if quick else ""))
    rows.append(await sustained(platform, 10 if quick else 60))
    fan = await engine_overhead.measure(platform, "fan-out", "hello/noop", 1000)
    rows.append(row("fan-out of 1,000 plugin steps", f"{fan['steps_per_s']:.0f} steps/s", ">= 3,000 steps/s",
                    fan["steps_per_s"] >= 3000))
    large = 2000 if quick else 10000
    fixed, small, big = [await run_seconds(platform, n) for n in (1, 10, large)]
    marginal_small, marginal_big = ((t - fixed) / (n - 1) * 1000 for t, n in ((small, 10), (big, large)))
    growth = marginal_big / marginal_small - 1
    rows.append(row(f"per-step cost from 10 to {large:,} steps (core/noop chain)",
                    f"{marginal_small:.2f} -> {marginal_big:.2f} ms ({growth:+.0%}) beyond a 1-step run's "
                    f"{fixed * 1000:.1f} ms; run time / steps {small / 10 * 1000:.2f} -> {big / large * 1000:.2f} ms",
                    "flat within 10 %", abs(growth) <= 0.10 and large == 10000, "quick: 2,000 steps" if quick else ""))
    return rows


async def run_seconds(platform: Platform, steps: int, rounds: int = 5) -> float:
    """Median run time (created -> finished as stored) of a core/noop chain: a run's fixed cost (claim,
    load, first and last write) is the 1-step figure; a step's cost is what a longer chain adds to it."""
    times = [(await engine_overhead.measure(platform, "chain", "core/noop", steps))["run_s"]
             for _ in range(rounds if steps <= 10 else 1)]
    return float(statistics.median(times))


def print_table(rows: list[Row]) -> None:
    print("\n| figure | measured | target | met? |\n| --- | --- | --- | --- |")
    for r in rows:
        met = "n/a (quick)" if r["note"].startswith("quick") and not r["met"] else ("yes" if r["met"] else "no")
        note = f" ({r['note']})" if r["note"] else ""
        print(f"| {r['figure']}{note} | {r['measured']} | {r['target']} | {met} |", flush=True)


def platform_env(tmp: str) -> dict[str, str]:
    env = {**os.environ, "VWMP_DATA_DIR": f"{tmp}/data", "VWMP_WORKSPACE_ROOT": f"{tmp}/ws",
           "VWMP_HTTP_PORT": str(free_port()), "VWMP_NATS_PORT": str(free_port()),
           "VWMP_STORAGE_PORT": str(free_port()), "VWMP_ENGINE_PORT": str(free_port()),
           "VWMP_PLUGIN_HOST_PORT": str(free_port()), "VWMP_LOG_LEVEL": "WARNING", "VWMP_PLUGINS": "hello",
           "VWMP_RATE_LIMIT": "0"}  # the benchmark is one client sending as fast as it can
    env.pop("VWMP_NATS_URL", None)
    env.pop("VWMP_DATABASE_URL", None)  # the embedded default: SQLite in the data folder
    return env


async def measure_all(platform: Platform, quick: bool, rounds: int, only: Callable[[str], bool]) -> list[Row]:
    token = platform.admin_token_file.read_text().strip()
    rows: list[Row] = []
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{platform.env['VWMP_HTTP_PORT']}", timeout=120,
                                 headers={"Authorization": f"Bearer {token}"}) as http:
        if only("api"):
            rows += await api_rows(platform, http, quick, rounds)
    if only("engine"):
        engine = await engine_rows(platform, quick)
        rows = engine[:1] + rows + engine[1:]  # in the order of the table
    return rows


def _stop_on_sigterm() -> None:
    """SIGTERM (a timeout, a CI cancel) stops the platform's processes too instead of orphaning them."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a one-minute smoke run at smaller sizes")
    parser.add_argument("--rounds", type=int, default=3, help="repetitions of the API timings (median)")
    parser.add_argument("--only", choices=("api", "engine"), help="measure only the API rows or the engine rows")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    _stop_on_sigterm()
    with tempfile.TemporaryDirectory(prefix="vwmp-bench-") as tmp:
        platform = Platform(env=platform_env(tmp))
        platform.start()
        try:
            time.sleep(1.0)  # let the plugin host announce itself
            rows = asyncio.run(measure_all(platform, args.quick, 1 if args.quick else args.rounds,
                                           lambda part: args.only in (None, part)))
        finally:
            platform.stop()
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
