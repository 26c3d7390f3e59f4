"""The gRPC surface through a real server on a free port: encoding and status codes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2, health_pb2_grpc
from vwmp_common.clients import storage_client
from vwmp_common.states import EventType, RunState, StepState
from vwmp_common.timeutil import from_timestamp
from vwmp_proto.storage.v1 import storage_pb2 as pb
from vwmp_proto.storage.v1.storage_pb2_grpc import StorageServiceStub
from vwmp_storage.server import serve
from vwmp_storage.storage import Storage


@pytest.fixture
async def stub(storage: Storage) -> AsyncIterator[StorageServiceStub]:
    """A client of a storage server running in this process (each database)."""
    server, port = await serve(storage, "127.0.0.1", 0, sync_workers=4)
    client = storage_client(f"127.0.0.1:{port}")
    try:
        yield client
    finally:
        await server.stop(None)


async def _code(call: Awaitable[object]) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    return raised.value.code(), raised.value.details() or ""


async def test_workflow_lifecycle_over_grpc(stub: StorageServiceStub) -> None:
    created = await stub.CreateWorkflow(
        pb.CreateWorkflowRequest(name="wf", definition_json='{"v": 1}', created_by="al")
    )
    assert (created.version, created.created_by, created.archived) == (1, "al", False)
    assert from_timestamp(created.created_at) is not None
    put = await stub.PutWorkflow(pb.PutWorkflowRequest(name="wf", definition_json='{"v": 2}', expected_version=1))
    assert put.version == 2
    code, details = await _code(
        stub.PutWorkflow(pb.PutWorkflowRequest(name="wf", definition_json="{}", expected_version=1))
    )
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "at version 2" in details
    assert json.loads((await stub.GetWorkflow(pb.GetWorkflowRequest(name="wf", version=1))).definition_json) == {"v": 1}
    versions = await stub.ListWorkflowVersions(pb.ListWorkflowVersionsRequest(name="wf"))
    assert [w.version for w in versions.workflows] == [1, 2]
    assert (await stub.ArchiveWorkflow(pb.ArchiveWorkflowRequest(name="wf", actor="al"))).archived
    assert list((await stub.ListWorkflows(pb.ListWorkflowsRequest())).workflows) == []
    listed = await stub.ListWorkflows(pb.ListWorkflowsRequest(include_archived=True))
    assert [w.name for w in listed.workflows] == ["wf"]


async def test_domain_errors_map_to_status_codes(stub: StorageServiceStub) -> None:
    cases = [
        (stub.CreateWorkflow(pb.CreateWorkflowRequest(name="../x", definition_json="{}")), "INVALID_ARGUMENT", "name:"),
        (stub.GetWorkflow(pb.GetWorkflowRequest(name="ghost")), "NOT_FOUND", "'ghost' not found"),
        (stub.GetRun(pb.GetRunRequest(id="nope")), "NOT_FOUND", "run 'nope'"),
        (stub.VerifyToken(pb.VerifyTokenRequest(secret="vwmp_x")), "UNAUTHENTICATED", "unknown token"),
        (stub.CreateToken(pb.CreateTokenRequest(name="x", role="god")), "INVALID_ARGUMENT", "role:"),
        (stub.RevokeToken(pb.RevokeTokenRequest(id="nope")), "NOT_FOUND", "token"),
        (stub.ClaimRuns(pb.ClaimRunsRequest(owner="")), "INVALID_ARGUMENT", "owner: required"),
        (stub.PutConfig(pb.PutConfigRequest(document_json='{"git": 1}')), "INVALID_ARGUMENT", "/git: 1 is not"),
        (stub.AppendAudit(pb.AuditEntry(action="x", at=Timestamp(seconds=10**12))), "INVALID_ARGUMENT", "at: "),
        (stub.ListRuns(pb.ListRunsRequest(state=77)), "INVALID_ARGUMENT", "state: unknown RunState 77"),
    ]
    for call, code, text in cases:
        got_code, details = await _code(call)
        assert (got_code.name, text in details) == (code, True), details
    await stub.CreateWorkflow(pb.CreateWorkflowRequest(name="wf", definition_json="{}"))
    code, _ = await _code(stub.CreateWorkflow(pb.CreateWorkflowRequest(name="wf", definition_json="{}")))
    assert code == grpc.StatusCode.ALREADY_EXISTS


async def test_run_flow_over_grpc(stub: StorageServiceStub) -> None:
    await stub.CreateWorkflow(pb.CreateWorkflowRequest(name="wf", definition_json='{"kind": "Workflow"}'))
    run = await stub.CreateRun(
        pb.CreateRunRequest(workflow="wf", parameters_json='{"p": 1}', steps=[pb.StepRun(id="a", uses="core/noop")])
    )
    assert (run.state, run.last_seq, from_timestamp(run.started_at), run.steps[0].state, run.steps[0].outputs_json) == (
        RunState.QUEUED.number,
        1,
        None,
        StepState.PENDING.number,
        "{}",
    )
    [lease] = (await stub.ClaimRuns(pb.ClaimRunsRequest(owner="e1", limit=5, lease_seconds=30))).leases
    assert (lease.run_id, lease.epoch) == (run.id, 1)
    recorded = await stub.RecordTransitions(
        pb.RecordTransitionsRequest(
            run_id=run.id,
            lease_owner="e1",
            lease_epoch=1,
            transitions=[
                pb.Transition(event_type=EventType.RUN_STARTED.number, run_state=RunState.RUNNING.number),
                pb.Transition(
                    event_type=EventType.STEP_STARTED.number,
                    step_id="a",
                    step_state=StepState.RUNNING.number,
                    attempt=1,
                ),
            ],
        )
    )
    assert [(e.seq, e.type, e.run_id) for e in recorded.events] == [
        (2, EventType.RUN_STARTED.number, run.id),
        (3, EventType.STEP_STARTED.number, run.id),
    ]
    at = from_timestamp(recorded.events[0].at)
    assert at is not None and at.tzinfo is not None and recorded.events[0].data_json == "{}"
    code, details = await _code(
        stub.RecordTransitions(
            pb.RecordTransitionsRequest(
                run_id=run.id,
                lease_owner="e2",
                lease_epoch=1,
                transitions=[pb.Transition(event_type=EventType.STEP_LOG.number)],
            )
        )
    )
    assert code == grpc.StatusCode.ABORTED and "lease lost" in details
    renewed = await stub.RenewLeases(pb.RenewLeasesRequest(owner="e1", leases=[lease], lease_seconds=30))
    assert list(renewed.lost_run_ids) == []
    await stub.AppendStepLogs(
        pb.AppendStepLogsRequest(
            run_id=run.id, lines=[pb.LogLine(step_id="a", attempt=1, stream="stdout", line="hello")]
        )
    )
    logs = await stub.GetStepLogs(pb.GetStepLogsRequest(run_id=run.id, step_id="a"))
    assert [(x.line, from_timestamp(x.at) is not None) for x in logs.lines] == [("hello", True)]
    await stub.RecordTransitions(
        pb.RecordTransitionsRequest(
            run_id=run.id, transitions=[
                pb.Transition(event_type=EventType.RUN_CANCELLED.number, run_state=RunState.CANCELLED.number)
            ]
        )
    )
    code, details = await _code(
        stub.RecordTransitions(
            pb.RecordTransitionsRequest(
                run_id=run.id, transitions=[pb.Transition(event_type=EventType.STEP_LOG.number)]
            )
        )
    )
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "is cancelled" in details
    got = await stub.GetRun(pb.GetRunRequest(id=run.id, with_definition=True))
    assert from_timestamp(got.finished_at) is not None and json.loads(got.definition_json) == {"kind": "Workflow"}
    assert from_timestamp(got.reopened_at) is None
    await stub.RecordTransitions(
        pb.RecordTransitionsRequest(
            run_id=run.id, transitions=[
                pb.Transition(event_type=EventType.RUN_RESUMED.number, run_state=RunState.RUNNING.number, reopen=True)
            ]
        )
    )
    reopened = await stub.GetRun(pb.GetRunRequest(id=run.id))
    reopened_at, finished_at = from_timestamp(reopened.reopened_at), from_timestamp(got.finished_at)
    assert reopened_at is not None and finished_at is not None and reopened_at >= finished_at
    events = await stub.ListEvents(pb.ListEventsRequest(run_id=run.id, after=1))
    assert [e.seq for e in events.events] == [2, 3, 4, 5]
    listed = await stub.ListRuns(pb.ListRunsRequest(workflow="wf"))
    assert listed.total == 1 and listed.runs[0].id == run.id
    running = await stub.ListRuns(pb.ListRunsRequest(state=RunState.RUNNING.number))
    assert [r.id for r in running.runs] == [run.id]
    assert (await stub.ListRuns(pb.ListRunsRequest(state=RunState.QUEUED.number))).total == 0
    await stub.ReleaseLease(pb.ReleaseLeaseRequest(owner="e1", run_id=run.id, epoch=1))


async def test_tokens_audit_and_config_over_grpc(stub: StorageServiceStub) -> None:
    created = await stub.CreateToken(pb.CreateTokenRequest(name="cli", role="admin", created_by="boot"))
    assert created.secret.startswith("vwmp_") and from_timestamp(created.token.expires_at) is None
    assert from_timestamp(created.token.revoked_at) is None
    assert (await stub.VerifyToken(pb.VerifyTokenRequest(secret=created.secret))).id == created.token.id
    assert [t.name for t in (await stub.ListTokens(pb.ListTokensRequest())).tokens] == ["cli"]
    assert from_timestamp((await stub.RevokeToken(pb.RevokeTokenRequest(id=created.token.id))).revoked_at) is not None
    entry = await stub.AppendAudit(pb.AuditEntry(actor="al", action="run.cancel", target="runs/1"))
    assert entry.id > 0 and from_timestamp(entry.at) is not None and entry.outcome == "ok"
    listed = await stub.ListAudit(pb.ListAuditRequest())
    assert [e.action for e in listed.entries] == ["run.cancel"]
    config = await stub.GetConfig(pb.GetConfigRequest())
    assert config.version == 0 and from_timestamp(config.updated_at) is None
    saved = await stub.PutConfig(pb.PutConfigRequest(document_json="{}", actor="al", expected_version=0))
    assert saved.version == 1 and json.loads(saved.document_json)["release"] == {
        "allowed_branches": ["main", "release/*"]}


async def test_unexpected_errors_are_internal_without_a_traceback(
    stub: StorageServiceStub, storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*_args: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(storage.audit, "list", explode)
    code, details = await _code(stub.ListAudit(pb.ListAuditRequest()))
    assert code == grpc.StatusCode.INTERNAL
    assert "secret internals" not in details and "Traceback" not in details and "ListAudit" in details


async def test_server_answers_health_and_reflection(sqlite_storage: Storage) -> None:
    server, port = await serve(sqlite_storage, "127.0.0.1", 0, sync_workers=2)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            for service in ("", "vwmp.storage.v1.StorageService"):
                reply = await health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
                assert reply.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        await server.stop(None)


@pytest.mark.parametrize(
    ("transition", "field", "kind"),
    [
        (pb.Transition(event_type=99), "transitions[1].event_type", "EventType 99"),
        (pb.Transition(run_state=42), "transitions[1].run_state", "RunState 42"),
        (pb.Transition(step_id="a", step_state=-3), "transitions[1].step_state", "StepState -3"),
    ],
)
async def test_an_enum_number_storage_does_not_know_is_invalid_argument_naming_the_field(
    stub: StorageServiceStub, transition: pb.Transition, field: str, kind: str
) -> None:
    """A newer or broken peer's enum value is refused before anything is written, never a crash."""
    await stub.CreateWorkflow(pb.CreateWorkflowRequest(name="wf", definition_json="{}"))
    run = await stub.CreateRun(pb.CreateRunRequest(workflow="wf", steps=[pb.StepRun(id="a", uses="core/noop")]))
    started = pb.Transition(event_type=EventType.RUN_STARTED.number, run_state=RunState.RUNNING.number)
    code, details = await _code(
        stub.RecordTransitions(pb.RecordTransitionsRequest(run_id=run.id, transitions=[started, transition]))
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details == f"{field}: unknown {kind}"
    unchanged = await stub.GetRun(pb.GetRunRequest(id=run.id))
    assert (unchanged.state, unchanged.last_seq) == (RunState.QUEUED.number, 1)
