"""VWMP releases itself with its own `python-release` template, on a clone of this repository.

The clone of HEAD sits in the platform's workspace on `main` and pushes to a bare remote outside it,
as a real server would. The template comes from `GET /templates`; its one change is the bump step's
`files`: every package of the workspace and the designer, because the platform is released as one
version. A dry run first (it changes nothing), then the real run, stopped at the approval gate,
approved, pushed. The assertions are what a maintainer would check on the remote afterwards.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from vwmp_cli.up import Platform
from vwmp_common.states import TERMINAL_RUN_STATES
from vwmp_toolkit.changelog import Document
from vwmp_toolkit.semver import Version

from .conftest import approve_shown_plan, platform_env, running
from .release_repo import IDENTITY, git, git_env, snapshot

pytestmark = pytest.mark.e2e

SOURCE = Path(__file__).resolve().parents[2]


# ----- the clone and its remote -------------------------------------------------------------------------


class Clone:
    """This repository's HEAD, checked out as `main` in the workspace, pushed to a bare remote outside it."""

    def __init__(self, workspace: Path, root: Path, name: str) -> None:
        self.env = git_env(root)
        self.work = workspace / name
        self.remote = root / "remotes" / f"{name}.git"
        self.remote.parent.mkdir(exist_ok=True)
        self.head = git(self.env, SOURCE, "rev-parse", "HEAD")
        git(self.env, root, "init", "--quiet", "--bare", "--initial-branch=main", str(self.remote))
        git(self.env, workspace, "clone", "--quiet", "--no-checkout", str(SOURCE), name)
        self.git("checkout", "--quiet", "-B", "main", self.head)
        for branch in self.git("for-each-ref", "--format=%(refname:short)", "refs/heads").split():
            if branch != "main":
                self.git("branch", "--quiet", "-D", branch)
        self.git("config", "user.name", IDENTITY["GIT_AUTHOR_NAME"])
        self.git("config", "user.email", IDENTITY["GIT_AUTHOR_EMAIL"])
        self.git("remote", "set-url", "origin", str(self.remote))
        self.git("push", "--quiet", "-u", "origin", "main")
        self.git("fetch", "--quiet", "--prune", "origin")

    def git(self, *args: str) -> str:
        return git(self.env, self.work, *args)

    def remote_git(self, *args: str) -> str:
        return git(self.env, self.remote, *args)

    def state(self) -> tuple[dict[str, str], dict[str, str]]:
        return snapshot(self.work, self.env), snapshot(self.remote, self.env)

    def version_files(self) -> list[str]:
        """The root project, every workspace member and the designer: every place VWMP's version is kept."""
        root = tomllib.loads((self.work / "pyproject.toml").read_text())
        members = sorted(
            path.parent.relative_to(self.work).as_posix()
            for pattern in root["tool"]["uv"]["workspace"]["members"]
            for path in self.work.glob(f"{pattern}/pyproject.toml")
        )
        return ["pyproject.toml", *(f"{member}/pyproject.toml" for member in members), "frontend/package.json"]


def version_in(name: str, text: str) -> str:
    if name.endswith("package.json"):
        return str(json.loads(text)["version"])
    return str(tomllib.loads(text)["project"]["version"])


def unreleased_entries(changelog: str) -> str:
    doc = Document.parse(changelog)
    section = doc.section("Unreleased")
    assert section is not None, "CHANGELOG.md has no [Unreleased] section"
    return doc.body(section)


# ----- the platform and the API -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("self-release")


@pytest.fixture(scope="module")
def platform(root: Path) -> Iterator[Platform]:
    git = git_env(root)
    env = platform_env(root, **{k: git[k] for k in ("GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM")})
    with running(Platform(env=env)) as platform:
        yield platform


async def vwmp_release(api: httpx.AsyncClient, name: str, files: list[str]) -> None:
    """Create `name` from the `python-release` template with every package's version file in the bump."""
    templates = await api.get("/templates")
    assert templates.status_code == 200, templates.text
    definition = next(t for t in templates.json()["items"] if t["name"] == "python-release")["definition"]
    definition["metadata"]["name"] = name
    bump = next(step for step in definition["spec"]["steps"] if step["id"] == "bump")
    bump["with"]["files"] = files
    created = await api.post("/workflows", json=definition)
    assert created.status_code == 201, created.text


async def start(api: httpx.AsyncClient, workflow: str, parameters: dict[str, Any], dry_run: bool = False) -> str:
    started = await api.post(f"/workflows/{workflow}/runs", json={"parameters": parameters, "dry_run": dry_run})
    assert started.status_code == 201, started.text
    return str(started.json()["id"])


async def wait_for(
    api: httpx.AsyncClient, run_id: str, done: Callable[[dict[str, Any]], bool], timeout: float = 60
) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while not done(run := dict((await api.get(f"/runs/{run_id}")).json())):
            await asyncio.sleep(0.1)
    return run


def finished(run: dict[str, Any]) -> bool:
    return str(run["state"]) in TERMINAL_RUN_STATES


def at_the_gate(run: dict[str, Any]) -> bool:
    return finished(run) or bool(steps_of(run)["approve"]["state"] == "awaiting_approval")


def steps_of(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {step["id"]: step for step in run["steps"]}


# ----- the release --------------------------------------------------------------------------------------


async def test_vwmp_releases_itself_with_its_own_python_release_template(
    platform: Platform, root: Path, api: httpx.AsyncClient, approver: httpx.AsyncClient
) -> None:
    clone = Clone(platform.workspace, root, "vwmp")
    files = clone.version_files()
    tracked = set(clone.git("ls-files", "pyproject.toml", "*/pyproject.toml").split())
    assert tracked <= set(files), f"a pyproject.toml outside the workspace members: {tracked - set(files)}"
    current = {version_in(name, (clone.work / name).read_text()) for name in files}
    assert len(current) == 1, f"the packages are not released as one version: {current}"
    previous = current.pop()
    version = str(Version.parse(previous).bump("minor", "rc"))
    tag = f"v{version}"
    entries = unreleased_entries((clone.work / "CHANGELOG.md").read_text())
    await vwmp_release(api, "vwmp-release", files)
    parameters = {"repo": "vwmp", "part": "minor"}

    # the dry run: every change as a plan, nothing changed
    before = clone.state()
    dry = await wait_for(api, await start(api, "vwmp-release", parameters, dry_run=True), finished)

    assert dry["state"] == "succeeded", dry
    assert clone.state() == before
    steps = steps_of(dry)
    assert steps["bump"]["outputs"]["previous_version"] == previous
    assert steps["bump"]["outputs"]["version"] == version
    bump_plan = {item["target"]: item["diff"] for item in steps["bump"]["outputs"]["plan"]}
    assert sorted(bump_plan) == sorted(files)
    for name, diff in bump_plan.items():
        assert f"+++ b/{name}" in diff and f'"{previous}"' in diff and f'"{version}"' in diff, (name, diff)
    today = dt.datetime.now(dt.UTC).date().isoformat()
    changelog_plan = steps["changelog"]["outputs"]["plan"]
    assert [p["target"] for p in changelog_plan] == ["CHANGELOG.md"]
    assert f"+## [{version}] - {today}" in changelog_plan[0]["diff"]
    assert [(p["action"], p["target"]) for p in steps["tag"]["outputs"]["plan"]] == [("create tag", tag)]
    assert [p["target"] for p in steps["push"]["outputs"]["plan"]] == ["origin refs/heads/main",
                                                                       f"origin refs/tags/{tag}"]

    # the real run: committed and tagged locally, then held at the gate until a person approves
    run_id = await start(api, "vwmp-release", parameters)
    gate = await wait_for(api, run_id, at_the_gate)

    assert gate["state"] == "running", gate
    assert steps_of(gate)["push"]["state"] == "pending"
    plan = steps_of(gate)["approve"]["outputs"]["plan"]
    assert [(p["step"], p["target"]) for p in plan] == [("push", "origin refs/heads/main"),
                                                       ("push", f"origin refs/tags/{tag}")]
    assert f"Release {version}" in plan[0]["diff"]
    assert clone.remote_git("tag", "--list") == ""
    assert clone.remote_git("rev-parse", "refs/heads/main") == clone.head

    approved = await approve_shown_plan(approver, run_id, comment="ship it")  # a second maintainer approves
    assert approved.status_code in (200, 202), approved.text
    run = await wait_for(api, run_id, finished)

    assert run["state"] == "succeeded", run
    steps = steps_of(run)
    assert steps["bump"]["outputs"]["files"] == files
    assert steps["push"]["outputs"]["pushed"] == ["refs/heads/main", f"refs/tags/{tag}"]

    # on the remote: one release commit on top of HEAD, an annotated tag on it
    release = clone.remote_git("rev-parse", "refs/heads/main")
    assert release == steps["commit"]["outputs"]["sha"] == clone.git("rev-parse", "HEAD")
    assert clone.remote_git("rev-parse", f"{release}~1") == clone.head
    assert clone.remote_git("log", "-1", "--format=%s", release) == f"Release {version}"
    assert clone.remote_git("cat-file", "-t", f"refs/tags/{tag}") == "tag"
    assert clone.remote_git("rev-parse", f"{tag}^{{commit}}") == release
    changed = set(clone.remote_git("diff", "--name-only", clone.head, release).split())
    assert changed == {*files, "CHANGELOG.md", "kb/index.md", f"kb/releases/{version}.md"}

    # every package moved in lockstep
    for name in files:
        assert version_in(name, clone.remote_git("show", f"{tag}:{name}")) == version, name

    # [Unreleased] became the release, with the same entries, and is empty again
    changelog = clone.remote_git("show", f"{tag}:CHANGELOG.md")
    doc = Document.parse(changelog)
    section = doc.section(version)
    assert section is not None and section.date == today, changelog
    assert doc.sections[0].label == "Unreleased" and doc.sections[1] == section
    assert doc.body(doc.sections[0]).strip() == ""
    assert doc.body(section) == entries
    assert doc.section(previous) is not None
    assert re.search(rf"^# Release {re.escape(version)}$", clone.remote_git("show", f"{tag}:kb/releases/{version}.md"),
                     re.M)
    assert clone.git("status", "--porcelain") == ""


async def test_a_package_whose_version_drifted_stops_the_release_before_anything_changes(
    platform: Platform, root: Path, api: httpx.AsyncClient
) -> None:
    clone = Clone(platform.workspace, root, "vwmp-drifted")
    files = clone.version_files()
    sdk = clone.work / "libs/vwmp-sdk/pyproject.toml"
    text = sdk.read_text()
    drifted = str(Version.parse(version_in(sdk.name, text)).bump("patch", "rc"))
    sdk.write_text(re.sub(r'(?m)^version = "[^"]+"', f'version = "{drifted}"', text, count=1))
    clone.git("commit", "--quiet", "-am", "vwmp-sdk released on its own")
    clone.git("push", "--quiet", "origin", "main")
    await vwmp_release(api, "vwmp-drifted-release", files)
    before = clone.state()

    run = await wait_for(api, await start(api, "vwmp-drifted-release", {"repo": "vwmp-drifted", "part": "minor"}),
                         finished)

    assert run["state"] == "failed", run
    steps = steps_of(run)
    assert steps["bump"]["state"] == "failed"
    assert "version files disagree" in steps["bump"]["error"]
    assert f"libs/vwmp-sdk/pyproject.toml={drifted}" in steps["bump"]["error"]
    assert all(steps[s]["state"] == "skipped" for s in ("changelog", "commit", "tag", "approve", "push")), steps
    assert clone.state() == before
    assert clone.remote_git("tag", "--list") == ""
