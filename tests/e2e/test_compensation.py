"""Compensation end to end through the gateway, on a real git repository with a bare remote that refuses
the push (it has moved on): the run bumps a file, commits, tags, then fails at the push, and its unwind
deletes the tag and resets the branch to the commit before, leaving the remote exactly as it was. The events reach the
gateway's WebSocket as they happen. Every service is a real OS process."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from vwmp_cli.up import Platform
from vwmp_common.states import TERMINAL_RUN_STATES

from .conftest import platform_env, running
from .release_repo import Sample, git, git_env, snapshot

pytestmark = pytest.mark.e2e

@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("compensation")


@pytest.fixture(scope="module")
def platform(root: Path) -> Iterator[Platform]:
    git_vars = git_env(root)
    env = platform_env(root, **{k: git_vars[k] for k in ("GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM")})
    with running(Platform(env=env)) as platform:
        yield platform


def definition(name: str, repo: str) -> dict[str, Any]:
    return {"apiVersion": "vwmp/v1", "kind": "Workflow", "metadata": {"name": name}, "spec": {"steps": [
        {"id": "bump", "uses": "release/version-bump", "with": {"repo": repo, "part": "minor"}},
        {"id": "commit", "uses": "git/commit", "needs": ["bump"],
         "with": {"repo": repo, "message": "release ${{ steps.bump.outputs.version }}",
                  "paths": "${{ steps.bump.outputs.files }}"},
         "compensate": {"uses": "git/reset-to", "with": {"repo": repo, "commit": "${{ steps.commit.outputs.sha }}"}}},
        {"id": "tag", "uses": "git/tag", "needs": ["commit"], "with": {"repo": repo, "name": "v0.5.0"},
         "compensate": {"uses": "git/delete-tag", "retry": {"max_attempts": 2, "initial_interval": "100ms"},
                        "with": {"repo": repo, "name": "${{ steps.tag.outputs.name }}",
                                 "sha": "${{ steps.tag.outputs.sha }}"}}},
        {"id": "push", "uses": "git/push", "needs": ["tag"], "with": {"repo": repo, "refs": ["main"],
                                                                     "tags": ["v0.5.0"]}},
    ]}}


async def test_a_push_the_remote_refuses_unwinds_the_tag_and_the_commit_and_leaves_the_remote_as_it_was(
        platform: Platform, root: Path) -> None:
    repo = Sample(platform.workspace, root, "shop")
    # Someone else pushed meanwhile: the remote refuses our branch (never forced) and, the push being
    # atomic, the tag with it. (A remote's own hooks would not do: git steps run a local remote's
    # receive-pack with hooks off, see docs/security.md.)
    elsewhere = root / "elsewhere"
    git(repo.env, root, "clone", "--quiet", str(repo.remote), str(elsewhere))
    (elsewhere / "NOTICE").write_text("pushed by someone else\n")
    git(repo.env, elsewhere, "add", "NOTICE")
    git(repo.env, elsewhere, "commit", "--quiet", "-m", "elsewhere")
    git(repo.env, elsewhere, "push", "--quiet", "origin", "main")
    before_head = git(repo.env, repo.work, "rev-parse", "HEAD")
    remote_before = snapshot(repo.remote, repo.env)
    token = platform.admin_token_file.read_text().strip()
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=f"{platform.url}/api/v1", timeout=30, headers=headers) as api:
        created = await api.post("/workflows", json=definition("shop-release", "shop"))
        assert created.status_code == 201, created.text
        started = await api.post("/workflows/shop-release/runs", json={"parameters": {}})
        assert started.status_code == 201, started.text
        run_id = started.json()["id"]
        seen: list[str] = []
        ws_url = platform.url.replace("http", "ws", 1) + f"/api/v1/runs/{run_id}/stream?after=0"
        async with websockets.connect(ws_url, additional_headers=headers) as stream:
            async with asyncio.timeout(60):
                while not seen or not seen[-1].startswith(("run.failed", "run.succeeded", "run.cancelled")):
                    seen.append(json.loads(await stream.recv())["type"])
        async with asyncio.timeout(30):
            while (run := (await api.get(f"/runs/{run_id}")).json())["state"] not in TERMINAL_RUN_STATES:
                await asyncio.sleep(0.1)
        events = (await api.get(f"/runs/{run_id}/events")).json()["items"]
    steps = {s["id"]: s for s in run["steps"]}
    assert run["state"] == "failed" and run["compensated"] is True, run
    assert steps["push"]["state"] == "failed" and "origin refused refs/heads/main" in steps["push"]["error"]
    assert (steps["tag"]["state"], steps["tag"]["compensation"]) == ("compensated", "compensated")
    assert (steps["commit"]["state"], steps["commit"]["compensation"]) == ("compensated", "compensated")
    assert steps["bump"]["state"] == "succeeded" and steps["bump"]["compensation"] is None  # nothing declared
    # the unwind, newest first: the tag, then the commit
    unwind = [(e["type"], e["step_id"]) for e in events if e["type"].startswith("step.compensat")]
    assert unwind == [("step.compensating", "tag"), ("step.compensated", "tag"),
                      ("step.compensating", "commit"), ("step.compensated", "commit")]
    assert next(e for e in events if e["type"] == "step.compensated" and e["step_id"] == "tag")["data"]["outputs"] \
        == {"deleted_local": True, "deleted_remote": False}
    assert events[-1]["type"] == "run.failed" and events[-1]["data"]["compensated"] is True
    assert seen.count("step.compensated") == 2 and "step.compensating" in seen  # live on the WebSocket
    # the repository is back where it was; the remote never changed
    assert git(repo.env, repo.work, "tag", "--list") == ""
    assert git(repo.env, repo.work, "rev-parse", "HEAD") == before_head
    assert snapshot(repo.remote, repo.env) == remote_before
