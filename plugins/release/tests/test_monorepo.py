"""Monorepo releases on a real repository: release/packages, the package-scoped bump and changelog, ranges."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
from vwmp_plugin_release import plugin
from vwmp_sdk.testing import StepTester
from vwmp_testkit.git import git, make_repo, snapshot
from vwmp_testkit.monorepo import FILES, ORDER, TAGS


@pytest.fixture
def tester(workspace: Path) -> StepTester:
    return StepTester(plugin, workspace_root=workspace)


@pytest.fixture
def shop(workspace: Path) -> Path:
    repo, _ = make_repo(workspace, "shop", FILES)
    for name in TAGS:
        git(repo, "tag", "--annotate", "-m", name, name)
    return repo


def change(repo: Path, file: str, message: str) -> None:
    path = repo / file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(path.read_text() + "# changed\n" if path.exists() else "x\n")
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", message)


def packages(tester: StepTester, **config: Any) -> dict[str, Any]:
    out = tester.run("release/packages", {"repo": "shop", **config})
    assert out.ok, out.failure
    return out.outputs


def test_every_package_in_dependency_order_nothing_changed_since_the_tags(tester: StepTester, shop: Path) -> None:
    outputs = packages(tester)
    assert [p["name"] for p in outputs["packages"]] == ORDER
    by_name = {p["name"]: p for p in outputs["packages"]}
    assert {k: by_name["shop-api"][k] for k in ("path", "version", "depends_on", "changed")} == {
        "path": "py/api", "version": "2.0.0", "depends_on": ["shop-core", "shop-utils"], "changed": False}
    assert by_name["@shop/web"]["depends_on"] == ["@shop/ui-kit"]
    assert by_name["@shop/web"]["last_tag"] == "@shop/web@1.0.0"
    assert by_name["@shop/web"]["tag_pattern"] == "@shop/web@{version}"
    assert outputs["release"] == []


def test_only_the_changed_package_and_its_dependents_release_in_order(tester: StepTester, shop: Path) -> None:
    change(shop, "py/utils/README.md", "fix(utils): round totals")
    outputs = packages(tester)
    assert [(p["name"], p["changed"]) for p in outputs["packages"]] == [
        ("@shop/ui-kit", False), ("@shop/web", False), ("shop-core", False), ("shop-utils", True),
        ("shop-api", False)]
    assert [p["name"] for p in outputs["release"]] == ["shop-utils", "shop-api"]
    assert outputs["release"][1]["updated_dependencies"] == ["shop-utils"]

    change(shop, "js/ui-kit/index.js", "feat(ui-kit): buttons")
    assert [p["name"] for p in packages(tester)["release"]] == ["@shop/ui-kit", "@shop/web", "shop-utils", "shop-api"]


def test_manifests_without_a_name_or_a_version_are_no_packages(tester: StepTester, shop: Path) -> None:
    (shop / "js/web/test/fixture").mkdir(parents=True)
    (shop / "js/web/test/fixture/package.json").write_text('{"name": "fixture", "private": true}\n')
    (shop / "tools").mkdir()
    (shop / "tools/pyproject.toml").write_text("[tool.ruff]\nline-length = 100\n")
    (shop / "js/ui-kit/node_modules/left-pad").mkdir(parents=True)
    (shop / "js/ui-kit/node_modules/left-pad/package.json").write_text('{"name": "left-pad", "version": "1.3.0"}\n')
    git(shop, "add", "--all")
    git(shop, "commit", "--quiet", "-m", "chore: fixtures and tools")
    outputs = packages(tester)
    assert [p["name"] for p in outputs["packages"]] == ORDER
    assert outputs["skipped"] == ["js/web/test/fixture/package.json", "package.json", "pyproject.toml",
                                  "tools/pyproject.toml"]
    assert [p["name"] for p in outputs["release"]] == ["@shop/ui-kit", "@shop/web"]  # files in their folders


def test_a_package_never_tagged_counts_as_changed_and_bumps_from_its_manifest_version(
    tester: StepTester, workspace: Path
) -> None:
    repo, _ = make_repo(workspace, "shop", FILES)
    git(repo, "tag", "--annotate", "-m", "core", "shop-core@1.2.0")
    change(repo, "py/core/x.py", "feat(core): faster")
    assert [p["name"] for p in packages(tester)["release"]] == ORDER
    done = release_steps(tester)
    assert [a["tag"] for a in done["analyzed"]] == [
        "@shop/ui-kit@0.9.1", "@shop/web@1.0.1", "shop-core@1.3.0", "shop-utils@0.3.2", "shop-api@2.0.1"]
    assert [a["since"] for a in done["analyzed"]] == [None, None, "shop-core@1.2.0", None, None]


def test_a_dependency_cycle_is_a_config_error_naming_it(tester: StepTester, shop: Path) -> None:
    core = shop / "py/core/pyproject.toml"
    core.write_text(core.read_text().replace("dependencies = []", 'dependencies = ["shop-api"]'))
    out = tester.run("release/packages", {"repo": "shop"})
    assert out.failure is not None and out.failure.kind == "config"
    assert out.failure.message == "dependency cycle: shop-api → shop-core → shop-api"


def test_globs_pick_packages_and_the_root_counts_when_it_is_no_workspace(tester: StepTester, shop: Path) -> None:
    outputs = packages(tester, globs=["js/*/package.json"])
    assert [p["name"] for p in outputs["packages"]] == ["@shop/ui-kit", "@shop/web"]
    (shop / "package.json").write_text('{"name": "shop-root", "version": "3.0.0"}\n')
    git(shop, "commit", "--quiet", "-am", "root is a package")
    outputs = packages(tester, globs=["package.json", "js/*/package.json"], tag_pattern="{name}-v{version}")
    assert [(p["name"], p["path"], p["changed"]) for p in outputs["packages"]] == [
        ("shop-root", ".", True), ("@shop/ui-kit", "js/ui-kit", True), ("@shop/web", "js/web", True)]


@pytest.mark.parametrize(
    ("globs", "kind", "says"),
    [
        (["../other/package.json"], "denied", "globs/0: '../other/package.json' contains '..'"),
        (["/etc/package.json"], "denied", "globs/0: '/etc/package.json' is absolute"),
        (["js/*/package.json", ".git/**/package.json"], "denied", "globs/1: '.git/**/package.json' points into .git"),
        (["**/*.json"], "config", "must end in pyproject.toml or package.json"),
    ],
)
def test_a_glob_leaving_the_repository_is_refused(
    tester: StepTester, shop: Path, globs: list[str], kind: str, says: str
) -> None:
    out = tester.run("release/packages", {"repo": "shop", "globs": globs})
    assert out.failure is not None and out.failure.kind == kind, out.failure
    assert says in out.failure.message


def test_a_symlink_leading_out_of_the_repository_is_refused(tester: StepTester, shop: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "package.json").write_text('{"name": "evil", "version": "1.0.0"}\n')
    (shop / "js" / "evil").symlink_to(outside)
    assert "evil" not in [p["name"] for p in packages(tester)["packages"]]  # `**` follows no symlink
    out = tester.run("release/packages", {"repo": "shop", "globs": ["py/*/pyproject.toml", "js/*/package.json"]})
    assert out.failure is not None and out.failure.kind == "denied", out.failure
    assert out.failure.message.startswith("globs/1: "), out.failure.message


def test_a_package_name_that_looks_like_an_option_is_refused(tester: StepTester, shop: Path) -> None:
    (shop / "js/ui-kit/package.json").write_text('{"name": "--upload-pack=evil", "version": "0.9.0"}\n')
    out = tester.run("release/packages", {"repo": "shop"})
    assert out.failure is not None and out.failure.kind == "denied"
    assert out.failure.message == ("js/ui-kit/package.json: package name '--upload-pack=evil' starts with '-' "
                                   "(it would be read as an option)")
    (shop / "js/ui-kit/package.json").write_text('{"name": "ui kit; rm -rf", "version": "0.9.0"}\n')
    out = tester.run("release/packages", {"repo": "shop"})
    assert out.failure is not None and out.failure.kind == "config"
    assert "is not a valid npm package name" in out.failure.message


def test_a_dry_run_of_release_packages_changes_nothing(tester: StepTester, shop: Path) -> None:
    change(shop, "py/core/x.py", "feat(core): faster")
    before = snapshot(shop)
    out = tester.run("release/packages", {"repo": "shop"}, dry_run=True)
    assert out.ok and [p["name"] for p in out.outputs["release"]] == ["shop-core", "shop-utils", "shop-api"]
    assert out.plan == []
    assert snapshot(shop) == before


def release_steps(tester: StepTester, dry_run: bool = False) -> dict[str, Any]:
    """What the monorepo-release template does up to the commit, one step type after the other."""
    release = packages(tester)["release"]
    analyzed = []
    for item in release:
        out = tester.run("release/analyze-commits", {
            "repo": "shop", "path": item["path"], "name": item["name"], "tag_pattern": "{name}@{version}",
            "minimum_part": "patch", "initial_version": item["version"],
            "updated_dependencies": item["updated_dependencies"]}, dry_run=dry_run)
        assert out.ok, out.failure
        analyzed.append(out.outputs)
    plans: list[dict[str, Any]] = []
    for item in analyzed:
        bump = tester.run("release/version-bump", {"repo": "shop", "path": item["path"],
                                                   "version": item["next_version"]}, dry_run=dry_run)
        assert bump.ok, bump.failure
        log = tester.run("release/changelog", {"repo": "shop", "path": item["path"], "version": item["next_version"],
                                               "notes": item["notes"], "create": True, "date": "2024-06-02"},
                         dry_run=dry_run)
        assert log.ok, log.failure
        plans += bump.plan + log.plan
    ranges = tester.run("release/dependency-ranges", {"repo": "shop", "released": analyzed}, dry_run=dry_run)
    assert ranges.ok, ranges.failure
    return {"analyzed": analyzed, "plans": plans + ranges.plan, "ranges": ranges.outputs}


def test_the_release_bumps_each_package_writes_its_changelog_and_updates_its_dependents(
    tester: StepTester, shop: Path
) -> None:
    change(shop, "py/core/x.py", "feat(core): faster checkout (#12)")
    done = release_steps(tester)
    assert [(a["name"], a["part"], a["next_version"], a["tag"]) for a in done["analyzed"]] == [
        ("shop-core", "minor", "1.3.0", "shop-core@1.3.0"),
        ("shop-utils", "patch", "0.3.2", "shop-utils@0.3.2"),
        ("shop-api", "patch", "2.0.1", "shop-api@2.0.1"),
    ]
    core = tomllib.loads((shop / "py/core/pyproject.toml").read_text())["project"]
    assert core["version"] == "1.3.0"
    assert '__version__ = "1.3.0"' in (shop / "py/core/src/shop_core/__init__.py").read_text()
    utils = (shop / "py/utils/pyproject.toml").read_text()
    assert '"shop-core>=1.3.0",  # in the repo' in utils and 'version = "0.3.2"' in utils
    api = (shop / "py/api/pyproject.toml").read_text()
    assert "'Shop_Utils>=0.3.2,<1'" in api
    assert "\"shop-core[fast]==1.3.0; python_version >= '3.11'\"" in api
    changelog = (shop / "py/core/CHANGELOG.md").read_text()
    assert "## [1.3.0] - 2024-06-02" in changelog and "- **core:** faster checkout (#12)" in changelog
    assert "### Dependencies\n\n- shop-core\n- shop-utils" in (shop / "py/api/CHANGELOG.md").read_text()
    assert (shop / "py/api/CHANGELOG.md").read_text().index("## [2.0.1]") < \
        (shop / "py/api/CHANGELOG.md").read_text().index("## [2.0.0]")
    assert done["ranges"]["files"] == ["py/api/pyproject.toml", "py/utils/pyproject.toml"]
    assert done["ranges"]["tags"] == ["shop-core@1.3.0", "shop-utils@0.3.2", "shop-api@2.0.1"]
    assert done["ranges"]["title"] == "shop-core@1.3.0, shop-utils@0.3.2, shop-api@2.0.1"
    web = json.loads((shop / "js/web/package.json").read_text())
    assert web["dependencies"]["@shop/ui-kit"] == "^0.9.0"  # not released: untouched


def test_npm_ranges_keep_their_operator_and_formatting(tester: StepTester, shop: Path) -> None:
    change(shop, "js/ui-kit/index.js", "feat(ui-kit): buttons")
    before = (shop / "js/web/package.json").read_text()
    done = release_steps(tester)
    after = (shop / "js/web/package.json").read_text()
    assert after == before.replace('"^0.9.0"', '"^0.10.0"').replace('"~0.9.0"', '"~0.10.0"').replace(
        '"version": "1.0.0"', '"version": "1.0.1"')
    assert [(u["dependency"], u["previous"], u["updated"]) for u in done["ranges"]["updates"]] == [
        ("@shop/ui-kit", "^0.9.0", "^0.10.0"), ("@shop/ui-kit", "~0.9.0", "~0.10.0")]
    assert json.loads((shop / "js/ui-kit/package.json").read_text())["version"] == "0.10.0"


def test_a_dry_run_of_the_whole_release_plans_every_file_and_changes_nothing(tester: StepTester, shop: Path) -> None:
    change(shop, "js/ui-kit/index.js", "feat(ui-kit): buttons")
    change(shop, "py/core/x.py", "fix(core): rounding")
    before = snapshot(shop)
    done = release_steps(tester, dry_run=True)
    assert snapshot(shop) == before
    targets = [(p["action"], p["target"]) for p in done["plans"]]
    assert ("create file", "js/ui-kit/CHANGELOG.md") in targets
    assert ("update file", "py/api/CHANGELOG.md") in targets
    assert ("update file", "js/web/package.json") in targets
    assert len([t for t in targets if t[1].endswith("CHANGELOG.md")]) == 5


def test_dependency_ranges_refuses_a_package_it_does_not_know(tester: StepTester, shop: Path) -> None:
    out = tester.run("release/dependency-ranges", {"repo": "shop", "released": [
        {"name": "shop-core", "next_version": "1.3.0"}, {"name": "-x", "next_version": "1.0.0"}]})
    assert out.failure is not None and out.failure.kind == "config"
    assert out.failure.message == "released/1/name: '-x' is no package of this repository"


@pytest.mark.parametrize(
    ("uses", "config", "field"),
    [
        ("release/version-bump", {"path": "../elsewhere", "part": "patch"}, "path"),
        ("release/changelog", {"path": "py/../../x", "version": "1.0.0", "create": True}, "path"),
        ("release/changelog", {"path": ".git", "version": "1.0.0", "create": True}, "path"),
        ("release/analyze-commits", {"path": "/etc"}, "path"),
    ],
)
def test_a_package_path_leaving_the_repository_is_refused(
    tester: StepTester, shop: Path, uses: str, config: dict[str, Any], field: str
) -> None:
    before = snapshot(shop)
    out = tester.run(uses, {"repo": "shop", **config})
    assert out.failure is not None and out.failure.kind == "denied", out.failure
    assert out.failure.message.startswith(f"{field}: "), out.failure.message
    assert snapshot(shop) == before


def test_a_package_path_that_is_no_folder_is_a_config_error(tester: StepTester, shop: Path) -> None:
    for uses, config in (("release/version-bump", {"part": "patch"}),
                         ("release/changelog", {"version": "1.0.0", "create": True})):
        out = tester.run(uses, {"repo": "shop", "path": "py/missing", **config})
        assert out.failure is not None and out.failure.kind == "config"
        assert out.failure.message == "path: 'py/missing' is not a folder of the repository"
    assert not (shop / "py/missing").exists()


def test_a_changed_package_without_releasable_commits_still_releases_a_patch(tester: StepTester, shop: Path) -> None:
    change(shop, "py/core/docs.md", "docs(core): explain the cart")
    change(shop, "py/core/notes.txt", "tidy up")
    out = tester.run("release/analyze-commits", {"repo": "shop", "path": "py/core", "name": "shop-core",
                                                 "tag_pattern": "{name}@{version}", "minimum_part": "patch"})
    assert out.ok, out.failure
    outputs = out.outputs
    assert (outputs["part"], outputs["next_version"], outputs["tag"]) == ("patch", "1.2.1", "shop-core@1.2.1")
    docs, tidy = (git(shop, "rev-parse", "--short=7", rev) for rev in ("HEAD~1", "HEAD"))
    assert outputs["notes"] == f"### Other changes\n\n- explain the cart ({docs})\n- tidy up ({tidy})\n"
    plain = tester.run("release/analyze-commits", {"repo": "shop", "path": "py/core", "name": "shop-core",
                                                   "tag_pattern": "{name}@{version}"})
    assert (plain.outputs["part"], plain.outputs["notes"]) == ("none", "")


def test_a_name_placeholder_without_a_name_is_a_config_error(tester: StepTester, shop: Path) -> None:
    out = tester.run("release/analyze-commits", {"repo": "shop", "tag_pattern": "{name}@{version}"})
    assert out.failure is not None and out.failure.kind == "config"
    assert out.failure.message == "tag_pattern has '{name}': give 'name'"


def test_the_template_fans_out_per_package_and_has_one_gate() -> None:
    from vwmp_plugin_release import TEMPLATES

    definition = next(t for t in TEMPLATES if t.name == "monorepo-release").definition
    steps = definition["spec"]["steps"]
    assert [(s["id"], s["uses"], s.get("for_each")) for s in steps] == [
        ("branch", "validators/branch-context", None),
        ("packages", "release/packages", None),
        ("analyze", "release/analyze-commits", "${{ steps.packages.outputs.release }}"),
        ("bump", "release/version-bump", "${{ steps.analyze.outputs }}"),
        ("changelog", "release/changelog", "${{ steps.analyze.outputs }}"),
        ("ranges", "release/dependency-ranges", None),
        ("commit", "git/commit", None),
        ("tag", "git/tag", "${{ steps.analyze.outputs }}"),
        ("approve", "core/approval", None),
        ("push", "git/push", None),
    ]
    assert definition["spec"]["concurrency"] == {"key": "release:${{ params.repo }}"}
    assert steps[2]["if"] == "${{ length(steps.packages.outputs.release) > 0 }}"
    assert steps[-1]["with"]["tags"] == "${{ steps.ranges.outputs.tags }}"


def test_an_upper_bound_that_would_exclude_the_new_version_is_a_config_error(tester: StepTester, shop: Path) -> None:
    before = snapshot(shop)
    out = tester.run("release/dependency-ranges", {"repo": "shop", "released": [
        {"name": "shop-utils", "next_version": "1.0.0"}]})
    assert out.failure is not None and out.failure.kind == "config"
    assert out.failure.message == ("py/api/pyproject.toml: 'Shop_Utils>=0.3.1,<1': <1 excludes 1.0.0; "
                                   "widen the range by hand")
    assert snapshot(shop) == before
    fine = tester.run("release/dependency-ranges", {"repo": "shop", "released": [
        {"name": "shop-utils", "next_version": "0.9.9"}]})
    assert fine.ok and [u["updated"] for u in fine.outputs["updates"]] == ["Shop_Utils>=0.9.9,<1"]
