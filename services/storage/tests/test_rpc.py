"""The gRPC surface through a real server on a free port: encoding and status codes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from vwmp_common.clients import storage_client
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
    assert created.created_at.endswith("Z")
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
        (stub.AppendAudit(pb.AuditEntry(action="x", at="yesterday")), "INVALID_ARGUMENT", "at: 'yesterday'"),
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
    assert (run.state, run.last_seq, run.started_at, run.steps[0].state, run.steps[0].outputs_json) == (
        "queued",
        1,
        "",
        "pending",
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
                pb.Transition(event_type="run.started", run_state="running"),
                pb.Transition(event_type="step.started", step_id="a", step_state="running", attempt=1),
            ],
        )
    )
    assert [(e.seq, e.type, e.run_id) for e in recorded.events] == [
        (2, "run.started", run.id),
        (3, "step.started", run.id),
    ]
    assert recorded.events[0].at.endswith("Z") and recorded.events[0].data_json == "{}"
    code, details = await _code(
        stub.RecordTransitions(
            pb.RecordTransitionsRequest(
                run_id=run.id, lease_owner="e2", lease_epoch=1, transitions=[pb.Transition(event_type="step.log")]
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
    assert [(x.line, x.at.endswith("Z")) for x in logs.lines] == [("hello", True)]
    await stub.RecordTransitions(
        pb.RecordTransitionsRequest(
            run_id=run.id, transitions=[pb.Transition(event_type="run.cancelled", run_state="cancelled")]
        )
    )
    code, details = await _code(
        stub.RecordTransitions(
            pb.RecordTransitionsRequest(run_id=run.id, transitions=[pb.Transition(event_type="step.log")])
        )
    )
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "is cancelled" in details
    got = await stub.GetRun(pb.GetRunRequest(id=run.id, with_definition=True))
    assert got.finished_at.endswith("Z") and json.loads(got.definition_json) == {"kind": "Workflow"}
    assert got.reopened_at == ""
    await stub.RecordTransitions(
        pb.RecordTransitionsRequest(
            run_id=run.id, transitions=[pb.Transition(event_type="run.resumed", run_state="running", reopen=True)]
        )
    )
    reopened = await stub.GetRun(pb.GetRunRequest(id=run.id))
    assert reopened.reopened_at.endswith("Z") and reopened.reopened_at >= got.finished_at
    events = await stub.ListEvents(pb.ListEventsRequest(run_id=run.id, after=1))
    assert [e.seq for e in events.events] == [2, 3, 4, 5]
    listed = await stub.ListRuns(pb.ListRunsRequest(workflow="wf"))
    assert listed.total == 1 and listed.runs[0].id == run.id
    await stub.ReleaseLease(pb.ReleaseLeaseRequest(owner="e1", run_id=run.id, epoch=1))


async def test_tokens_audit_and_config_over_grpc(stub: StorageServiceStub) -> None:
    created = await stub.CreateToken(pb.CreateTokenRequest(name="cli", role="admin", created_by="boot"))
    assert created.secret.startswith("vwmp_") and created.token.expires_at == "" and created.token.revoked_at == ""
    assert (await stub.VerifyToken(pb.VerifyTokenRequest(secret=created.secret))).id == created.token.id
    assert [t.name for t in (await stub.ListTokens(pb.ListTokensRequest())).tokens] == ["cli"]
    assert (await stub.RevokeToken(pb.RevokeTokenRequest(id=created.token.id))).revoked_at != ""
    entry = await stub.AppendAudit(pb.AuditEntry(actor="al", action="run.cancel", target="runs/1"))
    assert entry.id > 0 and entry.at.endswith("Z") and entry.outcome == "ok"
    listed = await stub.ListAudit(pb.ListAuditRequest())
    assert [e.action for e in listed.entries] == ["run.cancel"]
    config = await stub.GetConfig(pb.GetConfigRequest())
    assert config.version == 0 and config.updated_at == ""
    saved = await stub.PutConfig(pb.PutConfigRequest(document_json="{}", actor="al", expected_version=0))
    assert saved.version == 1 and json.loads(saved.document_json)["git"]["author_name"] == "VWMP"


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
