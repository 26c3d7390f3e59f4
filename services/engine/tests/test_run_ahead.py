"""Steps without effects run ahead of storage; a step with effects still starts only once its inputs are
durable (docs/engine.md, "Running ahead"). A real TCP proxy sits between the engine and a real storage
process: it counts the writes, and loses the answer to one of them while storage is SIGKILLed.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from vwmp_common.ports import free_port
from vwmp_common.states import ControlAction
from vwmp_engine.executor import RunExecutor
from vwmp_engine.leases import RunHandle
from vwmp_proto.common.v1 import states_pb2
from vwmp_proto.engine.v1 import engine_pb2
from vwmp_proto.storage.v1 import storage_pb2
from vwmp_testkit.grpc_proxy import GrpcProxy

from .conftest import Replica, Services, start_process, wait_serving
from .test_storage_faults import assert_each_event_once, holds, replica_through

CHAIN = 40


def pure_chain(name: str, then: list[dict[str, object]] | None = None) -> dict[str, object]:
    """`CHAIN` core/noop steps in a row, then `then` (needing the last of them)."""
    steps: list[dict[str, object]] = [
        {"id": f"s{i}", "uses": "core/noop", **({"needs": [f"s{i - 1}"]} if i else {})} for i in range(CHAIN)]
    for step in then or []:
        steps.append({**step, "needs": [str(steps[-1]["id"])]})
    return {"apiVersion": "vwmp/v1", "kind": "Workflow", "metadata": {"name": name}, "spec": {"steps": steps}}


@pytest.mark.timeout(120)
async def test_a_chain_of_steps_without_effects_shares_storage_writes_and_records_every_step_once(
        services: Services, nats_server: str) -> None:
    proxy = GrpcProxy(services.storage_target)
    async with proxy, replica_through(services, nats_server, proxy.target) as engine:
        await engine.apply(pure_chain("pure-chain"))
        run_id = await engine.start("pure-chain")
        run = await engine.wait(run_id, timeout=60)
        assert run.state == "succeeded", run
        assert_each_event_once(await engine.events(run_id), [f"s{i}" for i in range(CHAIN)])
        writes = [storage_pb2.RecordTransitionsRequest.FromString(body)
                  for body in proxy.requests.get("RecordTransitions", [])]
        mine = [w for w in writes if w.run_id == run_id]
        # One write a step (its start joined to the end of the one before) was the rule; now a write
        # carries every step that ran meanwhile.
        assert len(mine) <= CHAIN // 2, f"{len(mine)} writes for {CHAIN} steps"
        assert sum(len(w.transitions) for w in mine) >= 2 * CHAIN


@pytest.mark.timeout(120)
async def test_a_run_of_one_pure_step_is_one_storage_write_and_no_read_or_release_after_its_claim(
        services: Services, nats_server: str) -> None:
    """Its start, its step and its end share one commit; the claim brought the run, the end released it."""
    proxy = GrpcProxy(services.storage_target)
    async with proxy, replica_through(services, nats_server, proxy.target) as engine:
        await engine.apply({"apiVersion": "vwmp/v1", "kind": "Workflow", "metadata": {"name": "one-pure"},
                            "spec": {"steps": [{"id": "only", "uses": "core/noop"}]}})
        run_id = await engine.start("one-pure")
        run = await engine.wait(run_id, timeout=60)
        assert run.state == "succeeded", run
        assert_each_event_once(await engine.events(run_id), ["only"])
        writes = [w for w in (storage_pb2.RecordTransitionsRequest.FromString(body)
                              for body in proxy.requests.get("RecordTransitions", [])) if w.run_id == run_id]
        assert [[t.event_type for t in w.transitions] for w in writes] == [[
            states_pb2.EVENT_TYPE_RUN_STARTED, states_pb2.EVENT_TYPE_STEP_STARTED,
            states_pb2.EVENT_TYPE_STEP_SUCCEEDED, states_pb2.EVENT_TYPE_RUN_SUCCEEDED]]
        reads = [storage_pb2.GetRunRequest.FromString(body).id for body in proxy.requests.get("GetRun", [])]
        assert run_id not in reads, "the claim answered with the run: the engine need not read it"
        releases = [storage_pb2.ReleaseLeaseRequest.FromString(body).run_id
                    for body in proxy.requests.get("ReleaseLease", [])]
        assert run_id not in releases, "the run's end released its lease"
        claimed = await engine.storage.ClaimRuns(storage_pb2.ClaimRunsRequest(owner="other", limit=50,
                                                                               lease_seconds=30))
        assert run_id not in [lease.run_id for lease in claimed.leases]


@pytest.mark.timeout(120)
async def test_a_run_retried_while_its_end_winds_down_here_is_claimed_again_not_lost(engine: Replica) -> None:
    """Its end released the lease before its execution here was gone: a claim of it meanwhile lets go
    at once (the next claim runs it), instead of taking it for the execution that is ending."""
    await engine.apply({"apiVersion": "vwmp/v1", "kind": "Workflow", "metadata": {"name": "retried-soon"},
                        "spec": {"steps": [{"id": "flaky", "uses": "testkit/flaky",
                                            "with": {"succeed_on": 2, "journal": "retried-soon.txt"}}]}})
    run_id = await engine.start("retried-soon")
    assert (await engine.wait(run_id)).state == "failed"
    keeper = engine.keeper
    ended = RunExecutor(keeper.runtime, await keeper.runtime.store.get_run(run_id, with_definition=True), 1)
    keeper.handles[run_id] = RunHandle(1, executor=ended)  # as between its end and its task's last line
    await engine.service.ControlRun(engine_pb2.ControlRunRequest(
        run_id=run_id, action=ControlAction.RETRY.number, actor="op"), None)
    await asyncio.sleep(1.5)  # claimed (woken by the retry, then every poll) and let go each time
    assert (await engine.run(run_id)).state != "succeeded", "the ending execution ran the retry"
    del keeper.handles[run_id]  # its execution is gone now
    keeper.wake()
    # Well within the 10 s lease: a claim that had kept the lease would leave the run until it expired.
    assert (await engine.wait(run_id, timeout=5)).state == "succeeded"


@pytest.mark.timeout(150)
async def test_a_step_with_effects_waits_for_its_inputs_to_be_durable_while_storage_is_down(
        services: Services, nats_server: str, tmp_path: Path) -> None:
    """storage commits the effectful step's start and dies before answering: the step must not run until
    storage is back and the write is answered (its inputs are then the ones a new owner would read)."""
    port = free_port()
    env = {**services.env, "VWMP_DATA_DIR": str(tmp_path / "data"), "VWMP_STORAGE_PORT": str(port)}
    env.pop("VWMP_METRICS_PORT", None)
    target = f"127.0.0.1:{port}"
    journal = f"run-ahead-{port}.txt"
    ran = Path(services.env["VWMP_WORKSPACE_ROOT"]) / journal
    storage = start_process("vwmp_storage", env, tmp_path / "storage.log")
    try:
        wait_serving(target, timeout=60)
        async with GrpcProxy(target) as proxy:
            fault = proxy.lose_answer("RecordTransitions", request=holds(states_pb2.EVENT_TYPE_STEP_STARTED, "mark"),
                                      on_answer=storage.kill)
            async with replica_through(services, nats_server, proxy.target, reads=target) as engine:
                await engine.apply(pure_chain("effect-after-pure", then=[
                    {"id": "mark", "uses": "testkit/flaky", "with": {"succeed_on": 1, "journal": journal}},
                    {"id": "after", "uses": "core/noop"}]))
                run_id = await engine.start("effect-after-pure")
                async with asyncio.timeout(60):
                    await fault.lost.wait()
                assert await asyncio.to_thread(storage.wait, 10) == -9
                await asyncio.sleep(1.5)  # the engine sends the write again and again meanwhile
                assert not ran.exists(), "the step with effects ran before its start was durable"
                storage = start_process("vwmp_storage", env, tmp_path / "storage.log")
                await asyncio.to_thread(wait_serving, target, 60)
                run = await engine.wait(run_id, timeout=90)
                assert run.state == "succeeded", run
                assert ran.read_text().splitlines() == [f"run {run_id}/mark/1"]
                assert_each_event_once(await engine.events(run_id), [f"s{i}" for i in range(CHAIN)] + ["mark", "after"])
    finally:
        storage.terminate()
        storage.wait(timeout=10)
