"""Concurrency keys: what a key costs a run, and what the admission query costs a claim: `make bench`.

Two figures, each printed with its target beside it:

1. End to end (the platform's real processes, SQLite): N runs of a 3-step `core/noop` chain started
   at once, unkeyed, then each with a distinct concurrency key (so no run waits for another and the
   difference is the bookkeeping alone). Target: keyed within 10 % of unkeyed.
2. The claim (storage in-process, SQLite and, when it answers, PostgreSQL): `LeaseStore.claim` with
   1,000 finished runs in the table and none claimable, the path every engine replica polls twice a
   second: the claim's own select (as before keys) and the admission query that every claim now runs
   once (`concurrency.admissible`). Target: the admission query is one indexed query (no table scan)
   costing at most twice the claim's select.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import create_engine, or_, select, text
from vwmp_cli.up import Platform
from vwmp_common.clients import engine_client, storage_client
from vwmp_common.ports import free_port
from vwmp_common.states import TERMINAL_RUN_STATES, RunState
from vwmp_common.timeutil import utcnow
from vwmp_proto.engine.v1 import engine_pb2
from vwmp_proto.storage.v1 import storage_pb2
from vwmp_storage import concurrency
from vwmp_storage.concurrency import Concurrency
from vwmp_storage.leases import CLAIMABLE_STATES
from vwmp_storage.models import runs
from vwmp_storage.storage import Storage, open_storage
from vwmp_storage.transitions import Transition

POSTGRES_ADMIN = os.environ.get("VWMP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TARGET_RATIO = 1.10
TARGET_QUERY_RATIO = 2.0


# ----- 1. end to end ----------------------------------------------------------------------------------------


async def scenario(platform: Platform, runs: int, keyed: bool, within: float) -> float:
    storage = storage_client(f"127.0.0.1:{platform.env['VWMP_STORAGE_PORT']}")
    engine = engine_client(f"127.0.0.1:{platform.env['VWMP_ENGINE_PORT']}")
    name = f"keyed-{uuid.uuid4().hex[:8]}" if keyed else f"unkeyed-{uuid.uuid4().hex[:8]}"
    spec: dict[str, Any] = {"parameters": {"type": "object", "properties": {"i": {"type": "integer"}}},
                            "steps": [{"id": f"s{i}", "uses": "core/noop", **({"needs": [f"s{i - 1}"]} if i else {})}
                                      for i in range(3)]}
    if keyed:
        spec["concurrency"] = {"key": "bench-${{ params.i }}"}
    definition = {"apiVersion": "vwmp/v1", "kind": "Workflow", "metadata": {"name": name}, "spec": spec}
    await storage.CreateWorkflow(storage_pb2.CreateWorkflowRequest(
        name=name, definition_json=json.dumps(definition), created_by="bench"))

    async def start(i: int) -> None:
        response = await engine.StartRun(engine_pb2.StartRunRequest(
            workflow=name, parameters_json=json.dumps({"i": i}), actor="bench"))
        assert not response.errors, list(response.errors)

    began = time.perf_counter()
    await asyncio.gather(*(start(i) for i in range(runs)))
    async with asyncio.timeout(within):
        while True:
            page = await storage.ListRuns(storage_pb2.ListRunsRequest(workflow=name, limit=500))
            states = [RunState.from_number(run.state) for run in page.runs]
            if page.total == runs and len(states) == runs and all(s in TERMINAL_RUN_STATES for s in states):
                break
            await asyncio.sleep(0.1)
    wall = time.perf_counter() - began
    assert set(states) == {RunState.SUCCEEDED}, set(states)
    return wall


async def end_to_end(platform: Platform, runs: int, rounds: int, within: float) -> dict[str, list[float]]:
    found: dict[str, list[float]] = {"unkeyed": [], "keyed": []}
    for _ in range(rounds):  # interleaved, so a slow spell of the machine hits both alike
        for kind in ("unkeyed", "keyed"):
            found[kind].append(await scenario(platform, runs, kind == "keyed", within))
    return found


# ----- 2. the claim ---------------------------------------------------------------------------------------


def timed(call: Callable[[], Any], times: int) -> float:
    """Median milliseconds of `call`."""
    samples = []
    for _ in range(times):
        began = time.perf_counter()
        call()
        samples.append((time.perf_counter() - began) * 1000)
    return statistics.median(samples)


def fill(storage: Storage, finished: int, keyed: bool) -> None:
    definition = {"apiVersion": "vwmp/v1", "kind": "Workflow", "metadata": {"name": "bench"},
                  "spec": {"steps": [{"id": "a", "uses": "core/noop"}]}}
    storage.definitions.create("bench", json.dumps(definition), "bench")
    for i in range(finished):
        run = storage.runs.create("bench", 0, "{}", False, "bench", [("a", "core/noop")],
                                  Concurrency(f"k-{i}") if keyed else None)
        storage.transitions.record(run.id, "", 0, [Transition(event_type="run.succeeded", run_state="succeeded")])


def claim_costs(url: str, finished: int, times: int) -> dict[str, Any]:
    storage = open_storage(url)
    try:
        fill(storage, finished, keyed=True)
        now = utcnow()
        # The claim's own select, as before concurrency keys (and the same statement shape).
        free = (select(runs.c.id, runs.c.lease_epoch, runs.c.created_at)
                .where(runs.c.state.in_(CLAIMABLE_STATES), or_(runs.c.lease_owner == "", runs.c.lease_expires_at < now))
                .order_by(runs.c.created_at, runs.c.id).limit(50))
        with storage.database.read() as conn:
            base = timed(lambda: conn.execute(free).all(), times)
            admission = timed(lambda: concurrency.admissible(conn, 50), times)
            explain = "EXPLAIN QUERY PLAN " if storage.database.is_sqlite else "EXPLAIN "
            compiled = concurrency._ADMISSIBLE.compile(conn, compile_kwargs={"literal_binds": True})
            plan = [str(row[-1]) for row in conn.exec_driver_sql(explain + str(compiled)).all()]
        claim = timed(lambda: storage.leases.claim("bench", 50, 30), times)
        for i in range(10):  # ten keys, each with three runs waiting behind its holder
            for _ in range(4):
                storage.runs.create("bench", 0, "{}", False, "bench", [("a", "core/noop")], Concurrency(f"w-{i}"))
        blocked = timed(lambda: storage.leases.claim("bench", 50, 30), times)
    finally:
        storage.close()
    indexes = sorted({word for line in plan for word in line.replace("(", " ").split() if word.startswith("ix_")})
    return {"base_ms": base, "admission_ms": admission, "claim_ms": claim, "claim_blocked_ms": blocked,
            "indexes": indexes, "scans_table": any("SCAN runs" in line or "Seq Scan on runs" in line for line in plan)}


def postgres_database() -> tuple[str, Callable[[], None]] | None:
    name = f"vwmp_bench_{uuid.uuid4().hex[:8]}"
    try:
        admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception:  # no PostgreSQL here: the figure is SQLite only
        return None

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}", drop


# ----- main -------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--finished", type=int, default=1000, help="finished runs in the table for the claim figure")
    parser.add_argument("--timeout", type=float, default=150.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vwmp-bench-keyed-") as tmp:
        report_claim("sqlite", claim_costs(f"sqlite:///{tmp}/claim.db", args.finished, 200))
        database = postgres_database()
        if database is not None:
            url, drop = database
            try:
                report_claim("postgresql", claim_costs(url, args.finished, 200))
            finally:
                drop()
        env = {**os.environ, "VWMP_DATA_DIR": f"{tmp}/data", "VWMP_WORKSPACE_ROOT": f"{tmp}/ws",
               "VWMP_HTTP_PORT": str(free_port()), "VWMP_NATS_PORT": str(free_port()),
               "VWMP_STORAGE_PORT": str(free_port()), "VWMP_ENGINE_PORT": str(free_port()),
               "VWMP_PLUGIN_HOST_PORT": str(free_port()), "VWMP_LOG_LEVEL": "WARNING", "VWMP_PLUGINS": "hello"}
        env.pop("VWMP_NATS_URL", None)
        env.pop("VWMP_DATABASE_URL", None)
        platform = Platform(env=env)
        platform.start()
        try:
            time.sleep(1.0)
            found = asyncio.run(end_to_end(platform, args.runs, args.rounds, args.timeout))
        finally:
            platform.stop()
    unkeyed, keyed = statistics.median(found["unkeyed"]), statistics.median(found["keyed"])
    ratio = keyed / unkeyed
    print(f"{args.runs} runs x 3 steps, started at once (median of {args.rounds}, interleaved): "
          f"unkeyed {unkeyed:.2f} s, each with its own key {keyed:.2f} s: x{ratio:.2f} "
          f"(target <= x{TARGET_RATIO:.2f}) {'ok' if ratio <= TARGET_RATIO else 'OVER TARGET'}", flush=True)
    print(f"{'':<10} every round: unkeyed {', '.join(f'{t:.2f}' for t in found['unkeyed'])} s; "
          f"keyed {', '.join(f'{t:.2f}' for t in found['keyed'])} s", flush=True)


def report_claim(label: str, costs: dict[str, Any]) -> None:
    base, admission = costs["base_ms"], costs["admission_ms"]
    within = admission <= base * TARGET_QUERY_RATIO and not costs["scans_table"]
    print(f"{label:<10} claim with nothing to claim: {costs['claim_ms']:.3f} ms in all; its select "
          f"{base:.3f} ms, the admission query {admission:.3f} ms (target: one indexed query, <= x"
          f"{TARGET_QUERY_RATIO:.1f} the claim's select) {'ok' if within else 'OVER TARGET'}; "
          f"with 30 runs waiting behind 10 held keys: {costs['claim_blocked_ms']:.3f} ms", flush=True)
    print(f"{'':<10} admission query plan: indexes {', '.join(costs['indexes']) or 'none'}"
          f"{', a table scan' if costs['scans_table'] else ', no table scan'}", flush=True)


if __name__ == "__main__":
    main()
