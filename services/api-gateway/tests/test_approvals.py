"""Approval policies over REST against the real engine: who may decide (403 + audit), the pinned plan
(409 plan-changed with the plan now), the same approver twice (409) and typed inputs (422 with pointers).
"""

from __future__ import annotations

import uuid
from typing import Any

from .test_runs import PROBLEM, awaiting, in_state, shown_digest, step, wait_run


async def gated(client: Any, headers: Any, definition: Any, policy: dict[str, Any] | None = None) -> str:
    """A run (started by operator-bot) waiting at its gate `approve`, whose `with:` is `policy`."""
    name = f"wf-{uuid.uuid4().hex[:10]}"
    steps = [{"id": "build", "uses": "core/noop"},
             {"id": "approve", "uses": "core/approval", "needs": ["build"], "with": policy or {}},
             {"id": "say", "uses": "testkit/echo", "needs": ["approve"], "with": {"value": "shipped"}}]
    created = await client.post("/api/v1/workflows", json=definition(name, steps), headers=headers("editor"))
    assert created.status_code == 201, created.text
    run = await client.post(f"/api/v1/workflows/{name}/runs", json={"parameters": {"part": "minor"}},
                            headers=headers("operator"))
    assert run.status_code == 201, run.text
    run_id = str(run.json()["id"])
    await wait_run(client, headers, run_id, awaiting("approve"))
    return run_id


def audited(backend: Any, run_id: str) -> list[tuple[str, str, str]]:
    target = f"runs/{run_id}/steps/approve"
    return [(e.actor, e.action, e.outcome) for e in reversed(backend.audit()) if e.target == target]


async def test_the_starter_approving_is_403_audited_and_the_gate_keeps_waiting(client, headers, backend,
                                                                              definition) -> None:
    run_id = await gated(client, headers, definition)
    url = f"/api/v1/runs/{run_id}/steps/approve/approve"
    digest = await shown_digest(client, headers, run_id)
    own = await client.post(url, json={"plan_digest": digest}, headers=headers("operator"))
    assert own.status_code == 403 and own.headers["content-type"] == PROBLEM
    assert "started this run" in own.json()["detail"]
    run = (await client.get(f"/api/v1/runs/{run_id}", headers=headers("viewer"))).json()
    assert step(run, "approve")["state"] == "awaiting_approval"
    ok = await client.post(url, json={"plan_digest": digest, "comment": "go"}, headers=headers("approver"))
    assert ok.status_code == 200, ok.text
    assert audited(backend, run_id) == [("operator-bot", "step.approve", "denied"),
                                        ("approver-bot", "step.approve", "ok")]
    done = await wait_run(client, headers, run_id, in_state("succeeded", "failed"))
    assert done["state"] == "succeeded" and step(done, "say")["state"] == "succeeded"


async def test_an_approver_outside_the_policy_is_403_and_a_named_one_decides(client, headers, backend,
                                                                            definition) -> None:
    run_id = await gated(client, headers, definition, {"approvers": {"roles": ["admin"], "names": ["approver-bot"]}})
    url = f"/api/v1/runs/{run_id}/steps/approve"
    digest = await shown_digest(client, headers, run_id)
    other_operator = backend.storage.tokens.create(f"ops-{uuid.uuid4().hex[:6]}", "operator", 0, "tests")[1]
    refused = await client.post(f"{url}/reject", json={"comment": "no"},
                                headers={"Authorization": f"Bearer {other_operator}"})
    assert refused.status_code == 403 and "approvers are role admin or higher, 'approver-bot'" in refused.json()[
        "detail"]
    viewer = await client.post(f"{url}/approve", json={"plan_digest": digest}, headers=headers("viewer"))
    assert viewer.status_code == 403  # the route itself needs the operator role
    assert (await client.post(f"{url}/approve", json={"plan_digest": digest},
                              headers=headers("approver"))).status_code == 200
    assert [outcome for _, _, outcome in audited(backend, run_id)] == ["denied", "denied", "ok"]


async def test_an_approval_without_the_shown_digest_is_409_plan_changed_with_the_plan(client, headers,
                                                                                       definition) -> None:
    run_id = await gated(client, headers, definition)
    url = f"/api/v1/runs/{run_id}/steps/approve/approve"
    digest = await shown_digest(client, headers, run_id)
    for body in ({}, {"plan_digest": "0" * 64}):
        refused = await client.post(url, json=body, headers=headers("approver"))
        assert refused.status_code == 409 and refused.headers["content-type"] == PROBLEM
        problem = refused.json()
        assert problem["type"].endswith("/plan-changed") and problem["plan_digest"] == digest
        gate = step((await client.get(f"/api/v1/runs/{run_id}", headers=headers("viewer"))).json(), "approve")
        assert "plan" in problem and problem["plan"] == gate["outputs"]["plan"]
    bad = await client.post(url, json={"plan_digest": "not-hex"}, headers=headers("approver"))
    assert bad.status_code == 422 and bad.json()["errors"][0]["pointer"] == "/body/plan_digest"
    assert (await client.post(url, json={"plan_digest": digest}, headers=headers("approver"))).status_code == 200


async def test_two_approvals_are_needed_and_the_same_approver_twice_is_409(client, headers, definition) -> None:
    run_id = await gated(client, headers, definition, {"required": 2})
    url = f"/api/v1/runs/{run_id}/steps/approve/approve"
    digest = await shown_digest(client, headers, run_id)
    first = await client.post(url, json={"plan_digest": digest, "comment": "one"}, headers=headers("approver"))
    assert first.status_code == 200 and step(first.json(), "approve")["state"] == "awaiting_approval"
    twice = await client.post(url, json={"plan_digest": digest}, headers=headers("approver"))
    assert twice.status_code == 409 and "already approved" in twice.json()["detail"]
    second = await client.post(url, json={"plan_digest": digest, "comment": "two"}, headers=headers("admin"))
    assert second.status_code == 200
    done = await wait_run(client, headers, run_id, in_state("succeeded", "failed"))
    outputs = step(done, "approve")["outputs"]
    assert [(a["by"], a["comment"]) for a in outputs["approvals"]] == [("approver-bot", "one"), ("admin-bot", "two")]
    events = (await client.get(f"/api/v1/runs/{run_id}/events", headers=headers("viewer"))).json()["items"]
    approved = [e for e in events if e["type"] == "step.approved"]
    assert len(approved) == 1 and {k: approved[0]["data"][k] for k in ("by", "comment", "approvals", "required")} == {
        "by": "approver-bot", "comment": "one", "approvals": 1, "required": 2}


async def test_inputs_that_do_not_match_the_schema_are_422_with_pointers(client, headers, definition) -> None:
    run_id = await gated(client, headers, definition, {"inputs": {
        "type": "object", "required": ["ticket"], "properties": {"ticket": {"type": "string"},
                                                                 "notes_override": {"type": "string"}}}})
    url = f"/api/v1/runs/{run_id}/steps/approve/approve"
    digest = await shown_digest(client, headers, run_id)
    wrong = await client.post(url, json={"plan_digest": digest, "inputs": {"notes_override": 5}},
                              headers=headers("approver"))
    assert wrong.status_code == 422 and wrong.headers["content-type"] == PROBLEM
    assert sorted(e["pointer"] for e in wrong.json()["errors"]) == ["/inputs/notes_override", "/inputs/ticket"]
    ok = await client.post(url, json={"plan_digest": digest, "inputs": {"ticket": "REL-1", "notes_override": "x"}},
                           headers=headers("approver"))
    assert ok.status_code == 200, ok.text
    done = await wait_run(client, headers, run_id, in_state("succeeded", "failed"))
    assert step(done, "approve")["outputs"]["inputs"] == {"ticket": "REL-1", "notes_override": "x"}


async def test_an_inputs_schema_that_is_not_a_json_schema_is_refused_at_validation(client, headers,
                                                                                    definition) -> None:
    steps = [{"id": "approve", "uses": "core/approval", "with": {"inputs": {"type": "object", "required": "ticket"}}}]
    checked = await client.post("/api/v1/workflows/validate", json=definition("bad-gate", steps),
                                headers=headers("editor"))
    assert checked.status_code == 200
    errors = checked.json()["errors"]
    assert [e["pointer"] for e in errors] == ["/spec/steps/0/with/inputs/required"]
