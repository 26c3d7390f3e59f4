"""The *-release-from-commits templates, step by step with the real plugins, a loopback forge and an SSH key."""

from __future__ import annotations

import re
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from vwmp_plugin_release import TEMPLATES
from vwmp_sdk import Plugin
from vwmp_sdk.testing import StepTester
from vwmp_testkit.forge import FakeForge
from vwmp_testkit.git import git, make_repo, snapshot
from vwmp_testkit.release_project import FILES
from vwmp_testkit.signing import SigningKey, ssh_key, verify

from .history import commit, tag

PLUGINS = ("git", "release", "validators", "forge")
REF = re.compile(r"\$\{\{\s*(params|steps|secrets)\.([A-Za-z0-9_]+)(?:\.outputs\.([A-Za-z0-9_]+))?\s*\}\}")
PLATFORM = {"git": {"author_name": "Release Bot", "author_email": "bot@vwmp.invalid"}}
NAMES = ["python-release-from-commits", "node-release-from-commits"]


@pytest.fixture(scope="module")
def plugins() -> list[Plugin]:
    installed = {ep.name: ep for ep in entry_points(group="vwmp.plugins")}
    return [installed[name].load() for name in PLUGINS]


def resolve(value: Any, scope: dict[str, Any]) -> Any:
    if isinstance(value, dict):
        return {k: resolve(v, scope) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, scope) for v in value]
    if not isinstance(value, str):
        return value

    def lookup(match: re.Match[str]) -> Any:
        kind, name, key = match.groups()
        return scope["steps"][name][key] if kind == "steps" else scope[kind][name]

    whole = REF.fullmatch(value)
    return lookup(whole) if whole else REF.sub(lambda m: str(lookup(m)), value)


def run(plugins: list[Plugin], name: str, workspace: Path, params: dict[str, Any], secrets: dict[str, str],
        *, dry_run: bool) -> dict[str, dict[str, Any]]:  # fmt: skip
    """The template's steps in order; a step whose condition is false is skipped with everything after it."""
    definition = next(t for t in TEMPLATES if t.name == name).definition
    defaults = {k: v["default"] for k, v in definition["spec"]["parameters"]["properties"].items() if "default" in v}
    scope: dict[str, Any] = {"params": {**defaults, **params}, "secrets": secrets, "steps": {}}
    tester = StepTester(plugins, workspace_root=workspace, platform_config=PLATFORM)
    for step in definition["spec"]["steps"]:
        if "if" in step and resolve("${{ steps.analyze.outputs.part }}", scope) == "none":
            break
        if step["uses"] == "core/approval":
            scope["steps"][step["id"]] = {"approved_by": "tester"}
            continue
        out = tester.run(step["uses"], resolve(step.get("with", {}), scope), dry_run=dry_run, step_id=step["id"])
        assert out.ok, (step["id"], out.failure, out.logs)
        scope["steps"][step["id"]] = out.outputs
    return dict(scope["steps"])


def test_templates_are_offered_with_a_concurrency_key_and_known_steps(plugins: list[Plugin]) -> None:
    known = {d.type for p in plugins for d in p.steps.values()} | {"core/approval"}
    for name in NAMES:
        definition = next(t for t in TEMPLATES if t.name == name).definition
        assert definition["spec"]["concurrency"] == {"key": "release:${{ params.repo }}"}
        steps = definition["spec"]["steps"]
        assert [s["uses"] for s in steps] == [
            "validators/branch-context", "release/analyze-commits", "release/version-bump", "release/changelog",
            "git/commit", "git/tag", "core/approval", "git/push", "forge/release",
        ]  # fmt: skip
        assert all(s["uses"] in known for s in steps)
        assert steps[2]["if"] == "${{ steps.analyze.outputs.part != 'none' }}"
    node = next(t for t in TEMPLATES if t.name == "node-release-from-commits").definition
    assert node["spec"]["steps"][2]["with"]["files"] == ["package.json"]


@pytest.fixture
def shop(workspace: Path) -> tuple[Path, Path]:
    work, remote = make_repo(workspace, "shop", FILES)
    tag(work, "v0.4.1")
    commit(work, "feat(cart): pay by card (#12)")
    commit(work, "fix: rounding of totals\n\nCloses #9")
    git(work, "push", "--quiet", "origin", "main", "v0.4.1")
    return work, remote


def test_feat_and_fix_since_0_4_1_release_0_5_0_signed_and_on_the_forge(
    plugins: list[Plugin], workspace: Path, tmp_path: Path, shop: tuple[Path, Path]
) -> None:
    work, remote = shop
    key: SigningKey = ssh_key(tmp_path / "keys")
    with FakeForge("gitea") as forge:
        params = {"repo": "shop", "provider": "gitea", "api_url": forge.api_url, "repository": "acme/shop"}
        secrets = {"FORGE_TOKEN": forge.token, "RELEASE_SIGNING_KEY": key.private}
        before = (snapshot(work), snapshot(remote))
        dry = run(plugins, NAMES[0], workspace, params, secrets, dry_run=True)
        assert (snapshot(work), snapshot(remote)) == before and forge.writes() == []
        assert dry["publish"]["plan"][-1]["action"] == "create release"

        out = run(plugins, NAMES[0], workspace, params, secrets, dry_run=False)
        assert out["analyze"]["next_version"] == "0.5.0" and out["bump"]["version"] == "0.5.0"
        notes = out["analyze"]["notes"]
        assert "### Features\n\n- **cart:** pay by card" in notes and "### Bug fixes\n\n- rounding of totals" in notes
        verify(remote, key, "tag", "v0.5.0")
        assert git(remote, "rev-parse", "v0.5.0^{commit}") == git(work, "rev-parse", "HEAD")
        assert git(remote, "log", "-1", "--format=%s", "main") == "chore(release): 0.5.0"
        changelog = git(remote, "show", "main:CHANGELOG.md")
        assert "## [0.5.0] - " in changelog and "- **cart:** pay by card" in changelog and "KAN-7" in changelog
        assert len(forge.releases) == 1 and forge.releases[0]["body"] == notes

        writes = len(forge.writes())
        again = run(plugins, NAMES[0], workspace, params, secrets, dry_run=False)
        assert again["analyze"]["part"] == "none" and "publish" not in again
        assert len(forge.writes()) == writes and len(forge.releases) == 1
