"""Running workflows through real storage and plugin host processes."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from vwmp_common.states import ControlAction

_names = itertools.count()


def workflow(*steps: dict[str, Any], parameters: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"steps": list(steps), **spec}
    if parameters:
        body["parameters"] = parameters
    return {"apiVersion": "vwmp/v1", "kind": "Workflow", "metadata": {"name": f"wf-{next(_names)}"}, "spec": body}


async def test_parallel_and_sequential_steps_pass_outputs_along(engine) -> None:
    definition = workflow(
        {"id": "start", "uses": "core/noop"},
        {"id": "left", "uses": "hello/greet", "needs": ["start"], "with": {"name": "${{ params.who }}"}},
        {"id": "right", "uses": "core/sleep", "needs": ["start"], "with": {"seconds": 0.05}},
        {"id": "join", "uses": "hello/greet", "needs": ["left", "right"],
         "with": {"name": "again ${{ steps.left.outputs.greeting }}"}},
        parameters={"type": "object", "required": ["who"], "properties": {"who": {"type": "string"}}},
    )
    await engine.apply(definition)
    run_id = await engine.start(definition["metadata"]["name"], {"who": "Ada"})
    run = await engine.wait(run_id)
    assert run.state == "succeeded"
    steps = {s.id: s for s in run.steps}
    assert all(s.state == "succeeded" and s.attempt == 1 for s in steps.values())
    assert '"greeting"' in steps["join"].outputs_json and "Ada" in steps["join"].outputs_json
    events = await engine.events(run_id)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    types = [e.type for e in events]
    assert types[0] == "run.queued" and types[1] == "run.started" and types[-1] == "run.succeeded"
    assert types.count("step.succeeded") == 4
    started_join = next(i for i, e in enumerate(events) if e.type == "step.started" and e.step_id == "join")
    for need in ("left", "right"):
        assert any(e.type == "step.succeeded" and e.step_id == need for e in events[:started_join])


async def test_parameters_are_validated_with_pointers(engine) -> None:
    from vwmp_proto.engine.v1 import engine_pb2

    definition = workflow({"id": "a", "uses": "core/noop"},
                          parameters={"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}})
    await engine.apply(definition)
    response = await engine.service.StartRun(engine_pb2.StartRunRequest(
        workflow=definition["metadata"]["name"], parameters_json='{"n": "x"}'), None)
    assert not response.run.id
    assert [(e.pointer, e.message) for e in response.errors] == [("/n", "'x' is not of type 'integer'")]


async def test_a_failed_step_skips_its_dependents_and_fails_the_run(engine) -> None:
    definition = workflow(
        {"id": "bad", "uses": "core/sleep", "with": {"seconds": "${{ params.s }}"}},
        {"id": "after", "uses": "core/noop", "needs": ["bad"]},
        {"id": "other", "uses": "core/noop"},
        parameters={"type": "object", "properties": {"s": {"type": "string"}}},
    )
    await engine.apply(definition)
    run = await engine.wait(await engine.start(definition["metadata"]["name"], {}))
    assert run.state == "failed"
    steps = {s.id: s for s in run.steps}
    assert steps["bad"].state == "failed" and "params.s" in steps["bad"].error
    assert steps["after"].state == "skipped"
    assert steps["other"].state == "succeeded"


async def test_an_optional_failure_ends_succeeded_with_warnings(engine) -> None:
    definition = workflow(
        {"id": "flaky", "uses": "core/sleep", "optional": True, "with": {"seconds": "${{ params.s }}"}},
        {"id": "fine", "uses": "core/noop"},
        {"id": "cleanup", "uses": "core/noop", "needs": ["flaky"], "if": "${{ steps.flaky.state == 'failed' }}"},
        {"id": "skipped", "uses": "core/noop", "needs": ["flaky"]},
        parameters={"type": "object", "properties": {"s": {"type": "string"}}},
    )
    await engine.apply(definition)
    run = await engine.wait(await engine.start(definition["metadata"]["name"], {}))
    states = {s.id: s.state for s in run.steps}
    assert run.state == "succeeded_with_warnings"
    assert states == {"flaky": "failed", "fine": "succeeded", "cleanup": "succeeded", "skipped": "skipped"}


async def test_a_false_condition_skips_the_step(engine) -> None:
    definition = workflow(
        {"id": "maybe", "uses": "core/noop", "if": "${{ params.part != 'patch' }}"},
        {"id": "always", "uses": "core/noop"},
        parameters={"type": "object", "properties": {"part": {"type": "string"}}},
    )
    await engine.apply(definition)
    run = await engine.wait(await engine.start(definition["metadata"]["name"], {"part": "patch"}))
    assert run.state == "succeeded"
    assert {s.id: s.state for s in run.steps} == {"maybe": "skipped", "always": "succeeded"}


async def test_approval_waits_for_a_person_and_reject_fails_the_gate(engine) -> None:
    definition = workflow(
        {"id": "gate", "uses": "core/approval", "with": {"message": "ship it?"}},
        {"id": "ship", "uses": "hello/greet", "needs": ["gate"], "with": {"name": "prod"}},
    )
    await engine.apply(definition)
    name = definition["metadata"]["name"]
    approved = await engine.start(name)
    rejected = await engine.start(name)
    step = await engine.wait_step(approved, "gate", "awaiting_approval")
    assert '"plan"' in step.outputs_json and "ship" in step.outputs_json  # the approver sees what comes next
    await engine.wait_step(rejected, "gate", "awaiting_approval")
    await engine.decide(approved, actor="alice", comment="go")
    await engine.decide(rejected, approve=False, actor="bob", comment="not today")
    ok, no = await engine.wait(approved), await engine.wait(rejected)
    assert ok.state == "succeeded"
    outputs = json.loads(next(s for s in ok.steps if s.id == "gate").outputs_json)
    assert outputs["approved_by"] == "alice" and outputs["comment"] == "go"
    assert outputs["plan"][0]["step"] == "ship"
    assert no.state == "failed"
    gate = next(s for s in no.steps if s.id == "gate")
    assert gate.error == "rejected by bob: not today"
    assert next(s for s in no.steps if s.id == "ship").state == "skipped"


async def test_dry_run_passes_approvals_at_once_and_hands_dry_run_to_plugins(engine) -> None:
    definition = workflow(
        {"id": "gate", "uses": "core/approval"},
        {"id": "greet", "uses": "hello/greet", "needs": ["gate"], "with": {"name": "x"}},
    )
    await engine.apply(definition)
    run = await engine.wait(await engine.start(definition["metadata"]["name"], dry_run=True))
    assert run.state == "succeeded" and run.dry_run
    greet = next(s for s in run.steps if s.id == "greet")
    assert '"plan"' in greet.outputs_json


async def test_cancel_stops_a_running_step_within_a_second(engine) -> None:
    import asyncio
    import time

    from vwmp_proto.engine.v1 import engine_pb2

    definition = workflow({"id": "long", "uses": "core/sleep", "with": {"seconds": 60}},
                          {"id": "after", "uses": "core/noop", "needs": ["long"]})
    await engine.apply(definition)
    run_id = await engine.start(definition["metadata"]["name"])
    await engine.wait_step(run_id, "long", "running")
    began = time.monotonic()
    cancel = engine_pb2.ControlRunRequest(run_id=run_id, action=ControlAction.CANCEL.number, actor="t")
    await engine.service.ControlRun(cancel, None)
    run = await engine.wait(run_id, timeout=5)
    assert time.monotonic() - began < 1.0
    assert run.state == "cancelled"
    assert {s.id: s.state for s in run.steps} == {"long": "cancelled", "after": "cancelled"}
    await asyncio.sleep(0)


@pytest.mark.parametrize("action", ["resume", "retry"])
async def test_controls_that_do_not_fit_the_state_are_refused(engine, action: str) -> None:
    import grpc
    from vwmp_proto.engine.v1 import engine_pb2

    definition = workflow({"id": "a", "uses": "core/noop"})
    await engine.apply(definition)
    run_id = await engine.start(definition["metadata"]["name"])
    await engine.wait(run_id)

    class Context:
        async def abort(self, code, details):
            raise grpc.RpcError(f"{code.name}: {details}")

    with pytest.raises(grpc.RpcError, match="FAILED_PRECONDITION"):
        await engine.service.ControlRun(
            engine_pb2.ControlRunRequest(run_id=run_id, action=ControlAction(action).number, actor="t"), Context())


@pytest.mark.parametrize("number", [0, 99])
async def test_an_unspecified_or_unknown_control_action_is_invalid_argument(engine, number: int) -> None:
    import grpc
    from vwmp_proto.engine.v1 import engine_pb2

    class Context:
        async def abort(self, code, details):
            raise grpc.RpcError(f"{code.name}: {details}")

    with pytest.raises(grpc.RpcError, match=rf"INVALID_ARGUMENT: action: unknown ControlAction {number}"):
        await engine.service.ControlRun(engine_pb2.ControlRunRequest(run_id="r", action=number, actor="t"), Context())


async def test_status_functions_and_expression_functions_decide_on_real_runs(engine) -> None:
    definition = workflow(
        {"id": "bad", "uses": "core/sleep", "with": {"seconds": "${{ params.s }}"}},
        {"id": "on_failure", "uses": "core/noop", "needs": ["bad"], "if": "${{ failure() }}"},
        {"id": "on_success", "uses": "core/noop", "needs": ["bad"], "if": "${{ success() }}"},
        {"id": "whatever", "uses": "core/noop", "needs": ["bad"], "if": "always()"},
        {"id": "picky", "uses": "core/noop", "needs": ["bad"],
         "if": "${{ always() && startsWith(params.part, 'MIN') }}"},
        {"id": "implicit", "uses": "core/noop", "needs": ["bad"], "if": "${{ contains(params.part, 'min') }}"},
        {"id": "typed", "uses": "core/sleep", "with": {"seconds": "${{ fromJSON('0') }}"}},
        parameters={"type": "object", "properties": {"s": {"type": "string"}, "part": {"type": "string"}}},
    )
    await engine.apply(definition)
    run = await engine.wait(await engine.start(definition["metadata"]["name"], {"part": "minor"}))
    states = {s.id: s.state for s in run.steps}
    assert states == {"bad": "failed", "on_failure": "succeeded", "on_success": "skipped", "whatever": "succeeded",
                      "picky": "succeeded", "implicit": "skipped", "typed": "succeeded"}
    assert run.state == "failed"  # a step that handles a failure does not un-fail the run


async def test_a_cancel_racing_the_runs_completion_is_refused_with_failed_precondition(engine) -> None:
    import grpc
    from vwmp_common.clients import engine_client
    from vwmp_common.states import EventType, RunState
    from vwmp_proto.engine.v1 import engine_pb2
    from vwmp_proto.storage.v1 import storage_pb2

    definition = workflow({"id": "long", "uses": "core/sleep", "with": {"seconds": 30}})
    await engine.apply(definition)
    run_id = await engine.start(definition["metadata"]["name"])
    await engine.wait_step(run_id, "long", "running")
    # The run's end is committed just before the cancel's write (as when its last step finishes then).
    epoch = engine.keeper.handles[run_id].epoch
    await engine.storage.RecordTransitions(storage_pb2.RecordTransitionsRequest(
        run_id=run_id, lease_owner=engine.engine.settings.engine_id, lease_epoch=epoch, transitions=[
            storage_pb2.Transition(event_type=EventType.RUN_SUCCEEDED.number, run_state=RunState.SUCCEEDED.number)]))
    client = engine_client(f"127.0.0.1:{engine.engine.port}")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await client.ControlRun(engine_pb2.ControlRunRequest(run_id=run_id, action=ControlAction.CANCEL.number,
                                                             actor="t"))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION, refused.value.details()
    assert "finished" in (refused.value.details() or "")


@pytest.mark.parametrize("action", ["cancel", "pause", "resume", "approve"])
async def test_a_control_of_an_unknown_run_is_not_found_at_once(engine, action: str) -> None:
    """No replica would answer a forwarded control of a run that does not exist: storage says so first."""
    import time

    import grpc
    from vwmp_proto.engine.v1 import engine_pb2

    class Context:
        async def abort(self, code, details):
            raise grpc.RpcError(f"{code.name}: {details}")

    began = time.monotonic()
    with pytest.raises(grpc.RpcError, match="NOT_FOUND"):
        if action == "approve":
            await engine.service.DecideApproval(engine_pb2.DecideApprovalRequest(
                run_id="no-such-run", step_id="gate", approve=True, actor="t", actor_role="admin"), Context())
        else:
            await engine.service.ControlRun(engine_pb2.ControlRunRequest(
                run_id="no-such-run", action=ControlAction(action).number, actor="t"), Context())
    assert time.monotonic() - began < 0.5


async def test_cancelling_a_finished_run_is_refused_at_once(engine) -> None:
    import time

    import grpc
    from vwmp_proto.engine.v1 import engine_pb2

    definition = workflow({"id": "a", "uses": "core/noop"})
    await engine.apply(definition)
    run_id = await engine.start(definition["metadata"]["name"])
    await engine.wait(run_id)

    class Context:
        async def abort(self, code, details):
            raise grpc.RpcError(f"{code.name}: {details}")

    began = time.monotonic()
    with pytest.raises(grpc.RpcError, match="FAILED_PRECONDITION: run is already succeeded"):
        await engine.service.ControlRun(engine_pb2.ControlRunRequest(
            run_id=run_id, action=ControlAction.CANCEL.number, actor="t"), Context())
    assert time.monotonic() - began < 0.5
