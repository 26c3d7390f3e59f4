"""spec.concurrency over REST: the run's `concurrency` object, and 409 concurrency-conflict for on_conflict fail."""

from __future__ import annotations

import uuid
from typing import Any

PROBLEM = "application/problem+json"
GATE = [{"id": "build", "uses": "core/noop"}, {"id": "approve", "uses": "core/approval", "needs": ["build"]}]


async def keyed_workflow(client: Any, headers: Any, definition: Any, **concurrency: Any) -> str:
    name = f"wf-{uuid.uuid4().hex[:10]}"
    body = definition(name, GATE)
    body["spec"]["concurrency"] = {"key": "release:${{ params.part }}", **concurrency}
    created = await client.post("/api/v1/workflows", json=body, headers=headers("editor"))
    assert created.status_code == 201, created.text
    return name


async def start(client: Any, headers: Any, name: str, part: str = "minor") -> Any:
    return await client.post(f"/api/v1/workflows/{name}/runs", json={"parameters": {"part": part}},
                             headers=headers("operator"))


async def test_a_keyed_run_shows_its_key_and_a_waiting_one_its_place(client, headers, definition) -> None:
    name = await keyed_workflow(client, headers, definition)
    holder = (await start(client, headers, name)).json()
    waiter = (await start(client, headers, name)).json()
    assert holder["concurrency"] == {"key": "release:minor", "limit": 1, "on_conflict": "queue", "position": 0,
                                     "blocked_by": []}
    assert waiter["state"] == "queued"
    assert waiter["concurrency"] == {"key": "release:minor", "limit": 1, "on_conflict": "queue", "position": 1,
                                     "blocked_by": [holder["id"]]}
    listed = (await client.get("/api/v1/runs", params={"workflow": name}, headers=headers("viewer"))).json()
    assert [run["concurrency"]["position"] for run in listed["items"]] == [1, 0]
    queued = (await client.get(f"/api/v1/runs/{waiter['id']}/events", headers=headers("viewer"))).json()["items"][0]
    assert queued["type"] == "run.queued" and queued["data"]["concurrency"]["blocked_by"] == [holder["id"]]
    for run in (waiter, holder):
        assert (await client.post(f"/api/v1/runs/{run['id']}/cancel", headers=headers("operator"))).status_code in (
            200, 503)


async def test_an_unkeyed_run_has_null_concurrency(client, headers, definition) -> None:
    name = f"wf-{uuid.uuid4().hex[:10]}"
    await client.post("/api/v1/workflows", json=definition(name), headers=headers("editor"))
    run = (await start(client, headers, name)).json()
    assert run["concurrency"] is None


async def test_fail_is_409_concurrency_conflict_naming_the_holder(client, headers, definition) -> None:
    name = await keyed_workflow(client, headers, definition, on_conflict="fail")
    holder = (await start(client, headers, name)).json()
    refused = await start(client, headers, name)
    assert refused.status_code == 409
    assert refused.headers["content-type"] == PROBLEM
    problem = refused.json()
    assert problem["type"].endswith("/concurrency-conflict")
    assert problem["concurrency"] == {"key": "release:minor", "blocked_by": [holder["id"]]}
    assert holder["id"] in problem["detail"]
    other = await start(client, headers, name, part="patch")
    assert other.status_code == 201  # another key


async def test_a_bad_concurrency_is_422_with_pointers(client, headers, definition) -> None:
    name = f"wf-{uuid.uuid4().hex[:10]}"
    body = definition(name)
    body["spec"]["concurrency"] = {"key": "k", "limit": 0, "on_conflict": "later"}
    response = await client.post("/api/v1/workflows/validate", json=body, headers=headers("editor"))
    pointers = {error["pointer"] for error in response.json()["errors"]}
    assert {"/spec/concurrency/limit", "/spec/concurrency/on_conflict"} <= pointers
