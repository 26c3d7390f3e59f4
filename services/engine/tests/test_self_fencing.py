"""Self-fencing: an engine that cannot reach storage to renew a run's lease stops executing the run
itself, before the lease can expire and another engine claim it; one whose storage is merely slow
does not.

A real TCP proxy (`vwmp_testkit.delay_proxy`) sits between the engine and a real storage process;
cutting it is a partition (the connection stays open, nothing gets through). The plugin host is
reached directly, so the engine's plugin call would go on if the engine did not cancel it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from vwmp_common.clients import storage_client
from vwmp_common.ports import free_port
from vwmp_common.states import EventType
from vwmp_engine import Engine
from vwmp_engine.self_fencing import FENCE_AT, PROBE_AFTER, REACH_WINDOW, Reachability
from vwmp_testkit.delay_proxy import DelayProxy

from .conftest import Replica, Services, engine_settings, replica, start_process, wait_serving

LEASE = 3.0
FENCED = "lease not renewed in time; stopped executing the run"


def workflow(name: str, seconds: float) -> dict[str, object]:
    return {"apiVersion": "vwmp/v1", "kind": "Workflow", "metadata": {"name": name}, "spec": {"steps": [
        {"id": "work", "uses": "testkit/slow", "with": {"seconds": seconds, "journal": f"{name}.txt"}}]}}


def journal(services: Services, name: str) -> list[str]:
    path = services.logs / "ws" / f"{name}.txt"
    return path.read_text().splitlines() if path.exists() else []


async def until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)
    assert condition(), what


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_overdue_lease_is_fenced_only_while_storage_does_not_answer() -> None:
    clock = Clock()
    reach = Reachability(10.0, clock)
    renewed = clock.now
    clock.now += PROBE_AFTER * 10 - 0.01
    assert not reach.overdue(renewed)
    clock.now += 0.02
    assert reach.overdue(renewed) and not reach.must_fence(renewed)
    clock.now = renewed + FENCE_AT * 10 - 0.01
    assert not reach.must_fence(renewed)
    clock.now += 0.02
    assert reach.must_fence(renewed)  # nothing answered since the renewal: storage is unreachable
    reach.answered()  # a health check answered: storage is there, only slow to renew
    assert not reach.must_fence(renewed)
    clock.now += REACH_WINDOW * 10 + 0.01
    assert reach.must_fence(renewed)  # and then nothing more


@contextlib.asynccontextmanager
async def through(services: Services, nats_url: str, proxy: DelayProxy, owner: str) -> AsyncIterator[Replica]:
    settings = engine_settings(services, nats_url, owner, lease_seconds=LEASE).model_copy(
        update={"storage_address": proxy.target})
    async with Engine(settings) as engine:
        async with asyncio.timeout(20):
            while engine.registry.get("testkit/slow") is None:
                await asyncio.sleep(0.05)
        yield Replica(engine, storage_client(services.storage_target))


@pytest.mark.timeout(90)
async def test_an_engine_cut_off_from_storage_stops_its_run_before_another_can_claim_it(
    services: Services, nats_server: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    name = "fenced"
    async with DelayProxy(services.storage_target) as proxy, \
            through(services, nats_server, proxy, f"cut-off-{free_port()}") as a:
        await a.apply(workflow(name, seconds=6))
        run_id = await a.start(name)
        first = f"{run_id}/work/1"
        await until(lambda: f"start {first}" in journal(services, name), 20, "the step never started")
        cut = time.monotonic()
        proxy.cut()
        await until(lambda: run_id not in a.keeper.handles, LEASE * 2, "the cut-off engine kept the run")
        stopped = time.monotonic() - cut
        assert stopped < LEASE, f"stopped {stopped:.2f}s after the cut: another engine could have claimed it"
        fenced = [r for r in caplog.records if r.getMessage() == FENCED]
        assert len(fenced) == 1, [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        fields = fenced[0].__dict__["fields"]
        assert fields["run_id"] == run_id
        assert FENCE_AT * LEASE <= fields["unrenewed_seconds"] < LEASE  # before the lease could expire
        await until(lambda: f"cancelled {first}" in journal(services, name), 5, "the plugin call went on")

        async with replica(services, nats_server, f"taker-{free_port()}", lease_seconds=LEASE) as b:
            run = await b.wait(run_id, timeout=40)
            proxy.heal()  # the cut-off engine hears from storage again: it must not write a thing
            await asyncio.sleep(LEASE)
            events = await b.events(run_id)
        assert run.state == "succeeded"
        second = f"{run_id}/work/2"
        assert journal(services, name) == [f"start {first}", f"cancelled {first}", f"start {second}",
                                           f"done {second}"]
        attempts = [(e.type, e.attempt) for e in events if e.step_id == "work"]
        assert attempts == [(EventType.STEP_STARTED, 1), (EventType.STEP_STARTED, 2),
                            (EventType.STEP_SUCCEEDED, 2)], attempts


@pytest.mark.timeout(90)
async def test_an_engine_whose_storage_is_slow_but_answers_keeps_its_run(
    services: Services, nats_server: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The database locked for longer than a lease: renewals wait in storage, its health answers."""
    caplog.set_level(logging.INFO)
    name = "slow-storage"
    async with replica(services, nats_server, f"patient-{free_port()}", lease_seconds=LEASE) as a:
        await a.apply(workflow(name, seconds=LEASE * 2))
        run_id = await a.start(name)
        first = f"{run_id}/work/1"
        await until(lambda: f"start {first}" in journal(services, name), 20, "the step never started")
        database = sqlite3.connect(Path(services.env["VWMP_DATA_DIR"]) / "vwmp.db", timeout=10)
        try:
            database.execute("BEGIN IMMEDIATE")  # every write of storage waits for this lock
            await asyncio.sleep(LEASE * 1.3)
            assert run_id in a.keeper.handles and not a.keeper.handles[run_id].fenced
        finally:
            database.rollback()
            database.close()
        run = await a.wait(run_id, timeout=30)
    assert run.state == "succeeded"
    assert journal(services, name) == [f"start {first}", f"done {first}"]
    assert not [r for r in caplog.records if r.getMessage() == FENCED]


@pytest.mark.timeout(120)
async def test_an_engine_whose_storage_is_down_for_longer_than_a_lease_keeps_its_run(
    services: Services, nats_server: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Storage SIGKILLed and restarted a lease later: refused, not silent, so nobody could claim; no fence."""
    caplog.set_level(logging.INFO)
    name = "storage-down"
    port = free_port()
    env = {**services.env, "VWMP_DATA_DIR": str(tmp_path / "data"), "VWMP_STORAGE_PORT": str(port)}
    env.pop("VWMP_METRICS_PORT", None)
    target = f"127.0.0.1:{port}"
    storage = start_process("vwmp_storage", env, tmp_path / "storage.log")
    try:
        await asyncio.to_thread(wait_serving, target, 60)
        own = Services(env, target, services.plugin_host, services.logs, "", services.secrets_dir)
        async with replica(own, nats_server, f"waits-{free_port()}", lease_seconds=LEASE) as a:
            await a.apply(workflow(name, seconds=LEASE * 2.5))
            run_id = await a.start(name)
            first = f"{run_id}/work/1"
            await until(lambda: f"start {first}" in journal(services, name), 20, "the step never started")
            storage.kill()
            await asyncio.to_thread(storage.wait, 10)
            await asyncio.sleep(LEASE * 1.2)
            assert run_id in a.keeper.handles and not a.keeper.handles[run_id].fenced
            storage = start_process("vwmp_storage", env, tmp_path / "storage.log")
            await asyncio.to_thread(wait_serving, target, 60)
            run = await a.wait(run_id, timeout=60)
        assert run.state == "succeeded"
        assert journal(services, name) == [f"start {first}", f"done {first}"]
        assert not [r for r in caplog.records if r.getMessage() == FENCED]
    finally:
        storage.terminate()
        storage.wait(timeout=10)
