"""The release templates, run step by step with the real plugins: 0.4.1 → 0.5.0 to a bare remote.

The release plugin depends on no other plugin: its templates only name their step types. The plugins
are loaded the way the plugin host loads them, from the `vwmp.plugins` entry points of what is installed.
"""

from __future__ import annotations

import re
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from vwmp_plugin_release import TEMPLATES
from vwmp_sdk import Plugin
from vwmp_sdk.testing import StepTester
from vwmp_testkit.git import git, snapshot

RELEASE_PLUGINS = ("git", "release", "project", "validators")
REF = re.compile(r"\$\{\{\s*(params|steps)\.([A-Za-z0-9_]+)(?:\.outputs\.([A-Za-z0-9_]+))?\s*\}\}")
PLATFORM = {
    "git": {"author_name": "Release Bot", "author_email": "bot@vwmp.invalid"},
    "release": {"allowed_branches": ["main"]},
}


def _resolve(value: Any, params: dict[str, Any], outputs: dict[str, dict[str, Any]]) -> Any:
    """The template references the engine resolves: `${{ params.x }}`, `${{ steps.id.outputs.k }}`."""
    if isinstance(value, dict):
        return {k: _resolve(v, params, outputs) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, params, outputs) for v in value]
    if not isinstance(value, str):
        return value

    def lookup(match: re.Match[str]) -> Any:
        kind, name, key = match.groups()
        return params[name] if kind == "params" else outputs[name][key]

    whole = REF.fullmatch(value)
    return lookup(whole) if whole else REF.sub(lambda m: str(lookup(m)), value)


@pytest.fixture(scope="module")
def plugins() -> list[Plugin]:
    installed = {ep.name: ep for ep in entry_points(group="vwmp.plugins")}
    missing = [name for name in RELEASE_PLUGINS if name not in installed]
    if missing:
        pytest.fail(f"the release templates need the plugins {missing} installed (uv sync --all-packages)")
    return [installed[name].load() for name in RELEASE_PLUGINS]


def run_template(
    plugins: list[Plugin], name: str, workspace: Path, params: dict[str, Any], *, dry_run: bool
) -> dict[str, dict[str, Any]]:
    template = next(t for t in TEMPLATES if t.name == name)
    tester = StepTester(plugins, workspace_root=workspace, platform_config=PLATFORM)
    outputs: dict[str, dict[str, Any]] = {}
    for step in template.definition["spec"]["steps"]:
        config = _resolve(step.get("with", {}), params, outputs)
        if step["uses"] == "core/approval":
            outputs[step["id"]] = {"approved_by": "tester", "comment": ""}
            continue
        out = tester.run(step["uses"], config, dry_run=dry_run, step_id=step["id"])
        assert out.ok, (step["id"], out.failure, out.logs)
        outputs[step["id"]] = out.outputs
    return outputs


def test_templates_are_complete_release_workflows(plugins: list[Plugin]) -> None:
    known = {d.type for p in plugins for d in p.steps.values()} | {"core/approval", "core/noop", "core/sleep"}
    # the others: test_release_from_commits.py, test_monorepo.py
    classic = [t for t in TEMPLATES if not t.name.endswith("-from-commits") and t.name != "monorepo-release"]
    assert [t.name for t in classic] == ["python-release", "node-release", "hotfix"]
    for template in classic:
        definition = template.definition
        assert definition["apiVersion"] == "vwmp/v1" and definition["kind"] == "Workflow"
        assert definition["metadata"]["type"] == template.workflow_type == "release"
        assert set(definition["spec"]["parameters"]["required"]) == {"repo", "part"}
        assert definition["spec"]["concurrency"] == {"key": "release:${{ params.repo }}"}  # one release per repo
        steps = definition["spec"]["steps"]
        assert [s["uses"] for s in steps] == [
            "validators/branch-context",
            "validators/changelog-format",
            "release/version-bump",
            "release/changelog",
            "project/kb-update",
            "project/kanban-update",
            "git/commit",
            "git/tag",
            "core/approval",
            "git/push",
        ]
        ids = {s["id"] for s in steps}
        tester = StepTester(plugins, workspace_root=Path("."))
        for step in steps:
            assert step["uses"] in known
            assert set(step.get("needs", [])) <= ids
            for ref in REF.finditer(str(step.get("with"))):
                assert ref.group(1) == "params" or ref.group(2) in ids
            if not step["uses"].startswith("core/"):
                sample = _resolve(
                    step["with"],
                    {"repo": "r", "part": "patch"},
                    {i: {"version": "1.0.0", "branch": "main"} for i in ids},
                )
                assert tester.validate(step["uses"], sample) == [], step["id"]


def test_python_release_end_to_end(plugins: list[Plugin], workspace: Path, shop: tuple[Path, Path]) -> None:
    work, remote = shop
    outputs = run_template(plugins, "python-release", workspace, {"repo": "shop", "part": "minor"}, dry_run=False)
    assert outputs["bump"]["version"] == "0.5.0"
    assert outputs["kanban"]["moved"] == ["KAN-7"]
    assert outputs["push"]["pushed"] == ["refs/heads/main", "refs/tags/v0.5.0"]
    head = git(work, "rev-parse", "HEAD")
    assert git(remote, "rev-parse", "main") == head
    assert git(remote, "rev-parse", "v0.5.0^{commit}") == head
    assert git(remote, "cat-file", "-t", "v0.5.0") == "tag"
    assert git(remote, "log", "-1", "--format=%s|%an", "main") == "Release 0.5.0|Release Bot"
    changed = git(remote, "show", "--name-only", "--format=", "main").splitlines()
    assert sorted(changed) == [
        "CHANGELOG.md",
        "kanban.yaml",
        "kb/index.md",
        "kb/releases/0.5.0.md",
        "pyproject.toml",
        "src/shop/__init__.py",
    ]
    assert 'version = "0.5.0"' in git(remote, "show", "main:pyproject.toml")
    changelog = git(remote, "show", "main:CHANGELOG.md")
    assert "## [Unreleased]\n\n## [0.5.0] - " in changelog
    assert "[unreleased]: https://git.example.com/acme/shop/compare/v0.5.0...HEAD" in changelog
    page = git(remote, "show", "main:kb/releases/0.5.0.md")
    assert page.startswith("# Release 0.5.0") and "KAN-7" in page
    assert "- [0.5.0](releases/0.5.0.md)" in git(remote, "show", "main:kb/index.md")
    board = git(remote, "show", "main:kanban.yaml")
    assert "# shipped in the next release" in board
    released = board.split("- name: Released")[1]
    assert "KAN-7" in released and "KAN-8" not in released and "released_in: 0.5.0" in released
    assert git(work, "status", "--porcelain") == ""


def test_python_release_dry_run_changes_nothing_and_plans_every_change(
    plugins: list[Plugin], workspace: Path, shop: tuple[Path, Path]
) -> None:
    work, remote = shop
    before = (snapshot(work), snapshot(remote))
    outputs = run_template(plugins, "python-release", workspace, {"repo": "shop", "part": "minor"}, dry_run=True)
    assert (snapshot(work), snapshot(remote)) == before
    assert outputs["bump"]["version"] == "0.5.0"
    assert '+version = "0.5.0"' in outputs["bump"]["plan"][0]["diff"]
    assert "+## [0.5.0] - " in outputs["changelog"]["plan"][0]["diff"]
    assert {p["target"] for p in outputs["kb"]["plan"]} == {"kb/releases/0.5.0.md", "kb/index.md"}
    assert outputs["kanban"]["moved"] == ["KAN-7"] and "released_in: 0.5.0" in outputs["kanban"]["plan"][0]["diff"]
    assert outputs["commit"]["plan"][0]["action"] == "commit"
    assert outputs["tag"]["plan"][0] == {
        "action": "create tag",
        "target": "v0.5.0",
        "diff": outputs["tag"]["plan"][0]["diff"],
    }
    assert [p["target"] for p in outputs["push"]["plan"]] == ["origin refs/heads/main", "origin refs/tags/v0.5.0"]


def test_hotfix_template_refuses_main(plugins: list[Plugin], workspace: Path, shop: tuple[Path, Path]) -> None:
    with pytest.raises(AssertionError, match="not allowed"):
        run_template(plugins, "hotfix", workspace, {"repo": "shop", "part": "patch"}, dry_run=True)


def test_node_release_bumps_package_json(plugins: list[Plugin], workspace: Path) -> None:
    from vwmp_testkit.git import make_repo
    from vwmp_testkit.release_project import BOARD, CHANGELOG

    package = '{\n  "name": "web",\n  "version": "0.4.1",\n  "scripts": {"test": "true"}\n}\n'
    work, remote = make_repo(
        workspace, "web", {"package.json": package, "CHANGELOG.md": CHANGELOG, "kanban.yaml": BOARD}
    )
    run_template(plugins, "node-release", workspace, {"repo": "web", "part": "patch"}, dry_run=False)
    assert git(remote, "show", "main:package.json") == package.replace("0.4.1", "0.4.2").strip()
    assert git(remote, "rev-parse", "v0.4.2^{commit}") == git(work, "rev-parse", "HEAD")
