"""Engine semantics over real processes: retries, timeouts, pause/resume, retry-from-failure, re-run, secrets."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from vwmp_common.states import ControlAction
from vwmp_proto.engine.v1 import engine_pb2

from .test_runs import workflow


def journal(services, name: str) -> list[str]:
    path = Path(services.env["VWMP_WORKSPACE_ROOT"]) / name
    return path.read_text().splitlines() if path.exists() else []


async def control(engine, run_id: str, action: str, step_id: str = "") -> None:
    await engine.service.ControlRun(engine_pb2.ControlRunRequest(run_id=run_id, action=ControlAction(action).number,
                                                                 actor="op",
                                                                 step_id=step_id), None)


async def test_a_flaky_step_is_retried_with_backoff_and_counts_attempts(engine, services) -> None:
    definition = workflow({"id": "flaky", "uses": "testkit/flaky", "with": {"succeed_on": 3, "journal": "flaky.txt"},
                           "retry": {"max_attempts": 3, "backoff": "exponential", "initial_interval": "50ms"}})
    await engine.apply(definition)
    run_id = await engine.start(definition["metadata"]["name"])
    run = await engine.wait(run_id)
    assert run.state == "succeeded"
    assert run.steps[0].attempt == 3
    retrying = [json.loads(e.data_json) for e in await engine.events(run_id) if e.type == "step.retrying"]
    assert [(r["attempt"], r["delay_seconds"]) for r in retrying] == [(1, 0.05), (2, 0.1)]
    assert journal(services, "flaky.txt") == [f"run {run_id}/flaky/{n}" for n in (1, 2, 3)]


async def test_retries_stop_at_max_attempts(engine) -> None:
    definition = workflow({"id": "flaky", "uses": "testkit/flaky", "with": {"succeed_on": 5, "journal": "x.txt"},
                           "retry": {"max_attempts": 2, "backoff": "fixed", "initial_interval": "10ms"}})
    await engine.apply(definition)
    run = await engine.wait(await engine.start(definition["metadata"]["name"]))
    assert run.state == "failed" and run.steps[0].attempt == 2
    assert "attempt 2 failed on purpose" in run.steps[0].error


@pytest.mark.parametrize("kind", ["config", "denied"])
async def test_config_and_authorization_errors_are_never_retried(engine, kind: str) -> None:
    definition = workflow({"id": "bad", "uses": "testkit/fail", "with": {"kind": kind, "message": "no way"},
                           "retry": {"max_attempts": 5, "initial_interval": "10ms"}})
    await engine.apply(definition)
    run_id = await engine.start(definition["metadata"]["name"])
    run = await engine.wait(run_id)
    assert run.state == "failed" and run.steps[0].attempt == 1
    failed = next(json.loads(e.data_json) for e in await engine.events(run_id) if e.type == "step.failed")
    assert failed == {"error": "no way", "kind": kind}


async def test_a_timeout_cancels_the_call_and_says_it_timed_out(engine, services) -> None:
    definition = workflow({"id": "slow", "uses": "testkit/slow", "timeout": "300ms",
                           "with": {"seconds": 30, "journal": "slow.txt"}})
    await engine.apply(definition)
    run_id = await engine.start(definition["metadata"]["name"])
    run = await engine.wait(run_id, timeout=10)
    assert run.state == "failed"
    assert "timed out after 0.3s" in run.steps[0].error
    await asyncio.sleep(0.3)
    assert journal(services, "slow.txt") == [f"start {run_id}/slow/1", f"cancelled {run_id}/slow/1"]


async def test_a_run_timeout_fails_the_run(engine) -> None:
    definition = workflow({"id": "nap", "uses": "core/sleep", "with": {"seconds": 30}}, timeout="400ms")
    await engine.apply(definition)
    run_id = await engine.start(definition["metadata"]["name"])
    run = await engine.wait(run_id, timeout=10)
    assert run.state == "failed" and run.steps[0].state == "cancelled"
    final = (await engine.events(run_id))[-1]
    assert final.type == "run.failed" and "timed out" in json.loads(final.data_json)["reason"]


async def test_cancel_cancels_the_plugin_handler_too(engine, services) -> None:
    definition = workflow({"id": "slow", "uses": "testkit/slow", "with": {"seconds": 30, "journal": "c.txt"}})
    await engine.apply(definition)
    run_id = await engine.start(definition["metadata"]["name"])
    await engine.wait_step(run_id, "slow", "running")
    await asyncio.sleep(0.2)
    began = time.monotonic()
    await control(engine, run_id, "cancel")
    run = await engine.wait(run_id, timeout=5)
    assert run.state == "cancelled" and time.monotonic() - began < 1.0
    await asyncio.sleep(0.3)
    assert f"cancelled {run_id}/slow/1" in journal(services, "c.txt")


async def test_pause_dispatches_nothing_new_and_resume_goes_on(engine) -> None:
    definition = workflow({"id": "first", "uses": "core/sleep", "with": {"seconds": 0.5}},
                          {"id": "second", "uses": "core/noop", "needs": ["first"]})
    await engine.apply(definition)
    run_id = await engine.start(definition["metadata"]["name"])
    await engine.wait_step(run_id, "first", "running")
    await control(engine, run_id, "pause")
    await engine.wait_step(run_id, "first", "succeeded")
    await asyncio.sleep(0.3)
    run = await engine.run(run_id)
    assert run.state == "paused" and run.steps[1].state == "pending"
    await engine.service.controls.apply(run_id, "resume", "op")
    with pytest.raises(Exception, match="only a paused run"):  # a double resume has one winner
        await engine.service.controls.apply(run_id, "resume", "op")
    run = await engine.wait(run_id)
    assert run.state == "succeeded"
    types = [e.type for e in await engine.events(run_id)]
    assert types.index("run.paused") < types.index("run.resumed") < types.index("run.succeeded")


async def test_retry_from_failure_reruns_failed_and_downstream_and_keeps_earlier_outputs(engine, services) -> None:
    definition = workflow(
        {"id": "early", "uses": "testkit/echo", "with": {"value": "kept"}},
        {"id": "fragile", "uses": "testkit/flaky", "needs": ["early"], "with": {"succeed_on": 2, "journal": "r.txt"}},
        {"id": "late", "uses": "testkit/echo", "needs": ["fragile"],
         "with": {"value": "${{ steps.early.outputs.value }}"}},
    )
    await engine.apply(definition)
    run_id = await engine.start(definition["metadata"]["name"])
    run = await engine.wait(run_id)
    assert run.state == "failed"
    assert {s.id: s.state for s in run.steps} == {"early": "succeeded", "fragile": "failed", "late": "skipped"}
    await control(engine, run_id, "retry")
    run = await engine.wait(run_id)
    steps = {s.id: s for s in run.steps}
    assert run.state == "succeeded"
    assert steps["early"].attempt == 1 and steps["fragile"].attempt == 2
    assert json.loads(steps["late"].outputs_json) == {"value": "kept"}
    events = await engine.events(run_id)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))


async def test_rerun_from_a_chosen_step_reruns_it_and_everything_downstream(engine) -> None:
    definition = workflow(
        {"id": "a", "uses": "testkit/echo", "with": {"value": "1"}},
        {"id": "b", "uses": "testkit/echo", "needs": ["a"], "with": {"value": "2"}},
        {"id": "c", "uses": "testkit/echo", "needs": ["b"], "with": {"value": "3"}},
        {"id": "side", "uses": "core/noop", "needs": ["a"]},
    )
    await engine.apply(definition)
    run_id = await engine.start(definition["metadata"]["name"])
    await engine.wait(run_id)
    await control(engine, run_id, "rerun", step_id="b")
    run = await engine.wait(run_id)
    assert run.state == "succeeded"
    assert {s.id: s.attempt for s in run.steps} == {"a": 1, "b": 2, "c": 2, "side": 1}


async def test_terminal_runs_never_change_and_cancel_races_have_one_winner(engine) -> None:
    definition = workflow({"id": "a", "uses": "core/sleep", "with": {"seconds": 5}})
    await engine.apply(definition)
    run_id = await engine.start(definition["metadata"]["name"])
    await engine.wait_step(run_id, "a", "running")
    outcomes = await asyncio.gather(*(engine.service.controls.apply(run_id, "cancel", "op") for _ in range(3)),
                                    return_exceptions=True)
    assert sum(1 for o in outcomes if o is None) == 1
    run = await engine.wait(run_id)
    assert run.state == "cancelled"
    events = await engine.events(run_id)
    assert [e.type for e in events].count("run.cancelled") == 1
    with pytest.raises(Exception, match="already cancelled"):
        await engine.service.controls.apply(run_id, "cancel", "op")


async def test_max_parallel_bounds_a_run(engine, services) -> None:
    steps = [{"id": f"s{i}", "uses": "testkit/slow", "with": {"seconds": 0.2, "journal": "par.txt"}} for i in range(6)]
    definition = workflow(*steps, max_parallel=2)
    await engine.apply(definition)
    run_id = await engine.start(definition["metadata"]["name"])
    await engine.wait(run_id)
    running = peak = 0
    for line in journal(services, "par.txt"):
        if line.startswith(f"start {run_id}"):
            running += 1
            peak = max(peak, running)
        elif line.startswith(f"done {run_id}"):
            running -= 1
    assert peak == 2


async def test_a_secret_never_reaches_logs_outputs_errors_or_events(engine) -> None:
    canary = "canary-s3cr3t-value"
    definition = workflow(
        {"id": "use", "uses": "testkit/echo", "with": {"value": "token=${{ secrets.CANARY }}"}},
        {"id": "fail", "uses": "testkit/fail", "needs": ["use"], "with": {"message": "bad ${{ secrets.CANARY }}"}},
    )
    await engine.apply(definition)
    run_id = await engine.start(definition["metadata"]["name"])
    run = await engine.wait(run_id)
    assert run.state == "failed"
    from vwmp_proto.storage.v1 import storage_pb2

    logs = await engine.storage.GetStepLogs(storage_pb2.GetStepLogsRequest(run_id=run_id, step_id="use"))
    everything = str(run) + str(await engine.events(run_id)) + str(logs)
    assert "token=***" in everything and "bad ***" in everything
    assert canary not in everything


async def test_platform_config_defaults_apply_to_steps_and_reach_plugins(engine) -> None:
    from vwmp_proto.storage.v1 import storage_pb2

    document = {"git": {"author_name": "Release Bot", "author_email": "bot@example.com"},
                "step_defaults": {"testkit/echo": {"value": "from-config"}}}
    await engine.storage.PutConfig(storage_pb2.PutConfigRequest(document_json=json.dumps(document), actor="admin"))
    engine.engine.store.forget_platform_config()  # the engine caches the config for a few seconds
    definition = workflow({"id": "defaulted", "uses": "testkit/echo"},
                          {"id": "explicit", "uses": "testkit/echo", "with": {"value": "mine"}})
    await engine.apply(definition)
    run = await engine.wait(await engine.start(definition["metadata"]["name"]))
    outputs = {s.id: json.loads(s.outputs_json) for s in run.steps}
    assert outputs == {"defaulted": {"value": "from-config"}, "explicit": {"value": "mine"}}


async def test_a_retried_run_gets_its_run_timeout_afresh(engine) -> None:
    definition = workflow({"id": "nap", "uses": "core/sleep", "with": {"seconds": 0.2}},
                          {"id": "flaky", "uses": "testkit/fail", "needs": ["nap"], "with": {"message": "x"}},
                          timeout="1500ms")
    await engine.apply(definition)
    run_id = await engine.start(definition["metadata"]["name"])
    assert (await engine.wait(run_id)).state == "failed"
    await asyncio.sleep(1.6)  # longer than the run timeout since the first start
    await control(engine, run_id, "rerun", step_id="nap")
    run = await engine.wait(run_id)
    assert run.state == "failed" and {s.id: s.state for s in run.steps} == {"nap": "succeeded", "flaky": "failed"}
    assert "timed out" not in str(await engine.events(run_id))


async def test_the_per_engine_step_limit_bounds_every_run_together(services, nats_server) -> None:
    from vwmp_common.ports import free_port

    from .conftest import replica

    async with replica(services, nats_server, owner=f"narrow-{free_port()}", max_steps=3) as narrow:
        steps = [{"id": f"s{i}", "uses": "testkit/slow", "with": {"seconds": 0.2, "journal": "limit.txt"}}
                 for i in range(4)]
        definition = workflow(*steps)
        await narrow.apply(definition)
        run_ids = [await narrow.start(definition["metadata"]["name"]) for _ in range(2)]
        for run_id in run_ids:
            assert (await narrow.wait(run_id)).state == "succeeded"
    running = peak = 0
    for line in journal(services, "limit.txt"):
        if line.split()[1].split("/")[0] in run_ids:
            running += 1 if line.startswith("start") else -1 if line.startswith("done") else 0
            peak = max(peak, running)
    assert peak == 3


async def test_a_control_reaches_the_owning_replica_or_is_refused_never_written_behind_its_back(
    engine, services, nats_server
) -> None:
    import grpc
    from vwmp_common.ports import free_port

    from .conftest import replica

    class Context:
        async def abort(self, code, details):
            raise grpc.RpcError(f"{code.name}: {details}")

    async with replica(services, nats_server, owner=f"other-{free_port()}") as other:
        definition = workflow({"id": "long", "uses": "core/sleep", "with": {"seconds": 30}})
        await engine.apply(definition)
        run_id = await engine.start(definition["metadata"]["name"])
        await engine.wait_step(run_id, "long", "running")
        owner = engine if engine.keeper.executor(run_id) else other
        bystander = other if owner is engine else engine
        assert owner.keeper.executor(run_id) is not None
        await bystander.service.ControlRun(
            engine_pb2.ControlRunRequest(run_id=run_id, action=ControlAction.PAUSE.number, actor="op"),
            Context())  # forwarded over NATS to the owner
        assert (await owner.run(run_id)).state == "paused"
        assert owner.keeper.executor(run_id).state == "paused"
        bystander.service.controls.nats = None  # the owner cannot be reached now
        with pytest.raises(grpc.RpcError, match=r"UNAVAILABLE: .*did not answer"):
            await bystander.service.ControlRun(
                engine_pb2.ControlRunRequest(run_id=run_id, action=ControlAction.RESUME.number, actor="op"), Context())
        assert (await owner.run(run_id)).state == "paused"
        await control(owner, run_id, "cancel")
        assert (await owner.wait(run_id)).state == "cancelled"


async def test_a_run_reopened_after_more_than_a_thousand_events_gets_its_run_timeout_afresh(engine) -> None:
    noops = [{"id": f"n{i}", "uses": "core/noop"} for i in range(510)]
    definition = workflow(*noops, {"id": "flaky", "uses": "testkit/fail", "with": {"message": "x"}}, timeout="5s")
    await engine.apply(definition)
    run_id = await engine.start(definition["metadata"]["name"])
    first = await engine.wait(run_id, timeout=5)
    assert first.state == "failed"
    assert first.last_seq > 1_000
    await asyncio.sleep(max(0.0, 5.1 - (time.time() - first.started_at.timestamp())))  # the first deadline is past
    await control(engine, run_id, "rerun", step_id="flaky")
    run = await engine.wait(run_id)
    assert run.state == "failed" and run.reopened_at > first.finished_at
    after = [e for e in await engine.events(run_id) if e.seq > first.last_seq]
    assert [e.type for e in after] == ["run.resumed", "step.started", "step.failed", "run.failed"]
    assert "timed out" not in str(after)
