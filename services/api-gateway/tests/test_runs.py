"""Runs over REST: start (201, 422 on bad parameters), list with filters, get, events, logs, controls."""

from __future__ import annotations

import json
import uuid
from typing import Any

PROBLEM = "application/problem+json"
RUN_KEYS = {"id", "workflow", "version", "state", "parameters", "created_at", "started_at", "finished_at",
            "steps", "dry_run", "created_by"}
STEP_KEYS = {"id", "uses", "state", "attempt", "outputs", "error", "started_at", "finished_at"}


async def start(client: Any, headers: Any, definition: Any, **body: Any) -> dict[str, Any]:
    name = f"wf-{uuid.uuid4().hex[:10]}"
    created = await client.post("/api/v1/workflows", json=definition(name), headers=headers("editor"))
    assert created.status_code == 201, created.text
    response = await client.post(f"/api/v1/workflows/{name}/runs",
                                 json={"parameters": {"part": "minor"}, **body}, headers=headers("operator"))
    assert response.status_code == 201, response.text
    return response.json()


async def test_start_returns_201_with_the_run_shape(client, headers, definition) -> None:
    run = await start(client, headers, definition, dry_run=True)
    assert set(run) == RUN_KEYS
    assert run["state"] == "queued" and run["version"] == 1 and run["dry_run"] is True
    assert run["parameters"] == {"part": "minor"}
    assert run["created_by"] == "operator-bot"
    assert run["started_at"] is None and run["finished_at"] is None
    assert [s["id"] for s in run["steps"]] == ["build", "approve"]
    step = run["steps"][0]
    assert set(step) == STEP_KEYS
    assert step["outputs"] == {} and step["error"] is None and step["state"] == "pending"


async def test_bad_parameters_are_422_with_pointers_into_the_body(client, headers, definition) -> None:
    name = f"wf-{uuid.uuid4().hex[:10]}"
    await client.post("/api/v1/workflows", json=definition(name), headers=headers("editor"))
    response = await client.post(f"/api/v1/workflows/{name}/runs", json={"parameters": {"part": "huge"}},
                                 headers=headers("operator"))
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["errors"][0]["pointer"] == "/parameters/part"


async def test_request_validation_errors_are_problems_with_pointers(client, headers) -> None:
    response = await client.post("/api/v1/workflows/x/runs", json={"parameters": [1, 2]},
                                 headers=headers("operator"))
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["errors"][0]["pointer"] == "/body/parameters"


async def test_start_of_unknown_workflow_is_404(client, headers) -> None:
    response = await client.post("/api/v1/workflows/no-such-wf/runs", json={}, headers=headers("operator"))
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM


async def test_list_filters_and_paginates(client, headers, definition) -> None:
    run = await start(client, headers, definition)
    listed = await client.get("/api/v1/runs", params={"workflow": run["workflow"]}, headers=headers("viewer"))
    body = listed.json()
    assert body["total"] == 1 and body["items"][0]["id"] == run["id"]
    await client.post(f"/api/v1/workflows/{run['workflow']}/runs", json={"parameters": {"part": "patch"}},
                      headers=headers("operator"))
    page = await client.get("/api/v1/runs", params={"workflow": run["workflow"], "limit": 1, "offset": 1},
                            headers=headers("viewer"))
    assert page.json()["total"] == 2 and len(page.json()["items"]) == 1
    assert page.json()["items"][0]["id"] == run["id"]  # newest first
    none = await client.get("/api/v1/runs", params={"workflow": run["workflow"], "state": "failed"},
                            headers=headers("viewer"))
    assert none.json() == {"items": [], "total": 0}
    bad = await client.get("/api/v1/runs", params={"state": "nonsense"}, headers=headers("viewer"))
    assert bad.status_code == 422 and bad.json()["errors"][0]["pointer"] == "/query/state"


async def test_get_run_and_unknown_run(client, headers, definition) -> None:
    run = await start(client, headers, definition)
    got = await client.get(f"/api/v1/runs/{run['id']}", headers=headers("viewer"))
    assert got.json() == run
    missing = await client.get("/api/v1/runs/nope", headers=headers("viewer"))
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM


async def test_events_after_seq(client, headers, definition, backend) -> None:
    run = await start(client, headers, definition)
    backend.storage.transitions.record(run["id"], "", 0, [
        _transition("step.started", "build", step_state="running", data={"x": 1}),
    ])
    events = (await client.get(f"/api/v1/runs/{run['id']}/events", headers=headers("viewer"))).json()["items"]
    assert [e["seq"] for e in events] == [1, 2]
    assert set(events[0]) == {"seq", "run_id", "type", "step_id", "attempt", "at", "data"}
    assert events[0]["type"] == "run.queued" and events[0]["step_id"] is None
    assert events[1]["step_id"] == "build" and events[1]["data"] == {"x": 1}
    later = await client.get(f"/api/v1/runs/{run['id']}/events", params={"after": 1}, headers=headers("viewer"))
    assert [e["seq"] for e in later.json()["items"]] == [2]
    missing = await client.get("/api/v1/runs/nope/events", headers=headers("viewer"))
    assert missing.status_code == 404


async def test_step_logs(client, headers, definition, backend) -> None:
    from vwmp_storage.runs import LogLine

    run = await start(client, headers, definition)
    backend.storage.runs.append_logs(run["id"], [
        LogLine(step_id="build", attempt=1, at=None, stream="stdout", line="hello")])
    logs = await client.get(f"/api/v1/runs/{run['id']}/steps/build/logs", headers=headers("viewer"))
    assert logs.status_code == 200, logs.text
    assert [(line["stream"], line["line"]) for line in logs.json()["items"]] == [("stdout", "hello")]


async def test_cancel_pause_resume_and_invalid_state_is_409(client, headers, definition, backend) -> None:
    run = await start(client, headers, definition)
    paused = await client.post(f"/api/v1/runs/{run['id']}/pause", headers=headers("operator"))
    assert paused.status_code == 200 and paused.json()["state"] == "paused"
    again = await client.post(f"/api/v1/runs/{run['id']}/pause", headers=headers("operator"))
    assert again.status_code == 409 and again.headers["content-type"] == PROBLEM
    resumed = await client.post(f"/api/v1/runs/{run['id']}/resume", headers=headers("operator"))
    assert resumed.json()["state"] == "running"
    cancelled = await client.post(f"/api/v1/runs/{run['id']}/cancel", headers=headers("operator"))
    assert cancelled.json()["state"] == "cancelled"
    retry = await client.post(f"/api/v1/runs/{run['id']}/retry", headers=headers("operator"))
    assert retry.status_code == 409
    rerun = await client.post(f"/api/v1/runs/{run['id']}/steps/build/rerun", headers=headers("operator"))
    assert rerun.status_code == 200
    call = [c for name, c in backend.engine.calls if name == "ControlRun"][-1]
    assert (call.action, call.step_id, call.actor) == ("rerun", "build", "operator-bot")


async def test_approve_and_reject_with_comment(client, headers, definition, backend) -> None:
    run = await start(client, headers, definition)
    too_early = await client.post(f"/api/v1/runs/{run['id']}/steps/approve/approve", headers=headers("operator"))
    assert too_early.status_code == 409
    backend.storage.transitions.record(run["id"], "", 0, [
        _transition("step.awaiting_approval", "approve", step_state="awaiting_approval")])
    approved = await client.post(f"/api/v1/runs/{run['id']}/steps/approve/approve", json={"comment": "lgtm"},
                                 headers=headers("operator"))
    assert approved.status_code == 200, approved.text
    step = next(s for s in approved.json()["steps"] if s["id"] == "approve")
    assert step["state"] == "succeeded" and step["outputs"] == {"approved_by": "operator-bot", "comment": "lgtm"}

    other = await start(client, headers, definition)
    backend.storage.transitions.record(other["id"], "", 0, [
        _transition("step.awaiting_approval", "approve", step_state="awaiting_approval")])
    rejected = await client.post(f"/api/v1/runs/{other['id']}/steps/approve/reject", headers=headers("operator"))
    assert rejected.status_code == 200
    assert next(s for s in rejected.json()["steps"] if s["id"] == "approve")["error"] == "rejected"


def _transition(event: str, step: str, data: dict[str, Any] | None = None, **fields: Any) -> Any:
    from vwmp_storage.transitions import Transition

    return Transition(event_type=event, step_id=step, attempt=1, data_json=json.dumps(data or {}), **fields)


async def test_engine_down_is_503_problem(make_client, headers) -> None:
    from vwmp_common.embedded_nats import free_port

    async with make_client(engine_address=f"127.0.0.1:{free_port()}") as client:
        client.app.state.backends.engine = _dead_engine(free_port())
        response = await client.get("/api/v1/step-types", headers=headers("viewer"))
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["retry-after"] == "1"


def _dead_engine(port: int) -> Any:
    import grpc
    from vwmp_proto.engine.v1.engine_pb2_grpc import EngineServiceStub

    return EngineServiceStub(grpc.aio.insecure_channel(f"127.0.0.1:{port}"))

