"""release/version-bump and release/changelog on a real repository."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from vwmp_plugin_release import plugin
from vwmp_sdk.testing import StepTester
from vwmp_testkit.git import snapshot


@pytest.fixture
def tester(workspace: Path) -> StepTester:
    return StepTester(plugin, workspace_root=workspace)


def test_bump_minor_updates_every_detected_file(tester: StepTester, shop: tuple[Path, Path]) -> None:
    work, _ = shop
    before = (work / "pyproject.toml").read_bytes()
    out = tester.run("release/version-bump", {"repo": "shop", "part": "minor"})
    assert out.ok, out.failure
    assert out.outputs == {
        "previous_version": "0.4.1",
        "version": "0.5.0",
        "files": ["pyproject.toml", "src/shop/__init__.py"],
    }
    assert (work / "pyproject.toml").read_bytes() == before.replace(b"0.4.1", b"0.5.0")
    assert '__version__ = "0.5.0"' in (work / "src/shop/__init__.py").read_text()


def test_bump_prerelease_with_label_and_explicit_files(tester: StepTester, shop: tuple[Path, Path]) -> None:
    work, _ = shop
    config = {"repo": "shop", "part": "prerelease", "prerelease_label": "beta", "files": ["pyproject.toml"]}
    out = tester.run("release/version-bump", config)
    assert out.outputs["version"] == "0.4.2-beta.1"
    assert '__version__ = "0.4.1"' in (work / "src/shop/__init__.py").read_text()


def test_bump_refuses_disagreeing_files(tester: StepTester, shop: tuple[Path, Path]) -> None:
    work, _ = shop
    (work / "VERSION").write_text("0.3.0\n")
    out = tester.run("release/version-bump", {"repo": "shop", "part": "patch"})
    assert out.failure is not None and "disagree" in out.failure.message


def test_bump_dry_run_plans_diffs_and_changes_nothing(tester: StepTester, shop: tuple[Path, Path]) -> None:
    work, _ = shop
    before = snapshot(work)
    out = tester.run("release/version-bump", {"repo": "shop", "part": "major"}, dry_run=True)
    assert out.ok and out.outputs["version"] == "1.0.0"
    assert [p["target"] for p in out.plan] == ["pyproject.toml", "src/shop/__init__.py"]
    assert '-version = "0.4.1"  # bumped by VWMP\n+version = "1.0.0"  # bumped by VWMP' in out.plan[0]["diff"]
    assert snapshot(work) == before


def test_changelog_release_and_retry(tester: StepTester, shop: tuple[Path, Path]) -> None:
    work, _ = shop
    out = tester.run("release/changelog", {"repo": "shop", "version": "0.5.0", "date": "2024-06-02"})
    assert out.ok, out.failure
    assert out.outputs["file"] == "CHANGELOG.md"
    assert out.outputs["section"].startswith("## [0.5.0] - 2024-06-02\n\n### Added\n")
    text = (work / "CHANGELOG.md").read_text()
    assert "## [Unreleased]\n\n## [0.5.0] - 2024-06-02" in text
    assert "[0.5.0]: https://git.example.com/acme/shop/compare/v0.4.1...v0.5.0" in text
    again = tester.run("release/changelog", {"repo": "shop", "version": "0.5.0"}, attempt=2)
    assert again.ok and again.outputs["section"] == out.outputs["section"]
    assert (work / "CHANGELOG.md").read_text() == text


def test_changelog_defaults_to_today_and_dry_run_shows_the_diff(tester: StepTester, shop: tuple[Path, Path]) -> None:
    work, _ = shop
    before = snapshot(work)
    out = tester.run("release/changelog", {"repo": "shop", "version": "0.5.0"}, dry_run=True)
    today = dt.datetime.now(dt.UTC).date().isoformat()
    assert out.ok and out.plan[0]["action"] == "update file"
    assert f"+## [0.5.0] - {today}" in out.plan[0]["diff"]
    assert snapshot(work) == before


@pytest.mark.parametrize(
    ("config", "kind"),
    [
        ({"repo": "../outside", "part": "patch"}, "denied"),
        ({"repo": "/tmp", "part": "patch"}, "denied"),
        ({"repo": "shop", "part": "patch", "files": ["../outside/pyproject.toml"]}, "denied"),
        ({"repo": "shop", "part": "patch", "files": ["/etc/hostname"]}, "denied"),
        ({"repo": "shop", "part": "patch", "files": ["link/pyproject.toml"]}, "denied"),
        ({"repo": "shop", "part": "patch", "files": ["README.txt"]}, "config"),
        ({"repo": "shop", "part": "huge"}, "config"),
    ],
)
def test_bump_refuses_paths_outside(tester: StepTester, shop: tuple[Path, Path], tmp_path: Path, config, kind) -> None:
    work, _ = shop
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "pyproject.toml").write_text('[project]\nversion = "1.0.0"\n')
    (work / "link").symlink_to(outside)
    before = (snapshot(work), snapshot(outside))
    out = tester.run("release/version-bump", config)
    assert out.failure is not None and out.failure.kind == kind, out.failure
    assert (snapshot(work), snapshot(outside)) == before


@pytest.mark.parametrize(
    "config",
    [
        {"repo": "shop", "version": "0.5.0", "file": "../../etc/passwd"},
        {"repo": "shop", "version": "0.5.0", "file": "/etc/passwd"},
        {"repo": "shop", "version": "v0.5.0"},
        {"repo": "shop", "version": "0.5.0", "date": "02/06/2024"},
        {"repo": "../shop", "version": "0.5.0"},
    ],
)
def test_changelog_refuses_bad_config(tester: StepTester, shop: tuple[Path, Path], config) -> None:
    work, _ = shop
    before = snapshot(work)
    out = tester.run("release/changelog", config)
    assert out.failure is not None and out.failure.kind in ("denied", "config"), out.failure
    assert snapshot(work) == before
