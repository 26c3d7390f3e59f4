"""Runs over REST against the real engine: start (201, 422 on bad parameters), list, get, events, logs,
controls and approvals, each answered by the engine's own rules.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

PROBLEM = "application/problem+json"
RUN_KEYS = {"id", "workflow", "version", "state", "parameters", "created_at", "started_at", "finished_at",
            "steps", "step_counts", "dry_run", "created_by", "concurrency", "outputs", "parent", "finalizing",
            "trigger", "compensated"}
STEP_KEYS = {"id", "uses", "state", "attempt", "outputs", "error", "started_at", "finished_at", "parent", "item_index",
             "compensation"}
SLOW_BUILD = [{"id": "build", "uses": "core/sleep", "with": {"seconds": 2}},
              {"id": "approve", "uses": "core/approval", "needs": ["build"]}]


async def start(client: Any, headers: Any, definition: Any, steps: list[dict[str, Any]] | None = None,
                **body: Any) -> dict[str, Any]:
    name = f"wf-{uuid.uuid4().hex[:10]}"
    created = await client.post("/api/v1/workflows", json=definition(name, steps), headers=headers("editor"))
    assert created.status_code == 201, created.text
    response = await client.post(f"/api/v1/workflows/{name}/runs",
                                 json={"parameters": {"part": "minor"}, **body}, headers=headers("operator"))
    assert response.status_code == 201, response.text
    return response.json()


async def wait_run(client: Any, headers: Any, run_id: str, done: Callable[[dict[str, Any]], bool],
                   timeout: float = 15.0) -> dict[str, Any]:
    """Poll the run until `done` says so (the engine works in the background)."""
    async with asyncio.timeout(timeout):
        while True:
            run = (await client.get(f"/api/v1/runs/{run_id}", headers=headers("viewer"))).json()
            if done(run):
                return run
            await asyncio.sleep(0.05)


def step(run: dict[str, Any], step_id: str) -> dict[str, Any]:
    return next(s for s in run["steps"] if s["id"] == step_id)


def awaiting(step_id: str) -> Callable[[dict[str, Any]], bool]:
    return lambda run: step(run, step_id)["state"] == "awaiting_approval"


async def shown_digest(client: Any, headers: Any, run_id: str, step_id: str = "approve") -> str:
    """The plan_digest the gate shows: what an approver who read the plan sends back."""
    run = (await client.get(f"/api/v1/runs/{run_id}", headers=headers("viewer"))).json()
    return str(step(run, step_id)["outputs"]["plan_digest"])


def in_state(*states: str) -> Callable[[dict[str, Any]], bool]:
    return lambda run: run["state"] in states


async def events(client: Any, headers: Any, run_id: str, after: int = 0) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/runs/{run_id}/events", params={"after": after}, headers=headers("viewer"))
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


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
    assert step["parent"] is None and step["item_index"] is None
    assert run["outputs"] == {} and run["parent"] is None and run["finalizing"] is None
    children = await client.get("/api/v1/runs", params={"parent_run_id": run["id"]}, headers=headers("viewer"))
    assert children.status_code == 200 and children.json() == {"items": [], "total": 0}
    refused = await client.get("/api/v1/runs", params={"parent_run_id": "--x y"}, headers=headers("viewer"))
    assert refused.status_code == 422 and refused.json()["errors"][0]["pointer"] == "/query/parent_run_id"


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


async def test_run_search_by_parameter_value_actor_and_time(client, headers, definition) -> None:
    minor = await start(client, headers, definition)  # parameters {"part": "minor"}, by operator-bot
    name = minor["workflow"]
    patch = await client.post(f"/api/v1/workflows/{name}/runs", json={"parameters": {"part": "patch"}},
                              headers=headers("approver"))
    patch_id = patch.json()["id"]

    async def ids(**query: str) -> list[str]:
        found = await client.get("/api/v1/runs", params={"workflow": name, **query}, headers=headers("viewer"))
        assert found.status_code == 200, found.text
        return [run["id"] for run in found.json()["items"]]

    assert await ids(**{"param.part": "minor"}) == [minor["id"]]
    assert await ids(**{"param.part": "patch"}) == [patch_id]
    assert await ids(**{"param.part": "major"}) == []
    assert await ids(actor="approver-bot") == [patch_id]
    assert await ids(actor="operator-bot", **{"param.part": "patch"}) == []
    assert await ids(since=minor["created_at"]) == [patch_id, minor["id"]]
    assert await ids(until=minor["created_at"]) == []
    assert await ids(since="2000-01-01T00:00:00Z", until="2000-01-02T00:00:00Z") == []

    for query, pointer in (({"param.no such": "x"}, "/query/param.no such"), ({"since": "yesterday"}, "/query/since"),
                           ({f"param.p{i}": "x" for i in range(11)}, "/query")):
        bad = await client.get("/api/v1/runs", params=query, headers=headers("viewer"))
        assert bad.status_code == 422 and bad.headers["content-type"] == PROBLEM, bad.text
        assert bad.json()["errors"][0]["pointer"] == pointer


async def test_get_run_shows_what_the_engine_did_and_unknown_run_is_404(client, headers, definition) -> None:
    run = await start(client, headers, definition)
    got = await wait_run(client, headers, run["id"], awaiting("approve"))
    kept = ("id", "workflow", "version", "parameters", "created_at", "created_by")
    assert {k: got[k] for k in kept} == {k: run[k] for k in kept}
    assert got["state"] == "running" and got["started_at"] and got["finished_at"] is None
    build = step(got, "build")
    assert (build["state"], build["attempt"], build["error"]) == ("succeeded", 1, None)
    assert build["started_at"] and build["finished_at"]
    gate = step(got, "approve")["outputs"]
    assert gate["plan"] == [] and gate["approvals"] == [] and gate["started_by"] == "operator-bot"  # nothing after it
    assert set(gate) == {"plan", "plan_digest", "approvals", "policy", "started_by", "deadline"}
    missing = await client.get("/api/v1/runs/nope", headers=headers("viewer"))
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM


async def test_events_are_the_engines_transitions_numbered_from_1_and_after_seq_filters(
    client, headers, definition
) -> None:
    run = await start(client, headers, definition)
    await wait_run(client, headers, run["id"], awaiting("approve"))
    items = await events(client, headers, run["id"])
    assert [(e["type"], e["step_id"]) for e in items] == [
        ("run.queued", None), ("run.started", None), ("step.started", "build"), ("step.succeeded", "build"),
        ("step.started", "approve"), ("step.awaiting_approval", "approve")]
    assert [e["seq"] for e in items] == list(range(1, len(items) + 1))
    assert set(items[0]) == {"seq", "run_id", "type", "step_id", "attempt", "at", "data"}
    assert items[1]["data"] == {"dry_run": False, "workflow": run["workflow"]}
    assert items[2]["attempt"] == 1
    assert [e["seq"] for e in await events(client, headers, run["id"], after=4)] == [5, 6]
    missing = await client.get("/api/v1/runs/nope/events", headers=headers("viewer"))
    assert missing.status_code == 404


async def test_step_logs_are_what_the_plugin_step_logged(client, headers, definition) -> None:
    run = await start(client, headers, definition, [{"id": "say", "uses": "testkit/echo", "with": {"value": "hi"}}])
    done = await wait_run(client, headers, run["id"], in_state("succeeded", "failed"))
    assert done["state"] == "succeeded" and step(done, "say")["outputs"] == {"value": "hi"}
    logs = await client.get(f"/api/v1/runs/{run['id']}/steps/say/logs", headers=headers("viewer"))
    assert logs.status_code == 200, logs.text
    assert "value is hi" in [line["line"] for line in logs.json()["items"]]


async def test_a_fan_out_items_logs_are_read_by_its_instance_id(client, headers, definition) -> None:
    run = await start(client, headers, definition, [{"id": "say", "uses": "testkit/echo", "for_each": ["a", "b"],
                                                     "with": {"value": "${{ item }}"}}])
    done = await wait_run(client, headers, run["id"], in_state("succeeded", "failed"))
    assert done["state"] == "succeeded" and step(done, "say[1]")["outputs"] == {"value": "b"}
    assert step(done, "say[1]")["parent"] == "say" and step(done, "say[1]")["item_index"] == 1
    logs = await client.get(f"/api/v1/runs/{run['id']}/steps/say[1]/logs", headers=headers("viewer"))
    assert logs.status_code == 200, logs.text
    assert "value is b" in [line["line"] for line in logs.json()["items"]]
    for bad in ("say[x]", "say[1]x", "say[123456]"):
        refused = await client.get(f"/api/v1/runs/{run['id']}/steps/{bad}/logs", headers=headers("viewer"))
        assert refused.status_code == 422 and refused.json()["errors"][0]["pointer"] == "/path/step_id", bad


async def test_pause_resume_cancel_then_retry_reopens_the_cancelled_run(client, headers, definition) -> None:
    run = await start(client, headers, definition)
    await wait_run(client, headers, run["id"], awaiting("approve"))
    control = f"/api/v1/runs/{run['id']}"
    paused = await client.post(f"{control}/pause", headers=headers("operator"))
    assert paused.status_code == 200 and paused.json()["state"] == "paused"
    again = await client.post(f"{control}/pause", headers=headers("operator"))
    assert again.status_code == 409 and again.headers["content-type"] == PROBLEM
    resumed = await client.post(f"{control}/resume", headers=headers("operator"))
    assert resumed.status_code == 200 and resumed.json()["state"] == "running"
    early_rerun = await client.post(f"{control}/steps/build/rerun", headers=headers("operator"))
    assert early_rerun.status_code == 409 and "finished runs" in early_rerun.json()["detail"]
    cancelled = await client.post(f"{control}/cancel", headers=headers("operator"))
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert step(cancelled.json(), "approve")["state"] == "cancelled"
    twice = await client.post(f"{control}/cancel", headers=headers("operator"))
    assert twice.status_code == 409

    retried = await client.post(f"{control}/retry", headers=headers("operator"))  # a cancelled run can be retried
    assert retried.status_code == 200, retried.text
    assert retried.json()["state"] == "running" and retried.json()["finished_at"] is None
    reopened = await wait_run(client, headers, run["id"], awaiting("approve"))
    assert step(reopened, "build")["state"] == "succeeded"  # kept: only what did not succeed runs again
    runs = [(e["type"], e["data"]) for e in await events(client, headers, run["id"]) if e["type"].startswith("run.")]
    assert runs == [
        ("run.queued", {"trigger": {"id": None, "kind": "manual", "at": run["trigger"]["at"]}}),
        ("run.started", {"dry_run": False, "workflow": run["workflow"]}),
        ("run.paused", {"by": "operator-bot"}), ("run.resumed", {"by": "operator-bot"}),
        ("run.cancelled", {"by": "operator-bot", "reason": "cancelled"}),
        ("run.resumed", {"by": "operator-bot", "action": "retry", "steps": ["approve"]}),
    ]
    await client.post(f"{control}/cancel", headers=headers("operator"))


async def test_retry_of_a_succeeded_run_is_409_and_rerun_reopens_the_step_and_downstream(
    client, headers, definition
) -> None:
    run = await start(client, headers, definition, dry_run=True)  # approvals pass at once in a dry run
    done = await wait_run(client, headers, run["id"], in_state("succeeded", "failed", "cancelled"))
    assert done["state"] == "succeeded"
    retry = await client.post(f"/api/v1/runs/{run['id']}/retry", headers=headers("operator"))
    assert retry.status_code == 409 and "nothing to retry" in retry.json()["detail"]
    unknown = await client.post(f"/api/v1/runs/{run['id']}/steps/ghost/rerun", headers=headers("operator"))
    assert unknown.status_code == 409
    rerun = await client.post(f"/api/v1/runs/{run['id']}/steps/build/rerun", headers=headers("operator"))
    assert rerun.status_code == 200, rerun.text
    assert rerun.json()["state"] == "running"
    again = await wait_run(client, headers, run["id"],
                           lambda r: r["state"] == "succeeded" and step(r, "build")["attempt"] == 2)
    assert step(again, "approve")["state"] == "succeeded"
    last = [e for e in await events(client, headers, run["id"]) if e["type"] == "run.resumed"][-1]
    assert last["data"] == {"by": "operator-bot", "action": "rerun", "steps": ["build", "approve"], "from": "build"}


async def test_approve_with_comment_and_reject(client, headers, definition) -> None:
    run = await start(client, headers, definition, SLOW_BUILD)
    await wait_run(client, headers, run["id"], lambda r: step(r, "build")["state"] == "running")
    too_early = await client.post(f"/api/v1/runs/{run['id']}/steps/approve/approve", headers=headers("operator"))
    assert too_early.status_code == 409 and "not awaiting approval" in too_early.json()["detail"]
    await wait_run(client, headers, run["id"], awaiting("approve"))
    digest = await shown_digest(client, headers, run["id"])
    approved = await client.post(f"/api/v1/runs/{run['id']}/steps/approve/approve",
                                 json={"comment": "lgtm", "plan_digest": digest}, headers=headers("approver"))
    assert approved.status_code == 200, approved.text
    done = await wait_run(client, headers, run["id"], in_state("succeeded", "failed"))
    assert done["state"] == "succeeded"
    outputs = step(done, "approve")["outputs"]
    assert {k: outputs[k] for k in ("approved_by", "comment", "plan", "plan_digest", "inputs")} == {
        "approved_by": "approver-bot", "comment": "lgtm", "plan": [], "plan_digest": digest, "inputs": {}}
    assert [a["by"] for a in outputs["approvals"]] == ["approver-bot"]
    late = await client.post(f"/api/v1/runs/{run['id']}/steps/approve/reject", headers=headers("operator"))
    assert late.status_code == 409
    assert late.json()["detail"] == "run is already succeeded; there is no gate left to decide", late.text

    other = await start(client, headers, definition)
    await wait_run(client, headers, other["id"], awaiting("approve"))
    rejected = await client.post(f"/api/v1/runs/{other['id']}/steps/approve/reject", json={"comment": "not now"},
                                 headers=headers("operator"))
    assert rejected.status_code == 200, rejected.text
    failed = await wait_run(client, headers, other["id"], in_state("succeeded", "failed"))
    assert failed["state"] == "failed"
    assert step(failed, "approve")["error"] == "rejected by operator-bot: not now"
    failure = next(e for e in await events(client, headers, other["id"]) if e["type"] == "step.failed")
    assert failure["data"]["by"] == "operator-bot" and failure["data"]["kind"] == "denied"


async def test_engine_down_is_503_problem(make_client, headers) -> None:
    from vwmp_common.ports import free_port

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


# A large run: the summary (?steps=summary, step_counts) and the steps a page at a time.
# 120 steps: a failing one, the rest core/noop after it or beside it; so some fail, some are cancelled or skipped.
STEPS: list[dict[str, Any]] = [
    {"id": "boom", "uses": "testkit/fail", "with": {"kind": "error"}},
    *({"id": f"n{i}", "uses": "core/noop"} for i in range(110)),
    *({"id": f"after{i}", "uses": "core/noop", "needs": ["boom"]} for i in range(9)),
]


async def test_the_summary_keeps_the_steps_that_need_a_look_and_counts_the_rest(client, headers, definition) -> None:
    started = await start(client, headers, definition, STEPS)
    whole = await wait_run(client, headers, started["id"], lambda run: run["state"] == "failed", timeout=60)
    assert len(whole["steps"]) == 120 and sum(whole["step_counts"].values()) == 120
    summary = (await client.get(f"/api/v1/runs/{started['id']}", params={"steps": "summary"},
                                headers=headers("viewer"))).json()
    assert summary["step_counts"] == whole["step_counts"]
    assert whole["step_counts"]["failed"] == 1 and whole["step_counts"]["succeeded"] == 110
    interesting = [s for s in whole["steps"] if s["state"] in ("running", "retrying", "awaiting_approval", "failed",
                                                               "cancelled")]
    assert summary["steps"] == interesting and summary["steps"][0]["id"] == "boom"
    assert {k: v for k, v in summary.items() if k != "steps"} == {k: v for k, v in whole.items() if k != "steps"}


async def test_steps_are_paginated_with_a_cursor_and_filtered_by_state(client, headers, definition) -> None:
    started = await start(client, headers, definition, STEPS)
    whole = await wait_run(client, headers, started["id"], lambda run: run["state"] == "failed", timeout=60)
    seen: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 50}
    while True:
        page = (await client.get(f"/api/v1/runs/{started['id']}/steps", params=params,
                                 headers=headers("viewer"))).json()
        assert page["total"] == 120
        seen += page["items"]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == whole["steps"]
    failed = (await client.get(f"/api/v1/runs/{started['id']}/steps", params={"state": ["failed", "skipped"]},
                               headers=headers("viewer"))).json()
    assert [s["id"] for s in failed["items"]] == [s["id"] for s in whole["steps"]
                                                   if s["state"] in ("failed", "skipped")]
    assert failed["total"] == len(failed["items"]) and failed["next_cursor"] is None


async def test_bad_step_queries_are_422_and_an_unknown_run_404(client, headers) -> None:
    for params in ({"state": "nope"}, {"limit": 0}, {"limit": 1001}, {"cursor": "-1"}, {"cursor": "abc"}):
        response = await client.get("/api/v1/runs/whatever/steps", params=params, headers=headers("viewer"))
        assert response.status_code == 422, (params, response.text)
    assert (await client.get("/api/v1/runs/whatever/steps", headers=headers("viewer"))).status_code == 404
    bad = await client.get("/api/v1/runs/whatever", params={"steps": "some"}, headers=headers("viewer"))
    assert bad.status_code == 422
