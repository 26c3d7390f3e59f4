"""Workflow outputs and finally steps over REST against the real engine: the run object's `outputs` and
`finalizing`, the final event's `outputs`, and a cancel answered while the finally steps still run."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from .test_runs import events, in_state, step, wait_run


async def start(client: Any, headers: Any, definition: Callable[..., dict[str, Any]], steps: list[dict[str, Any]],
                **spec: Any) -> dict[str, Any]:
    name = f"wf-{uuid.uuid4().hex[:10]}"
    body = definition(name, steps)
    body["spec"].update(spec)
    created = await client.post("/api/v1/workflows", json=body, headers=headers("editor"))
    assert created.status_code == 201, created.text
    response = await client.post(f"/api/v1/workflows/{name}/runs", json={"parameters": {"part": "minor"}},
                                 headers=headers("operator"))
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_the_run_object_and_its_final_event_carry_the_outputs(client, headers, definition) -> None:
    run = await start(client, headers, definition, [{"id": "build", "uses": "core/noop"}],
                      outputs={"part": "${{ params.part }}", "state": "${{ run.state }}",
                               "cleaned": "${{ steps.cleanup.state }}"},
                      **{"finally": [{"id": "cleanup", "uses": "core/noop"}]})
    assert run["outputs"] == {} and [s["id"] for s in run["steps"]] == ["build", "cleanup"]
    done = await wait_run(client, headers, run["id"], in_state("succeeded", "failed"))
    assert done["state"] == "succeeded" and done["finalizing"] is None
    assert done["outputs"] == {"part": "minor", "state": "succeeded", "cleaned": "succeeded"}
    final = (await events(client, headers, run["id"]))[-1]
    assert final["type"] == "run.succeeded" and final["data"]["outputs"] == done["outputs"]


async def test_a_cancel_answers_while_the_finally_steps_run_and_the_run_ends_cancelled(
        client, headers, definition) -> None:
    run = await start(client, headers, definition, [{"id": "build", "uses": "core/sleep", "with": {"seconds": 30}}],
                      **{"finally": [{"id": "cleanup", "uses": "core/sleep", "with": {"seconds": 0.5}}]})
    await wait_run(client, headers, run["id"], lambda r: step(r, "build")["state"] == "running")
    cancelled = await client.post(f"/api/v1/runs/{run['id']}/cancel", headers=headers("operator"))
    assert cancelled.status_code == 200, cancelled.text
    answered = cancelled.json()
    assert (answered["state"], answered["finalizing"]) == ("running", "cancelled")
    assert step(answered, "build")["state"] == "cancelled"
    done = await wait_run(client, headers, run["id"], in_state("cancelled"))
    assert step(done, "cleanup")["state"] == "succeeded" and done["finalizing"] == "cancelled"
    types = [e["type"] for e in await events(client, headers, run["id"])]
    assert types.index("run.finalizing") < types.index("run.cancelled") == len(types) - 1
