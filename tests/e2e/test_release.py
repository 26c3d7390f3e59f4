"""The release workflow end to end through the gateway: 0.4.1 → 0.5.0 of a real git repository.

Every service is a real OS process; the test only speaks REST and the WebSocket, like the designer
and the CLI. The sample repository lives in the platform's workspace and pushes to a bare remote
outside it, as a real server would.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from vwmp_cli.up import Platform
from vwmp_common.states import RUN_END_EVENTS, TERMINAL_RUN_STATES
from websockets.typing import Subprotocol

from .conftest import approve_shown_plan, platform_env, running
from .release_repo import Sample, git, git_env

pytestmark = pytest.mark.e2e


# ----- the platform and the API -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("release")


@pytest.fixture(scope="module")
def platform(root: Path) -> Iterator[Platform]:
    git = git_env(root)
    env = platform_env(root, **{k: git[k] for k in ("GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM")})
    with running(Platform(env=env)) as platform:
        yield platform



async def python_release(api: httpx.AsyncClient, name: str) -> dict[str, Any]:
    """The `python-release` template from `GET /templates`, renamed to `name` (saved by `create`)."""
    templates = await api.get("/templates")
    assert templates.status_code == 200, templates.text
    template = next(t for t in templates.json()["items"] if t["name"] == "python-release")
    definition = json.loads(json.dumps(template["definition"]))
    definition["metadata"]["name"] = name
    return definition


async def create(api: httpx.AsyncClient, definition: dict[str, Any]) -> None:
    created = await api.post("/workflows", json=definition)
    assert created.status_code == 201, created.text


async def start(api: httpx.AsyncClient, workflow: str, parameters: dict[str, Any], dry_run: bool = False) -> str:
    started = await api.post(f"/workflows/{workflow}/runs", json={"parameters": parameters, "dry_run": dry_run})
    assert started.status_code == 201, started.text
    return str(started.json()["id"])


async def finish(api: httpx.AsyncClient, run_id: str, timeout: float = 30) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while (run := (await api.get(f"/runs/{run_id}")).json())["state"] not in TERMINAL_RUN_STATES:
            await asyncio.sleep(0.1)
    return run


def steps_of(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {step["id"]: step for step in run["steps"]}


async def failure(api: httpx.AsyncClient, run_id: str, step_id: str) -> dict[str, Any]:
    """The `step.failed` event's data of a step: `{"error", "kind"}` (the run's step only has the message)."""
    events = (await api.get(f"/runs/{run_id}/events", params={"after": 0})).json()["items"]
    failed = [e["data"] for e in events if e["type"] == "step.failed" and e["step_id"] == step_id]
    assert len(failed) == 1, events
    return dict(failed[0])


# ----- the happy paths ----------------------------------------------------------------------------------


async def test_a_dry_run_shows_every_diff_and_changes_nothing(platform: Platform, root: Path, api) -> None:
    sample = Sample(platform.workspace, root, "shop-dry")
    await create(api, await python_release(api, "shop-dry-release"))
    before = sample.state()

    run = await finish(api, await start(api, "shop-dry-release", {"repo": "shop-dry", "part": "minor"}, True))

    assert run["state"] == "succeeded", run
    assert sample.state() == before
    steps = steps_of(run)
    assert all(s["state"] == "succeeded" for s in steps.values()), steps
    assert steps["bump"]["outputs"]["previous_version"] == "0.4.1"
    assert steps["bump"]["outputs"]["version"] == "0.5.0"
    bump_diffs = {item["target"]: item["diff"] for item in steps["bump"]["outputs"]["plan"]}
    assert set(bump_diffs) == {"pyproject.toml", "src/shop/__init__.py"}
    assert "--- a/pyproject.toml" in bump_diffs["pyproject.toml"]
    assert '-version = "0.4.1"  # bumped by VWMP' in bump_diffs["pyproject.toml"]
    assert '+version = "0.5.0"  # bumped by VWMP' in bump_diffs["pyproject.toml"]
    assert '+__version__ = "0.5.0"' in bump_diffs["src/shop/__init__.py"]
    changelog = steps["changelog"]["outputs"]["plan"][0]
    assert changelog["action"] == "update file" and changelog["target"] == "CHANGELOG.md"
    assert re.search(r"^\+## \[0\.5\.0\] - \d{4}-\d{2}-\d{2}$", changelog["diff"], re.M), changelog["diff"]
    assert "+[0.5.0]: https://git.example.com/acme/shop/compare/v0.4.1...v0.5.0" in changelog["diff"]
    assert {p["target"] for p in steps["kb"]["outputs"]["plan"]} == {"kb/releases/0.5.0.md", "kb/index.md"}
    assert steps["kanban"]["outputs"]["moved"] == ["KAN-7"]
    assert "released_in: 0.5.0" in steps["kanban"]["outputs"]["plan"][0]["diff"]
    assert [(p["action"], p["target"]) for p in steps["tag"]["outputs"]["plan"]] == [("create tag", "v0.5.0")]
    assert [p["target"] for p in steps["push"]["outputs"]["plan"]] == ["origin refs/heads/main",
                                                                       "origin refs/tags/v0.5.0"]
    assert steps["approve"]["outputs"]["approved_by"] == "dry-run"


async def test_a_dry_run_is_exact_real_commits_in_a_scratch_copy_then_the_same_tree_for_real(
    platform: Platform, root: Path, api, approver
) -> None:
    sample = Sample(platform.workspace, root, "shop-exact")
    await create(api, await python_release(api, "shop-exact-release"))
    before = sample.state()
    dry_id = await start(api, "shop-exact-release", {"repo": "shop-exact", "part": "minor"}, True)
    dry = await finish(api, dry_id)
    assert dry["state"] == "succeeded", dry
    assert sample.state() == before  # the workspace's repository and the remote: untouched

    steps = steps_of(dry)
    sha = steps["commit"]["outputs"]["sha"]
    assert re.fullmatch(r"[0-9a-f]{40}", sha) and sha != git(sample.env, sample.work, "rev-parse", "HEAD")
    commit_plan = steps["commit"]["outputs"]["plan"][0]["diff"]
    tree = re.search(r"^commit [0-9a-f]{40} \(tree ([0-9a-f]{40})\)$", commit_plan, re.M)
    assert tree, steps["commit"]["outputs"]["plan"]
    assert steps["tag"]["outputs"]["sha"] == sha  # the tag's real target, not "HEAD at the time"
    assert "refs/heads/main -> origin" in steps["push"]["outputs"]["plan"][0]["diff"]
    assert sha in steps["push"]["outputs"]["plan"][0]["diff"]
    scratch = platform.workspace / ".vwmp" / "scratch" / dry_id
    async with asyncio.timeout(15):  # the hosts discard the run's copy once it ended
        while scratch.exists():
            await asyncio.sleep(0.1)

    real_id = await start(api, "shop-exact-release", {"repo": "shop-exact", "part": "minor"})
    async with asyncio.timeout(40):
        while steps_of((await api.get(f"/runs/{real_id}")).json())["approve"]["state"] != "awaiting_approval":
            await asyncio.sleep(0.1)
    assert (await approve_shown_plan(approver, real_id)).status_code in (200, 202)
    real = await finish(api, real_id, timeout=40)
    assert real["state"] == "succeeded", real
    # What the dry run committed is what the real run committed and pushed: the same tree, the same files.
    assert sample.remote_git("rev-parse", "v0.5.0^{tree}") == tree.group(1)


async def test_a_dry_run_fails_where_the_real_run_would_with_the_same_error(
    platform: Platform, root: Path, api
) -> None:
    sample = Sample(platform.workspace, root, "shop-taken")
    git(sample.env, sample.work, "tag", "v0.5.0")  # the release's tag exists already, at the current commit
    await create(api, await python_release(api, "shop-taken-release"))
    before = sample.state()
    dry_id = await start(api, "shop-taken-release", {"repo": "shop-taken", "part": "minor"}, True)
    dry = await finish(api, dry_id)
    assert dry["state"] == "failed", dry
    assert steps_of(dry)["tag"]["state"] == "failed"
    dry_failure = await failure(api, dry_id, "tag")
    assert sample.state() == before
    real_id = await start(api, "shop-taken-release", {"repo": "shop-taken", "part": "minor"})
    real = await finish(api, real_id)
    assert real["state"] == "failed" and steps_of(real)["tag"]["state"] == "failed", real
    real_failure = await failure(api, real_id, "tag")
    # The commit differs (each run makes its own), so compare the message up to the shas.
    pattern = re.compile(r"[0-9a-f]{12}")
    assert pattern.sub("<sha>", dry_failure["error"]) == pattern.sub("<sha>", real_failure["error"])
    assert dry_failure["kind"] == real_failure["kind"] == "config"
    assert "tag 'v0.5.0' already exists at" in dry_failure["error"]


async def test_a_plugin_host_that_starts_again_is_told_to_discard_what_crashed_dry_runs_left(
    platform: Platform, api
) -> None:
    base = platform.workspace / ".vwmp" / "scratch"
    crashed, young = base / "run-of-a-crashed-engine", base / "run-started-a-moment-ago"
    for folder in (crashed, young):
        (folder / "shop").mkdir(parents=True)
    old = time.time() - 3600
    os.utime(crashed, (old, old))
    platform.restart("plugin-host")  # a new host process: the engine greets it and it sweeps
    async with asyncio.timeout(30):
        while crashed.exists():
            await asyncio.sleep(0.2)
    assert young.exists()  # too young to tell from a dry run that started after the live ones were listed
    async with asyncio.timeout(30):  # the platform is whole again for the tests after this one
        while not any(t["type"] == "git/tag" for t in (await api.get("/step-types")).json()["items"]):
            await asyncio.sleep(0.2)


async def test_a_release_waits_for_approval_then_pushes_tag_and_commit(
    platform: Platform, root: Path, api, approver, token: str
) -> None:
    sample = Sample(platform.workspace, root, "shop")
    await create(api, await python_release(api, "shop-release"))
    run_id = await start(api, "shop-release", {"repo": "shop", "part": "minor"})
    ws_url = platform.url.replace("http", "ws", 1) + f"/api/v1/runs/{run_id}/stream?after=0"
    events: list[dict[str, Any]] = []
    protocols = [Subprotocol("vwmp.v1"), Subprotocol(f"bearer.{token}")]  # how the designer authenticates
    async with websockets.connect(ws_url, subprotocols=protocols) as socket:
        async with asyncio.timeout(40):
            while not events or events[-1]["type"] != "step.awaiting_approval":
                events.append(json.loads(await socket.recv()))
                assert events[-1]["type"] not in {"run.failed", "run.cancelled"}, events[-1]

            # the gate holds: its plan names what the push will do, nothing has left the machine yet
            gate = events[-1]
            assert gate["step_id"] == "approve"
            assert gate["data"]["message"] == "Push v0.5.0 to origin?"
            plan = gate["data"]["plan"]
            assert [(p["step"], p["action"], p["target"]) for p in plan] == [
                ("push", "push", "origin refs/heads/main"), ("push", "push", "origin refs/tags/v0.5.0")]
            published = plan[0]["diff"]  # the approver sees the release commit and its diff before the push
            assert "Release 0.5.0" in published
            assert '-version = "0.4.1"  # bumped by VWMP\n+version = "0.5.0"  # bumped by VWMP' in published
            assert re.search(r"^\+## \[0\.5\.0\] - \d{4}-\d{2}-\d{2}$", published, re.M), published
            assert "+++ b/kb/releases/0.5.0.md" in published and "+        released_in: 0.5.0" in published
            waiting = await api.get(f"/runs/{run_id}")
            assert waiting.json()["state"] == "running"
            assert steps_of(waiting.json())["approve"]["state"] == "awaiting_approval"
            assert steps_of(waiting.json())["approve"]["outputs"]["plan"] == plan
            assert steps_of(waiting.json())["push"]["state"] == "pending"
            assert sample.remote_git("tag", "--list") == ""
            assert sample.remote_git("rev-parse", "main") != git(sample.env, sample.work, "rev-parse", "HEAD")
            assert git(sample.env, sample.work, "tag", "--list") == "v0.5.0"

            assert gate["data"]["plan_digest"] == steps_of(waiting.json())["approve"]["outputs"]["plan_digest"]
            own = await api.post(f"/runs/{run_id}/steps/approve/approve",
                                 json={"plan_digest": gate["data"]["plan_digest"]})
            assert own.status_code == 403, own.text  # whoever started the release does not approve it
            approved = await approver.post(f"/runs/{run_id}/steps/approve/approve",
                                           json={"comment": "ship it", "plan_digest": gate["data"]["plan_digest"]})
            assert approved.status_code in (200, 202), approved.text
            while events[-1]["type"] not in RUN_END_EVENTS:
                events.append(json.loads(await socket.recv()))

    # the events arrived live, each exactly once and in order
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["type"] == "run.queued" and events[-1]["type"] == "run.succeeded"
    assert events.index(gate) < next(i for i, e in enumerate(events)
                                     if e["type"] == "step.started" and e["step_id"] == "push")
    assert [e["step_id"] for e in events if e["type"] == "step.succeeded"][-2:] == ["approve", "push"]

    run = await finish(api, run_id)
    assert run["state"] == "succeeded"
    steps = steps_of(run)
    assert steps["approve"]["outputs"]["comment"] == "ship it"
    assert steps["push"]["outputs"]["pushed"] == ["refs/heads/main", "refs/tags/v0.5.0"]

    head = git(sample.env, sample.work, "rev-parse", "HEAD")
    assert sample.remote_git("rev-parse", "refs/heads/main") == head == steps["commit"]["outputs"]["sha"]
    assert sample.remote_git("cat-file", "-t", "refs/tags/v0.5.0") == "tag"
    assert sample.remote_git("rev-parse", "v0.5.0^{commit}") == head
    assert sample.remote_git("log", "-1", "--format=%s", "v0.5.0") == "Release 0.5.0"
    assert sample.remote_git("rev-parse", "v0.5.0^{commit}~1") == sample.remote_git("rev-parse", "main~1")
    assert 'version = "0.5.0"  # bumped by VWMP' in sample.remote_git("show", "v0.5.0:pyproject.toml")
    assert '__version__ = "0.5.0"' in sample.remote_git("show", "v0.5.0:src/shop/__init__.py")
    changelog = sample.remote_git("show", "v0.5.0:CHANGELOG.md")
    heading = re.search(r"^## \[0\.5\.0\] - (\d{4}-\d{2}-\d{2})$", changelog, re.M)
    assert heading, changelog
    dt.date.fromisoformat(heading.group(1))
    assert changelog.index("## [Unreleased]") < heading.start()
    assert changelog[changelog.index("## [Unreleased]"):heading.start()].strip() == "## [Unreleased]"
    assert "KAN-7" in changelog[heading.end():changelog.index("## [0.4.1]")]
    assert "[unreleased]: https://git.example.com/acme/shop/compare/v0.5.0...HEAD" in changelog
    assert "[0.5.0]: https://git.example.com/acme/shop/compare/v0.4.1...v0.5.0" in changelog
    board = sample.remote_git("show", "v0.5.0:kanban.yaml")
    done, released = board.split("- name: Done")[1].split("- name: Released")
    assert "KAN-7" not in done and "KAN-8" in done
    assert "KAN-7" in released and "released_in: 0.5.0" in released
    page = sample.remote_git("show", "v0.5.0:kb/releases/0.5.0.md")
    assert page.startswith("# Release 0.5.0") and "KAN-7" in page
    assert "- [0.5.0](releases/0.5.0.md)" in sample.remote_git("show", "v0.5.0:kb/index.md")
    assert git(sample.env, sample.work, "status", "--porcelain") == ""


async def test_an_approval_of_a_plan_the_remote_has_moved_past_is_refused_and_the_new_plan_shown(
    platform: Platform, root: Path, api, approver
) -> None:
    sample = Sample(platform.workspace, root, "shop-moved")
    await create(api, await python_release(api, "moved-release"))
    run_id = await start(api, "moved-release", {"repo": "shop-moved", "part": "minor"})
    async with asyncio.timeout(40):
        while steps_of(run := (await api.get(f"/runs/{run_id}")).json())["approve"]["state"] != "awaiting_approval":
            assert run["state"] not in TERMINAL_RUN_STATES, run
            await asyncio.sleep(0.1)
    shown = steps_of(run)["approve"]["outputs"]  # the dry-run plan the approver reads
    before = sample.remote_git("rev-parse", "main")
    assert f"origin has refs/heads/main now: {before}" in shown["plan"][0]["diff"]

    # meanwhile a colleague pushes a commit to the remote
    other = root / "shop-moved-colleague"
    git(sample.env, root, "clone", "-q", str(sample.remote), str(other))
    git(sample.env, other, "commit", "-q", "--allow-empty", "-m", "hotfix from a colleague")
    git(sample.env, other, "push", "-q", "origin", "HEAD:main")
    moved = sample.remote_git("rev-parse", "main")

    refused = await approver.post(f"/runs/{run_id}/steps/approve/approve",
                                  json={"comment": "ship it", "plan_digest": shown["plan_digest"]})
    assert refused.status_code == 409, refused.text
    problem = refused.json()
    assert refused.headers["content-type"] == "application/problem+json"
    assert problem["type"].endswith("/plan-changed") and problem["plan_digest"] != shown["plan_digest"]
    assert f"origin has refs/heads/main now: {moved}" in problem["plan"][0]["diff"]
    gate = steps_of((await api.get(f"/runs/{run_id}")).json())["approve"]
    assert gate["state"] == "awaiting_approval"
    assert (gate["outputs"]["plan_digest"], gate["outputs"]["plan"]) == (problem["plan_digest"], problem["plan"])
    events = (await api.get(f"/runs/{run_id}/events", params={"after": 0})).json()["items"]
    announced = [e for e in events if e["type"] == "step.awaiting_approval"]
    assert len(announced) == 2 and announced[-1]["data"]["plan_digest"] == problem["plan_digest"]
    assert sample.remote_git("tag", "--list") == ""  # nothing was pushed

    # approving the plan now shown goes ahead; the remote refuses the push, as it would a person's
    approved = await approve_shown_plan(approver, run_id, comment="pushing over it, deliberately")
    assert approved.status_code == 200, approved.text
    run = await finish(api, run_id)
    assert run["state"] == "failed"
    push = steps_of(run)["push"]
    # the push is atomic: the branch was refused, so the tag stayed home too
    assert push["state"] == "failed" and push["error"] == (
        "git push failed: origin refused refs/heads/main [rejected] (fetch first) (the remote has commits this "
        "repository does not; pushes are never forced); nothing was pushed (atomic push), held back: "
        "refs/tags/v0.5.0"), push
    assert sample.remote_git("rev-parse", "main") == moved  # never forced: the colleague's commit stays
    assert sample.remote_git("tag", "--list") == ""
    # the template's compensations unwound the release here: the tag deleted, the branch back before the commit
    assert run["compensated"] is True, run
    assert (steps_of(run)["tag"]["state"], steps_of(run)["commit"]["state"]) == ("compensated", "compensated")
    assert git(sample.env, sample.work, "tag", "--list") == ""


# ----- the hostile cases --------------------------------------------------------------------------------


async def test_a_repo_outside_the_workspace_is_denied_and_nothing_changes(
    platform: Platform, root: Path, api
) -> None:
    sample = Sample(platform.workspace, root, "shop-escape")
    outside = root / "outside"  # = <workspace>/../outside: a real repository a release must never reach
    outside_sample = Sample(root, root, "outside")
    assert platform.workspace.parent == root and outside_sample.work == outside
    await create(api, await python_release(api, "escape-release"))
    before = (sample.state(), outside_sample.state())

    run_id = await start(api, "escape-release", {"repo": "../outside", "part": "minor"})
    run = await finish(api, run_id)

    assert run["state"] == "failed"
    steps = steps_of(run)
    assert steps["branch"]["state"] == "failed"
    denied = await failure(api, run_id, "branch")
    assert denied["kind"] == "denied" and "../outside" in denied["error"], denied
    assert steps["branch"]["error"] == denied["error"]
    assert all(steps[s]["state"] != "succeeded" for s in steps if s != "branch"), steps
    assert (sample.state(), outside_sample.state()) == before


async def test_a_tag_name_starting_with_a_dash_fails_without_creating_anything(
    platform: Platform, root: Path, api
) -> None:
    sample = Sample(platform.workspace, root, "shop-dash")
    definition = {
        "apiVersion": "vwmp/v1", "kind": "Workflow",
        "metadata": {"name": "dash-tag", "type": "release", "description": "a hostile tag name"},
        "spec": {
            "parameters": {"type": "object", "required": ["repo"], "properties": {"repo": {"type": "string"}}},
            "steps": [
                {"id": "tag", "uses": "git/tag", "with": {"repo": "${{ params.repo }}", "name": "--delete"}},
                {"id": "push", "uses": "git/push", "needs": ["tag"],
                 "with": {"repo": "${{ params.repo }}", "tags": ["--delete"]}},
            ],
        },
    }
    await create(api, definition)
    before = sample.state()

    run_id = await start(api, "dash-tag", {"repo": "shop-dash"})
    run = await finish(api, run_id)

    assert run["state"] == "failed"
    steps = steps_of(run)
    assert steps["tag"]["state"] == "failed"
    denied = await failure(api, run_id, "tag")
    assert denied["kind"] == "denied" and "'--delete'" in denied["error"] and "'-'" in denied["error"], denied
    assert steps["push"]["state"] != "succeeded"
    assert sample.state() == before
    assert git(sample.env, sample.work, "tag", "--list") == "" and sample.remote_git("tag", "--list") == ""
