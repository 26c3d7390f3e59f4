"""The `monorepo-release` template end to end through the gateway: five packages, one gate, one push.

The sample monorepo (`vwmp_testkit.monorepo`: three Python packages, two npm packages) lives in the
platform's workspace and pushes to a bare remote outside it. A feature in `shop-core` and a fix in
`@shop/ui-kit` release those two and, because they depend on them, `shop-utils`, `shop-api` and
`@shop/web`: five packages, each with its own version, CHANGELOG.md and tag.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from vwmp_cli.up import Platform
from vwmp_common.states import TERMINAL_RUN_STATES
from vwmp_testkit.monorepo import ORDER, TAGS

from .conftest import approve_shown_plan, platform_env, running
from .release_repo import Monorepo, git, git_env, snapshot

pytestmark = pytest.mark.e2e

RELEASED = ["@shop/ui-kit@0.9.1", "@shop/web@1.0.1", "shop-core@1.3.0", "shop-utils@0.3.2", "shop-api@2.0.1"]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("monorepo")


@pytest.fixture(scope="module")
def platform(root: Path) -> Iterator[Platform]:
    env = git_env(root)
    with running(Platform(env=platform_env(root, **{k: env[k] for k in ("GIT_CONFIG_GLOBAL",
                                                                        "GIT_CONFIG_NOSYSTEM")}))) as platform:
        yield platform


async def template(api: httpx.AsyncClient, name: str) -> dict[str, Any]:
    templates = await api.get("/templates")
    assert templates.status_code == 200, templates.text
    found = next(t for t in templates.json()["items"] if t["name"] == "monorepo-release")
    definition = json.loads(json.dumps(found["definition"]))
    definition["metadata"]["name"] = name
    created = await api.post("/workflows", json=definition)
    assert created.status_code == 201, created.text
    return definition


async def start(api: httpx.AsyncClient, workflow: str, repo: str, dry_run: bool = False) -> str:
    started = await api.post(f"/workflows/{workflow}/runs", json={"parameters": {"repo": repo}, "dry_run": dry_run})
    assert started.status_code == 201, started.text
    return str(started.json()["id"])


async def wait(api: httpx.AsyncClient, run_id: str, until: Any, timeout: float = 60) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while not until(run := (await api.get(f"/runs/{run_id}")).json()):
            assert run["state"] not in TERMINAL_RUN_STATES or until(run), run
            await asyncio.sleep(0.2)
    return run


def steps_of(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {step["id"]: step for step in run["steps"]}


def instances(run: dict[str, Any], parent: str) -> list[dict[str, Any]]:
    return sorted((s for s in run["steps"] if s.get("parent") == parent), key=lambda s: s["item_index"])


async def test_dry_run_then_one_gate_for_five_packages_then_push(platform: Platform, root: Path, api, approver) -> None:
    repo = Monorepo(platform.workspace, root, "shop")
    await template(api, "shop-monorepo")
    before = snapshot(repo.work, repo.env), snapshot(repo.remote, repo.env)

    # dry run: every package's plan, nothing changed
    dry = await wait(api, await start(api, "shop-monorepo", "shop", dry_run=True),
                     lambda r: r["state"] in TERMINAL_RUN_STATES)
    assert dry["state"] == "succeeded", [(s["id"], s["state"], s.get("error")) for s in dry["steps"]]
    assert (snapshot(repo.work, repo.env), snapshot(repo.remote, repo.env)) == before
    steps = steps_of(dry)
    release = steps["packages"]["outputs"]["release"]
    assert [p["name"] for p in release] == ORDER  # dependencies first
    assert [p["changed"] for p in release] == [True, False, True, False, False]
    assert [i["outputs"]["tag"] for i in instances(dry, "analyze")] == RELEASED
    changelogs = [p["target"] for i in instances(dry, "changelog") for p in i["outputs"]["plan"]]
    assert changelogs == ["js/ui-kit/CHANGELOG.md", "js/web/CHANGELOG.md", "py/core/CHANGELOG.md",
                          "py/utils/CHANGELOG.md", "py/api/CHANGELOG.md"]
    assert [p["target"] for p in steps["ranges"]["outputs"]["plan"]] == [
        "js/web/package.json", "py/api/pyproject.toml", "py/utils/pyproject.toml"]
    assert [p["target"] for i in instances(dry, "tag") for p in i["outputs"]["plan"]] == RELEASED
    assert [p["target"] for p in steps["push"]["outputs"]["plan"]] == [
        "origin refs/heads/main", *[f"origin refs/tags/{t}" for t in RELEASED]]

    # the real run stops at one gate that shows all five packages
    run_id = await start(api, "shop-monorepo", "shop")
    run = await wait(api, run_id, lambda r: steps_of(r)["approve"]["state"] == "awaiting_approval"
                     or r["state"] in TERMINAL_RUN_STATES)
    assert run["state"] == "running", [(s["id"], s["state"], s.get("error")) for s in run["steps"]]
    events = (await api.get(f"/runs/{run_id}/events", params={"after": 0})).json()["items"]
    gate = next(e for e in events if e["type"] == "step.awaiting_approval")
    message = gate["data"]["message"]
    assert message == "Release 5 package(s) and push them to origin? " + "; ".join(
        f"{tag.rsplit('@', 1)[0]} {tag.rsplit('@', 1)[1]} (tag {tag})" for tag in RELEASED)
    plan = gate["data"]["plan"]
    assert [p["target"] for p in plan] == ["origin refs/heads/main", *[f"origin refs/tags/{t}" for t in RELEASED]]
    published = plan[0]["diff"]  # the release commit and its diff: every package's version and changelog
    for changelog in ("py/core", "py/utils", "py/api", "js/ui-kit", "js/web"):
        assert f"+++ b/{changelog}/CHANGELOG.md" in published, published
    assert "+## [1.3.0] - " in published and "pay by card (#12)" in published
    assert '-    "@shop/ui-kit": "^0.9.0",\n+    "@shop/ui-kit": "^0.9.1",' in published
    assert repo.remote_git("tag", "--list", "*@1.3.0") == ""
    assert sorted(git(repo.env, repo.work, "tag", "--list").split()) == sorted(TAGS + RELEASED)

    own = await api.post(f"/runs/{run_id}/steps/approve/approve", json={"plan_digest": gate["data"]["plan_digest"]})
    assert own.status_code == 403, own.text  # whoever started the release does not approve it
    approved = await approve_shown_plan(approver, run_id)
    assert approved.status_code in (200, 202), approved.text
    run = await wait(api, run_id, lambda r: r["state"] in TERMINAL_RUN_STATES)
    assert run["state"] == "succeeded", [(s["id"], s["state"], s.get("error")) for s in run["steps"]]
    assert steps_of(run)["push"]["outputs"]["pushed"] == ["refs/heads/main", *[f"refs/tags/{t}" for t in RELEASED]]

    head = git(repo.env, repo.work, "rev-parse", "HEAD")
    assert repo.remote_git("rev-parse", "refs/heads/main") == head
    for tag in RELEASED:
        assert repo.remote_git("rev-parse", f"refs/tags/{tag}^{{commit}}") == head
    assert repo.remote_git("log", "-1", "--format=%s", "main") == (
        "chore(release): " + ", ".join(RELEASED))
    web = json.loads(repo.remote_git("show", "main:js/web/package.json"))
    assert web["version"] == "1.0.1" and web["dependencies"]["@shop/ui-kit"] == "^0.9.1"
    assert web["peerDependencies"]["@shop/ui-kit"] == "~0.9.1"
    assert '"shop-core>=1.3.0",  # in the repo' in repo.remote_git("show", "main:py/utils/pyproject.toml")

    # released: the same template again finds nothing to release and changes nothing
    again = await wait(api, await start(api, "shop-monorepo", "shop"), lambda r: r["state"] in TERMINAL_RUN_STATES)
    assert again["state"] == "succeeded", [(s["id"], s["state"], s.get("error")) for s in again["steps"]]
    assert steps_of(again)["packages"]["outputs"]["release"] == []
    assert steps_of(again)["push"]["state"] == "skipped"


@pytest.mark.parametrize(
    ("file", "text", "kind", "error"),
    [
        ("py/core/pyproject.toml", '[project]\nname = "shop-core"\nversion = "1.2.0"\ndependencies = ["shop-api"]\n',
         "config", "dependency cycle: shop-api → shop-core → shop-api"),
        ("js/ui-kit/package.json", '{"name": "--upload-pack=touch /tmp/pwned", "version": "0.9.0"}\n',
         "denied", "js/ui-kit/package.json: package name '--upload-pack=touch /tmp/pwned' starts with '-' "
         "(it would be read as an option)"),
    ],
    ids=["cycle", "option-like-name"],
)
async def test_a_cycle_or_a_hostile_package_name_fails_the_release_before_anything_changes(
    platform: Platform, root: Path, api, file: str, text: str, kind: str, error: str
) -> None:
    name = f"bad-{kind}"
    repo = Monorepo(platform.workspace, root, name)
    (repo.work / file).write_text(text)
    git(repo.env, repo.work, "commit", "--quiet", "-am", "chore: break it")
    await template(api, f"{name}-release")
    before = snapshot(repo.work, repo.env), snapshot(repo.remote, repo.env)
    run_id = await start(api, f"{name}-release", name)
    run = await wait(api, run_id, lambda r: r["state"] in TERMINAL_RUN_STATES)
    assert run["state"] == "failed"
    assert {s["id"]: s["state"] for s in run["steps"] if not s.get("parent")} == {
        "branch": "succeeded", "packages": "failed", "analyze": "skipped", "bump": "skipped",
        "changelog": "skipped", "ranges": "skipped", "commit": "skipped", "tag": "skipped", "approve": "skipped",
        "push": "skipped"}
    events = (await api.get(f"/runs/{run_id}/events", params={"after": 0})).json()["items"]
    failed = next(e["data"] for e in events if e["type"] == "step.failed" and e["step_id"] == "packages")
    assert (failed["kind"], failed["error"]) == (kind, error)
    assert (snapshot(repo.work, repo.env), snapshot(repo.remote, repo.env)) == before


async def test_a_push_the_remote_refuses_unwinds_every_package_tag_and_the_commit(
        platform: Platform, root: Path, api, approver) -> None:
    repo = Monorepo(platform.workspace, root, "refused")
    # Someone else pushed meanwhile: the remote refuses our branch (never forced) and, the push being
    # atomic, every tag with it.
    repo.push_elsewhere(root)
    await template(api, "refused-monorepo")
    head_before = git(repo.env, repo.work, "rev-parse", "HEAD")
    remote_before = snapshot(repo.remote, repo.env)

    run_id = await start(api, "refused-monorepo", "refused")
    run = await wait(api, run_id, lambda r: steps_of(r)["approve"]["state"] == "awaiting_approval"
                     or r["state"] in TERMINAL_RUN_STATES)
    assert run["state"] == "running", [(s["id"], s["state"], s.get("error")) for s in run["steps"]]
    assert sorted(git(repo.env, repo.work, "tag", "--list").split()) == sorted(TAGS + RELEASED)
    would_undo = steps_of(run)["approve"]["outputs"]["would_undo"]
    assert would_undo == [*({"step": f"tag[{i}]", "uses": "git/delete-tag"} for i in reversed(range(5))),
                          {"step": "commit", "uses": "git/reset-to"}]
    approved = await approve_shown_plan(approver, run_id)
    assert approved.status_code in (200, 202), approved.text
    run = await wait(api, run_id, lambda r: r["state"] in TERMINAL_RUN_STATES, timeout=90)

    assert run["state"] == "failed" and run["compensated"] is True, [
        (s["id"], s["state"], s.get("error")) for s in run["steps"]]
    steps = steps_of(run)
    assert steps["push"]["state"] == "failed" and "origin refused refs/heads/main" in steps["push"]["error"]
    assert [(s["state"], s["compensation"]) for s in instances(run, "tag")] == [("compensated", "compensated")] * 5
    assert steps["tag"]["state"] == "compensated" and steps["commit"]["state"] == "compensated"
    events = (await api.get(f"/runs/{run_id}/events", params={"after": 0})).json()["items"]
    undone = [e["step_id"] for e in events if e["type"] == "step.compensated"]
    assert undone == [f"tag[{i}]" for i in reversed(range(5))] + ["tag", "commit"]  # newest first
    deleted = [e["data"]["outputs"] for e in events if e["type"] == "step.compensated" and e["step_id"] != "tag"]
    assert deleted[:5] == [{"deleted_local": True, "deleted_remote": False}] * 5
    # every package tag is gone here, the release commit too; the remote never changed
    assert sorted(git(repo.env, repo.work, "tag", "--list").split()) == sorted(TAGS)
    assert git(repo.env, repo.work, "rev-parse", "HEAD") == head_before
    assert snapshot(repo.remote, repo.env) == remote_before
