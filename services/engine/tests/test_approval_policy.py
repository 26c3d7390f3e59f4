"""The approval policy and plan-pinned approvals, on real storage, plugin host and NATS processes.

Each rule has its refusal next to the case it admits: self-approval, roles and names, N-of-M with
distinct approvers, one reject rejects, timeouts, typed inputs, the plan digest, and a takeover
that keeps approvals and the deadline.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import pytest
from vwmp_common.ports import free_port
from vwmp_testkit.git import git, isolated_git_env, make_repo

from .conftest import Replica, Services, replica

_names = itertools.count()


def gated(policy: dict[str, Any] | None = None, after: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    steps = [{"id": "gate", "uses": "core/approval", "with": {"message": "ship it?", **(policy or {})}},
             *(after if after is not None else [{"id": "ship", "uses": "hello/greet", "needs": ["gate"],
                                                  "with": {"name": "prod"}}])]
    return {"apiVersion": "vwmp/v1", "kind": "Workflow", "metadata": {"name": f"policy-{next(_names)}"},
            "spec": {"steps": steps}}


async def opened(engine: Replica, policy: dict[str, Any] | None = None, **kwargs: Any) -> str:
    definition = gated(policy, **kwargs)
    await engine.apply(definition)
    run_id = await engine.start(definition["metadata"]["name"])  # started by "tester"
    await engine.wait_step(run_id, "gate", "awaiting_approval")
    return run_id


async def refused(engine: Replica, run_id: str, **decision: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await engine.decide(run_id, **decision)
    return error.value


def metadata(error: grpc.aio.AioRpcError, key: str) -> str:
    return next(str(value) for k, value in error.trailing_metadata() or () if k == key)


async def test_the_gate_shows_its_policy_starter_plan_digest_and_no_approvals_yet(engine) -> None:
    run_id = await opened(engine, {"timeout": "1h"})
    outputs = await engine.gate(run_id)
    assert set(outputs) == {"plan", "plan_digest", "approvals", "policy", "started_by", "deadline"}
    assert outputs["policy"] == {"approvers": {"roles": ["operator"], "names": []}, "required": 1,
                                 "allow_self_approval": False, "pin_plan": True, "timeout": "1h",
                                 "on_timeout": "reject", "inputs": None}
    assert outputs["started_by"] == "tester" and outputs["approvals"] == []
    assert len(outputs["plan_digest"]) == 64 and outputs["plan"][0]["step"] == "ship"
    left = datetime.fromisoformat(outputs["deadline"].replace("Z", "+00:00")) - datetime.now(UTC)
    assert 3500 < left.total_seconds() <= 3600
    announced = [e for e in await engine.events(run_id) if e.type == "step.awaiting_approval"]
    assert announced[0].data["plan_digest"] == outputs["plan_digest"]


async def test_the_runs_starter_may_not_approve_it_but_may_reject_it(engine) -> None:
    run_id = await opened(engine)
    error = await refused(engine, run_id, actor="tester")
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED and "started this run" in (error.details() or "")
    assert (await engine.run(run_id)).steps[0].state == "awaiting_approval"  # the gate stays waiting
    await engine.decide(run_id, approve=False, actor="tester", comment="not mine to ship")
    run = await engine.wait(run_id)
    assert run.state == "failed" and run.steps[0].error == "rejected by tester: not mine to ship"


async def test_self_approval_is_allowed_when_the_policy_says_so(engine) -> None:
    run_id = await opened(engine, {"allow_self_approval": True})
    await engine.decide(run_id, actor="tester")
    assert (await engine.wait(run_id)).state == "succeeded"


async def test_roles_below_the_policy_are_refused_and_higher_ones_admitted(engine) -> None:
    run_id = await opened(engine, {"approvers": {"roles": ["admin"]}})
    for role in ("operator", "editor", "viewer", ""):
        error = await refused(engine, run_id, actor="olga", role=role)
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED, role
        assert "approvers are role admin or higher" in (error.details() or "")
    error = await refused(engine, run_id, approve=False, actor="olga", role="operator")  # reject checks too
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    await engine.decide(run_id, actor="ada", role="admin")
    outputs = json.loads((await engine.wait(run_id)).steps[0].outputs_json)
    assert outputs["approved_by"] == "ada"


async def test_the_default_approvers_are_operators_and_admins_never_editors(engine) -> None:
    run_id = await opened(engine)
    assert (await refused(engine, run_id, actor="ed", role="editor")).code() == grpc.StatusCode.PERMISSION_DENIED
    await engine.decide(run_id, actor="ada", role="admin")
    assert (await engine.wait(run_id)).state == "succeeded"


async def test_names_admit_those_approvers_and_nobody_else(engine) -> None:
    run_id = await opened(engine, {"approvers": {"names": ["release-lead"]}})
    error = await refused(engine, run_id, actor="olga", role="admin")
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED and "'release-lead'" in (error.details() or "")
    await engine.decide(run_id, actor="release-lead", role="operator")
    assert (await engine.wait(run_id)).state == "succeeded"


async def test_two_of_m_needs_two_distinct_approvers_and_the_same_one_twice_is_refused(engine) -> None:
    run_id = await opened(engine, {"required": 2})
    await engine.decide(run_id, actor="alice", comment="first")
    outputs = await engine.gate(run_id)
    assert (await engine.run(run_id)).steps[0].state == "awaiting_approval"
    assert [a["by"] for a in outputs["approvals"]] == ["alice"] and outputs["approvals"][0]["comment"] == "first"
    approved = [e for e in await engine.events(run_id) if e.type == "step.approved"]
    assert len(approved) == 1 and approved[0].data["by"] == "alice"
    assert (approved[0].data["approvals"], approved[0].data["required"]) == (1, 2)
    again = await refused(engine, run_id, actor="alice")
    assert again.code() == grpc.StatusCode.FAILED_PRECONDITION and "already approved" in (again.details() or "")
    await engine.decide(run_id, actor="bob", comment="second")
    run = await engine.wait(run_id)
    assert run.state == "succeeded"
    final = json.loads(run.steps[0].outputs_json)
    assert final["approved_by"] == "bob" and [a["by"] for a in final["approvals"]] == ["alice", "bob"]
    assert set(final) == {"approved_by", "comment", "plan", "plan_digest", "approvals", "inputs"}


async def test_one_reject_rejects_even_after_approvals(engine) -> None:
    run_id = await opened(engine, {"required": 3})
    await engine.decide(run_id, actor="alice")
    await engine.decide(run_id, approve=False, actor="bob", comment="no")
    run = await engine.wait(run_id)
    assert run.state == "failed" and run.steps[0].error == "rejected by bob: no"
    failed = next(e for e in await engine.events(run_id) if e.type == "step.failed")
    assert failed.data["kind"] == "denied" and run.steps[0].attempt == 1  # never retried
    assert run.steps[1].state == "skipped"


async def test_a_timeout_rejects_by_default_with_a_clear_error(engine) -> None:
    run_id = await opened(engine, {"timeout": "1s"})
    run = await engine.wait(run_id, timeout=15)
    assert run.state == "failed" and run.steps[0].error == "approval timed out after 1s"
    assert run.steps[1].state == "skipped"


async def test_a_timeout_approves_when_on_timeout_says_so(engine) -> None:
    run_id = await opened(engine, {"timeout": "1s", "on_timeout": "approve", "required": 2})
    await engine.decide(run_id, actor="alice")
    run = await engine.wait(run_id, timeout=15)
    assert run.state == "succeeded"
    outputs = json.loads(run.steps[0].outputs_json)
    assert outputs["approved_by"] == "timeout" and [a["by"] for a in outputs["approvals"]] == ["alice"]


async def test_typed_inputs_are_refused_with_pointers_and_accepted_when_they_match(engine) -> None:
    schema = {"type": "object", "required": ["ticket"], "additionalProperties": False,
              "properties": {"ticket": {"type": "string", "pattern": "^REL-[0-9]+$"},
                             "notes_override": {"type": "string"}}}
    run_id = await opened(engine, {"inputs": schema})
    for inputs, pointers in (({}, ["/inputs/ticket"]), ({"ticket": "x"}, ["/inputs/ticket"]),
                             ({"ticket": "REL-1", "notes_override": 3}, ["/inputs/notes_override"]),
                             ({"ticket": "REL-1", "rm": True}, ["/inputs/rm"])):
        error = await refused(engine, run_id, actor="alice", inputs=inputs)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, inputs
        assert [e["pointer"] for e in json.loads(metadata(error, "vwmp-errors-json"))] == pointers
    assert (await engine.gate(run_id))["approvals"] == []
    await engine.decide(run_id, actor="alice", inputs={"ticket": "REL-7", "notes_override": "hotfix"})
    outputs = json.loads((await engine.wait(run_id)).steps[0].outputs_json)
    assert outputs["inputs"] == {"ticket": "REL-7", "notes_override": "hotfix"}


async def test_a_gate_without_inputs_refuses_inputs(engine) -> None:
    run_id = await opened(engine)
    error = await refused(engine, run_id, actor="alice", inputs={"x": 1})
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert json.loads(metadata(error, "vwmp-errors-json"))[0]["pointer"] == "/inputs"


async def test_an_approval_without_the_digest_is_refused_unless_the_plan_is_not_pinned(engine) -> None:
    pinned = await opened(engine)
    digest = (await engine.gate(pinned))["plan_digest"]
    error = await refused(engine, pinned, actor="alice", digest="")
    assert error.code() == grpc.StatusCode.ABORTED and metadata(error, "vwmp-plan-digest") == digest
    stale = await refused(engine, pinned, actor="alice", digest="0" * 64)
    assert stale.code() == grpc.StatusCode.ABORTED
    await engine.decide(pinned, actor="alice")
    assert json.loads((await engine.wait(pinned)).steps[0].outputs_json)["plan_digest"] == digest
    loose = await opened(engine, {"pin_plan": False})
    assert (await refused(engine, loose, actor="alice", digest="0" * 64)).code() == grpc.StatusCode.ABORTED
    await engine.decide(loose, actor="alice", digest="")
    assert (await engine.wait(loose)).state == "succeeded"


@pytest.fixture
def remote_repo(services: Services, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[str, Path, Path]:
    isolated_git_env(monkeypatch, tmp_path)
    name = f"app-{free_port()}"
    work, remote = make_repo(services.logs / "ws", name, {"README.md": "hello\n"})
    return name, work, remote


async def test_a_remote_that_moved_refuses_the_approval_and_shows_the_new_plan(
    engine, remote_repo: tuple[str, Path, Path], tmp_path: Path
) -> None:
    name, work, remote = remote_repo
    (work / "README.md").write_text("hello\nrelease\n")
    git(work, "commit", "-qam", "release")
    push = [{"id": "push", "uses": "git/push", "needs": ["gate"], "with": {"repo": name, "refs": ["main"]}}]
    run_id = await opened(engine, {"required": 2}, after=push)
    shown = await engine.gate(run_id)
    await engine.decide(run_id, actor="alice")
    # someone pushes to the remote between the display and the second approval
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(remote), str(other))
    git(other, "commit", "-q", "--allow-empty", "-m", "elsewhere")
    git(other, "push", "-q", "origin", "HEAD:main")
    moved = git(remote, "rev-parse", "main")
    error = await refused(engine, run_id, actor="bob", digest=shown["plan_digest"])
    assert error.code() == grpc.StatusCode.ABORTED
    now = await engine.gate(run_id)
    assert metadata(error, "vwmp-plan-digest") == now["plan_digest"] != shown["plan_digest"]
    assert f"origin has refs/heads/main now: {moved}" in now["plan"][0]["diff"]
    assert now["approvals"] == []  # alice approved another plan
    announced = [e for e in await engine.events(run_id) if e.type == "step.awaiting_approval"]
    assert len(announced) == 2 and announced[-1].data["plan_digest"] == now["plan_digest"]
    assert announced[-1].data["voided_approvals"] == ["alice"]
    await engine.decide(run_id, actor="bob")
    await engine.decide(run_id, actor="carol")
    run = await engine.wait(run_id)
    # what the team then sees: the push is refused by the remote, which has a commit the release lacks
    assert run.state == "failed"
    assert run.steps[1].error.startswith("git push failed: origin refused refs/heads/main [rejected] (fetch first)")
    assert git(remote, "rev-parse", "main") == moved


async def test_approvals_and_the_deadline_survive_a_takeover(services: Services, nats_server: str) -> None:
    async with replica(services, nats_server, owner=f"first-{free_port()}") as first:
        run_id = await opened(first, {"required": 2, "timeout": "1h"})
        await first.decide(run_id, actor="alice")
        before = await first.gate(run_id)
    # the first replica is gone; the second takes the run over from storage
    async with replica(services, nats_server, owner=f"second-{free_port()}") as second:
        async with asyncio.timeout(30):
            while second.keeper.executor(run_id) is None:
                await asyncio.sleep(0.1)
        again = await refused(second, run_id, actor="alice")
        assert again.code() == grpc.StatusCode.FAILED_PRECONDITION and "already approved" in (again.details() or "")
        after = await second.gate(run_id)
        assert (after["approvals"], after["deadline"]) == (before["approvals"], before["deadline"])
        assert not [e for e in await second.events(run_id) if e.type == "step.awaiting_approval"][1:]
        await second.decide(run_id, actor="bob")
        run = await second.wait(run_id)
        assert run.state == "succeeded"
        assert [a["by"] for a in json.loads(run.steps[0].outputs_json)["approvals"]] == ["alice", "bob"]


async def test_a_decision_forwarded_to_the_owning_replica_keeps_its_refusal_kind(engine, services: Services,
                                                                                 nats_server: str) -> None:
    async with replica(services, nats_server, owner=f"other-{free_port()}") as other:
        run_id = await opened(engine, {"inputs": {"type": "object", "properties": {"n": {"type": "integer"}}}})
        async with asyncio.timeout(10):
            while engine.keeper.executor(run_id) is None and other.keeper.executor(run_id) is None:
                await asyncio.sleep(0.05)
        owner = engine if engine.keeper.executor(run_id) else other
        bystander = other if owner is engine else engine
        assert bystander.keeper.executor(run_id) is None
        denied = await refused(bystander, run_id, actor="tester")
        assert denied.code() == grpc.StatusCode.PERMISSION_DENIED
        invalid = await refused(bystander, run_id, actor="alice", inputs={"n": "one"})
        assert invalid.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert json.loads(metadata(invalid, "vwmp-errors-json"))[0]["pointer"] == "/inputs/n"
        digest = (await bystander.gate(run_id))["plan_digest"]
        changed = await refused(bystander, run_id, actor="alice", digest="")
        assert changed.code() == grpc.StatusCode.ABORTED and metadata(changed, "vwmp-plan-digest") == digest
        await bystander.decide(run_id, actor="alice", inputs={"n": 1})
        assert json.loads((await owner.wait(run_id)).steps[0].outputs_json)["inputs"] == {"n": 1}


async def test_an_unpinned_gate_keeps_its_approvals_when_the_plan_changes(
    engine, remote_repo: tuple[str, Path, Path], tmp_path: Path
) -> None:
    name, _work, remote = remote_repo
    push = [{"id": "push", "uses": "git/push", "needs": ["gate"], "with": {"repo": name, "refs": ["main"]}}]
    run_id = await opened(engine, {"required": 2, "pin_plan": False}, after=push)
    shown = await engine.gate(run_id)
    await engine.decide(run_id, actor="alice", digest="")
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(remote), str(other))
    git(other, "commit", "-q", "--allow-empty", "-m", "elsewhere")
    git(other, "push", "-q", "origin", "HEAD:main")
    stale = await refused(engine, run_id, actor="bob", digest=shown["plan_digest"])  # said which plan: not this one
    assert stale.code() == grpc.StatusCode.ABORTED
    now = await engine.gate(run_id)
    assert now["plan_digest"] != shown["plan_digest"] and [a["by"] for a in now["approvals"]] == ["alice"]
    await engine.decide(run_id, actor="bob", digest="")
    outputs = json.loads((await engine.wait(run_id)).steps[0].outputs_json)
    assert [a["by"] for a in outputs["approvals"]] == ["alice", "bob"] and outputs["plan_digest"] == now["plan_digest"]
