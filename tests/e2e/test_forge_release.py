"""A release from commits end to end through the gateway: feat + fix since v0.4.1 → 0.5.0, a signed tag,
the remote updated and one release on a loopback GitHub whose every exchange is checked against GitHub's
OpenAPI description.

Every service is a real OS process; the secrets (the forge token, the SSH signing key) reach the engine
as `VWMP_SECRET_*` variables, as an operator would give them.
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
from vwmp_testkit.forge import FakeForge
from vwmp_testkit.github_openapi import load_github_openapi
from vwmp_testkit.signing import SigningKey, ssh_key, verify

from .conftest import approve_shown_plan, platform_env, running
from .release_repo import Sample, git, git_env

pytestmark = pytest.mark.e2e

TEMPLATE = "python-release-from-commits"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("forge-release")


@pytest.fixture(scope="module")
def key(root: Path) -> SigningKey:
    return ssh_key(root / "keys")


@pytest.fixture(scope="module")
def forge() -> Iterator[FakeForge]:
    with FakeForge("github", token="ghp_e2eForgeToken0123456789", openapi=load_github_openapi()) as server:
        yield server


@pytest.fixture(scope="module")
def platform(root: Path, key: SigningKey, forge: FakeForge) -> Iterator[Platform]:
    git_vars = git_env(root)
    env = platform_env(root, VWMP_SECRET_FORGE_TOKEN=forge.token, VWMP_SECRET_RELEASE_SIGNING_KEY=key.private,
                       **{k: git_vars[k] for k in ("GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM")})  # fmt: skip
    with running(Platform(env=env)) as platform:
        yield platform


def sample(platform: Platform, root: Path, name: str) -> Sample:
    """The sample project tagged v0.4.1, then a feature and a fix, all on the remote."""
    repo = Sample(platform.workspace, root, name)
    git(repo.env, repo.work, "tag", "--annotate", "-m", "Release 0.4.1", "v0.4.1")
    for path, message in (("src/shop/cart.py", "feat(cart): pay by card (#12)"),
                          ("src/shop/totals.py", "fix: rounding of totals\n\nCloses #9")):  # fmt: skip
        (repo.work / path).write_text(f"# {message}\n")
        git(repo.env, repo.work, "add", "--all")
        git(repo.env, repo.work, "commit", "--quiet", "-m", message)
    git(repo.env, repo.work, "push", "--quiet", "origin", "main", "v0.4.1")
    return repo


async def workflow(api: httpx.AsyncClient, name: str) -> None:
    templates = (await api.get("/templates")).json()["items"]
    definition = json.loads(json.dumps(next(t for t in templates if t["name"] == TEMPLATE)["definition"]))
    definition["metadata"]["name"] = name
    created = await api.post("/workflows", json=definition)
    assert created.status_code == 201, created.text


async def start(api: httpx.AsyncClient, name: str, params: dict[str, Any], dry_run: bool = False) -> str:
    started = await api.post(f"/workflows/{name}/runs", json={"parameters": params, "dry_run": dry_run})
    assert started.status_code == 201, started.text
    return str(started.json()["id"])


async def until(api: httpx.AsyncClient, run_id: str, done: Any, timeout: float = 60) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while not done(run := (await api.get(f"/runs/{run_id}")).json()):
            await asyncio.sleep(0.1)
    return dict(run)


def steps_of(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {step["id"]: step for step in run["steps"]}


def params(forge: FakeForge, repo: str) -> dict[str, Any]:
    return {"repo": repo, "provider": "github", "api_url": forge.api_url, "repository": f"acme/{repo}",
            "sign": "ssh"}  # fmt: skip


async def test_a_dry_run_shows_version_notes_signed_tag_and_forge_request_and_changes_nothing(
    platform: Platform, root: Path, api: httpx.AsyncClient, forge: FakeForge
) -> None:
    repo = sample(platform, root, "shop-dry")
    await workflow(api, "shop-dry-from-commits")
    before, writes = repo.state(), len(forge.writes())
    run_id = await start(api, "shop-dry-from-commits", params(forge, "shop-dry"), dry_run=True)
    run = await until(api, run_id, lambda r: r["state"] in TERMINAL_RUN_STATES)
    assert run["state"] == "succeeded", run
    assert repo.state() == before and len(forge.writes()) == writes
    steps = steps_of(run)
    assert steps["analyze"]["outputs"]["next_version"] == "0.5.0"
    assert "### Features" in steps["analyze"]["outputs"]["notes"]
    assert "+version = \"0.5.0\"" in steps["bump"]["outputs"]["plan"][0]["diff"]
    assert "+### Features" in steps["changelog"]["outputs"]["plan"][0]["diff"]
    tag_plan = steps["tag"]["outputs"]["plan"][0]
    assert tag_plan["action"] == "create tag" and "signed (ssh, key SHA256:" in tag_plan["diff"]
    request = steps["publish"]["outputs"]["plan"][-1]
    assert request["action"] == "create release"
    assert request["target"] == f"POST {forge.api_url}/repos/acme/shop-dry/releases"
    assert "Authorization: ***" in request["diff"] and "pay by card" in request["diff"]
    assert forge.token not in json.dumps(run)
    assert forge.problems == []


async def test_feat_and_fix_since_0_4_1_release_0_5_0_signed_pushed_and_on_the_forge_once(
    platform: Platform, root: Path, api: httpx.AsyncClient, approver: httpx.AsyncClient, forge: FakeForge,
    key: SigningKey,
) -> None:
    repo = sample(platform, root, "shop")
    await workflow(api, "shop-from-commits")
    run_id = await start(api, "shop-from-commits", params(forge, "shop"))

    run = await until(api, run_id, lambda r: steps_of(r)["approve"]["state"] == "awaiting_approval"
                      or r["state"] in TERMINAL_RUN_STATES)  # fmt: skip
    gate = steps_of(run)["approve"]["outputs"]
    shown = {(item["step"], item["action"]) for item in gate["plan"]}
    assert {("push", "push"), ("publish", "create release")} <= shown, gate["plan"]
    forge_request = next(item for item in gate["plan"] if item["action"] == "create release")
    assert "\"tag_name\": \"v0.5.0\"" in forge_request["diff"] and "### Bug fixes" in forge_request["diff"]
    assert forge.token not in json.dumps(gate)
    assert forge.releases == [] and repo.remote_git("tag", "--list") == "v0.4.1"

    approved = await approve_shown_plan(approver, run_id, comment="ship it")
    assert approved.status_code == 200, approved.text
    run = await until(api, run_id, lambda r: r["state"] in TERMINAL_RUN_STATES)
    assert run["state"] == "succeeded", run
    steps = steps_of(run)
    notes = steps["analyze"]["outputs"]["notes"]
    assert notes.startswith("### Features\n\n- **cart:** pay by card (#12) (")
    assert "\n### Bug fixes\n\n- rounding of totals (" in notes and "(#9)" in notes

    head = git(repo.env, repo.work, "rev-parse", "HEAD")
    assert repo.remote_git("rev-parse", "refs/heads/main") == head
    assert repo.remote_git("rev-parse", "v0.5.0^{commit}") == head
    verify(repo.remote, key, "tag", "v0.5.0")
    assert 'version = "0.5.0"' in repo.remote_git("show", "v0.5.0:pyproject.toml")
    assert "pay by card" in repo.remote_git("show", "v0.5.0:CHANGELOG.md")
    assert len(forge.releases) == 1
    release = forge.releases[0]
    assert (release["tag_name"], release["name"], release["body"]) == ("v0.5.0", "0.5.0", notes)
    assert steps["publish"]["outputs"]["action"] == "created"
    assert forge.problems == []

    # run again after success: nothing is releasable since v0.5.0, nothing changes, no second release
    before, writes = repo.state(), len(forge.writes())
    again = await until(api, await start(api, "shop-from-commits", params(forge, "shop")),
                        lambda r: r["state"] in TERMINAL_RUN_STATES)  # fmt: skip
    assert again["state"] == "succeeded", again
    second = steps_of(again)
    assert second["analyze"]["outputs"]["part"] == "none"
    assert all(second[s]["state"] == "skipped" for s in ("bump", "tag", "push", "publish")), second
    assert repo.state() == before and len(forge.writes()) == writes and len(forge.releases) == 1
