"""release/version-bump with an explicit version; release/changelog from release notes."""

from __future__ import annotations

from pathlib import Path

import pytest
from vwmp_plugin_release import plugin
from vwmp_sdk.testing import StepTester
from vwmp_testkit.git import snapshot

NOTES = "### Features\n\n- **cart:** pay by card (abc1234) (#12)\n\n### Bug fixes\n\n- rounding (def5678)\n"


@pytest.fixture
def tester(workspace: Path) -> StepTester:
    return StepTester(plugin, workspace_root=workspace)


def test_bump_to_an_explicit_version_and_retry_changes_nothing(tester: StepTester, shop: tuple[Path, Path]) -> None:
    work, _ = shop
    out = tester.run("release/version-bump", {"repo": "shop", "version": "0.5.0"})
    assert out.ok, out.failure
    assert out.outputs == {"previous_version": "0.4.1", "version": "0.5.0",
                           "files": ["pyproject.toml", "src/shop/__init__.py"]}
    assert 'version = "0.5.0"  # bumped by VWMP' in (work / "pyproject.toml").read_text()
    before = snapshot(work)
    again = tester.run("release/version-bump", {"repo": "shop", "version": "0.5.0"})
    assert again.ok and again.outputs["version"] == "0.5.0" and snapshot(work) == before
    dry = tester.run("release/version-bump", {"repo": "shop", "version": "0.5.0"}, dry_run=True)
    assert dry.plan == []


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"version": "0.3.0"}, "older"),
        ({"version": "v0.5.0"}, "SemVer"),
        ({}, "exactly one"),
        ({"version": "0.5.0", "part": "minor"}, "exactly one"),
    ],
)
def test_bump_refuses_bad_versions(tester: StepTester, shop: tuple[Path, Path], config: dict[str, str],
                                   message: str) -> None:
    work, _ = shop
    before = snapshot(work)
    out = tester.run("release/version-bump", {"repo": "shop", **config})
    assert out.failure is not None and out.failure.kind == "config" and message in out.failure.message
    assert snapshot(work) == before


def test_changelog_both_puts_unreleased_then_notes(tester: StepTester, shop: tuple[Path, Path]) -> None:
    work, _ = shop
    out = tester.run("release/changelog", {"repo": "shop", "version": "0.5.0", "date": "2024-06-02", "notes": NOTES})
    assert out.ok, out.failure
    assert out.outputs["section"] == (
        "## [0.5.0] - 2024-06-02\n\n### Added\n\n- Release cards move on the board automatically (KAN-7)\n\n" + NOTES
    )
    text = (work / "CHANGELOG.md").read_text()
    assert "## [Unreleased]\n\n## [0.5.0] - 2024-06-02\n" in text
    assert "[0.5.0]: https://git.example.com/acme/shop/compare/v0.4.1...v0.5.0" in text
    again = tester.run("release/changelog", {"repo": "shop", "version": "0.5.0", "notes": NOTES})
    assert again.ok and again.outputs["section"] == out.outputs["section"].rstrip("\n") + "\n"
    assert (work / "CHANGELOG.md").read_text() == text


def test_changelog_from_commits_keeps_unreleased_entries(tester: StepTester, shop: tuple[Path, Path]) -> None:
    work, _ = shop
    config = {"repo": "shop", "version": "0.5.0", "date": "2024-06-02", "notes": NOTES, "source": "commits"}
    out = tester.run("release/changelog", config)
    assert out.ok, out.failure
    assert out.outputs["section"] == "## [0.5.0] - 2024-06-02\n\n" + NOTES
    text = (work / "CHANGELOG.md").read_text()
    assert text.startswith(
        "# Changelog\n\nAll notable changes to this project are documented in this file.\n\n## [Unreleased]\n\n"
        "### Added\n\n- Release cards move on the board automatically (KAN-7)\n\n## [0.5.0] - 2024-06-02\n\n"
        "### Features\n"
    )
    assert "[unreleased]: https://git.example.com/acme/shop/compare/v0.5.0...HEAD" in text
    assert tester.run("release/changelog", config).ok and (work / "CHANGELOG.md").read_text() == text


def test_changelog_notes_fill_an_empty_unreleased(tester: StepTester, shop: tuple[Path, Path]) -> None:
    work, _ = shop
    path = work / "CHANGELOG.md"
    path.write_text(path.read_text().replace(
        "### Added\n\n- Release cards move on the board automatically (KAN-7)\n\n", ""))
    failed = tester.run("release/changelog", {"repo": "shop", "version": "0.5.0"})
    assert failed.failure is not None and "empty" in failed.failure.message
    dry = tester.run("release/changelog", {"repo": "shop", "version": "0.5.0", "date": "2024-06-02", "notes": NOTES},
                     dry_run=True)
    assert dry.ok and dry.outputs["section"] == "## [0.5.0] - 2024-06-02\n\n" + NOTES
    assert "+### Features" in dry.plan[0]["diff"]
    out = tester.run("release/changelog", {"repo": "shop", "version": "0.5.0", "notes": NOTES, "source": "both"})
    assert out.ok and "### Features" in path.read_text()


def test_changelog_source_commits_needs_notes(tester: StepTester, shop: tuple[Path, Path]) -> None:
    out = tester.run("release/changelog", {"repo": "shop", "version": "0.5.0", "source": "commits"})
    assert out.failure is not None and out.failure.kind == "config"
