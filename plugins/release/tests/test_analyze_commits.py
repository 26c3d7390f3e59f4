"""release/analyze-commits on real repositories: Conventional Commits 1.0, bump rules, notes."""

from __future__ import annotations

from pathlib import Path

import pytest
from vwmp_plugin_release import plugin
from vwmp_sdk.testing import StepTester
from vwmp_testkit.git import git, make_repo, snapshot

from .history import SCENARIOS, commit, tag


@pytest.fixture
def tester(workspace: Path) -> StepTester:
    return StepTester(plugin, workspace_root=workspace)


def build(workspace: Path, name: str) -> Path:
    last, messages, _, _ = SCENARIOS[name]
    repo, _ = make_repo(workspace, "app", {"README.md": "app\n"})
    if last:
        tag(repo, last)
    for message in messages:
        commit(repo, message)
    return repo


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_part_and_next_version_follow_the_commits(tester: StepTester, workspace: Path, name: str) -> None:
    build(workspace, name)
    last, _, part, version = SCENARIOS[name]
    out = tester.run("release/analyze-commits", {"repo": "app"})
    assert out.ok, out.failure
    assert out.outputs["part"] == part
    assert out.outputs["next_version"] == version
    assert out.outputs["previous_version"] == (last[1:] if last else "0.0.0")
    assert out.outputs["since"] == last


def test_feature_and_fix_are_listed_with_headings_shas_and_issues(tester: StepTester, workspace: Path) -> None:
    repo = build(workspace, "feature")
    out = tester.run("release/analyze-commits", {"repo": "app"})
    feat, fix = git(repo, "rev-parse", "HEAD~1"), git(repo, "rev-parse", "HEAD")
    assert out.outputs["commits"] == [
        {"sha": fix, "type": "fix", "scope": None, "subject": "rounding of totals", "breaking": False,
         "issues": ["#9"]},
        {"sha": feat, "type": "feat", "scope": "cart", "subject": "pay by card (#12)", "breaking": False,
         "issues": ["#12"]},
    ]
    assert out.outputs["notes"] == (
        f"### Features\n\n- **cart:** pay by card (#12) ({feat[:7]})\n\n"
        f"### Bug fixes\n\n- rounding of totals ({fix[:7]}) (#9)\n"
    )
    assert out.outputs["non_conforming"] == []


def test_breaking_changes_come_first_with_the_footer_text(tester: StepTester, workspace: Path) -> None:
    repo = build(workspace, "breaking-footer")
    sha = git(repo, "rev-parse", "HEAD")
    out = tester.run("release/analyze-commits", {"repo": "app"})
    assert out.outputs["commits"][0]["breaking"] is True
    assert out.outputs["notes"].startswith(
        f"### Breaking changes\n\n- the config file moved to ~/.shop.toml ({sha[:7]})\n\n### Bug fixes\n"
    )


def test_non_conforming_commits_are_listed_not_fatal(tester: StepTester, workspace: Path) -> None:
    repo = build(workspace, "nothing-releasable")
    out = tester.run("release/analyze-commits", {"repo": "app"})
    assert out.ok and out.outputs["part"] == "none" and out.outputs["notes"] == ""
    assert out.outputs["non_conforming"] == [{"sha": git(repo, "rev-parse", "HEAD~1"), "subject": "wip things"}]
    assert [c["type"] for c in out.outputs["commits"]] == ["ci", "chore", "docs"]


def test_reverts_are_listed_under_their_heading(tester: StepTester, workspace: Path) -> None:
    build(workspace, "revert")
    out = tester.run("release/analyze-commits", {"repo": "app"})
    assert "### Reverts\n\n- feat: experimental export (" in out.outputs["notes"]
    assert out.outputs["commits"][0]["type"] == "revert"


def test_merge_commits_are_skipped_and_their_branch_analysed(tester: StepTester, workspace: Path) -> None:
    repo, _ = make_repo(workspace, "app", {"README.md": "app\n"})
    tag(repo, "v1.0.0")
    git(repo, "switch", "--quiet", "-c", "topic")
    commit(repo, "feat: from a branch", "src/topic.py")
    git(repo, "switch", "--quiet", "main")
    commit(repo, "fix: on main")
    git(repo, "merge", "--quiet", "--no-ff", "-m", "Merge branch 'topic'", "topic")
    out = tester.run("release/analyze-commits", {"repo": "app"})
    assert out.outputs["next_version"] == "1.1.0"
    assert {c["subject"] for c in out.outputs["commits"]} == {"from a branch", "on main"}
    assert out.outputs["non_conforming"] == []


def test_since_path_types_and_tag_pattern(tester: StepTester, workspace: Path) -> None:
    repo, _ = make_repo(workspace, "mono", {"README.md": "mono\n"})
    tag(repo, "shop-1.0.0")
    tag(repo, "v9.9.9")  # another pattern: ignored
    commit(repo, "feat: in the shop", "shop/a.py")
    commit(repo, "feat: elsewhere", "other/b.py")
    commit(repo, "docs(shop): explain", "shop/README.md")
    config = {"repo": "mono", "tag_pattern": "shop-{version}", "path": "shop"}
    out = tester.run("release/analyze-commits", config)
    assert out.outputs["since"] == "shop-1.0.0" and out.outputs["next_version"] == "1.1.0"
    assert [c["subject"] for c in out.outputs["commits"]] == ["explain", "in the shop"]
    types = [{"type": "docs", "heading": "Documentation", "part": "patch"}]
    out = tester.run("release/analyze-commits", {**config, "types": types})
    assert out.outputs["part"] == "patch"
    assert out.outputs["notes"].startswith("### Documentation\n\n- **shop:** explain")
    out = tester.run("release/analyze-commits", {"repo": "mono", "since": "HEAD~1"})
    assert out.outputs["previous_version"] == "9.9.9" and [c["subject"] for c in out.outputs["commits"]] == ["explain"]


def test_newest_release_tag_wins_and_prereleases_are_not_releases(tester: StepTester, workspace: Path) -> None:
    repo, _ = make_repo(workspace, "app", {"README.md": "app\n"})
    tag(repo, "v1.9.0")
    commit(repo, "fix: a")
    tag(repo, "v1.10.0")
    commit(repo, "feat: b")
    tag(repo, "v2.0.0-rc.1")
    commit(repo, "fix: c")
    out = tester.run("release/analyze-commits", {"repo": "app"})
    assert out.outputs["since"] == "v1.10.0" and out.outputs["next_version"] == "1.11.0"


def test_bad_config_is_a_config_or_denied_error(tester: StepTester, workspace: Path) -> None:
    make_repo(workspace, "app", {"README.md": "app\n"})
    out = tester.run("release/analyze-commits", {"repo": "app", "tag_pattern": "v"})
    assert out.failure is not None and out.failure.kind == "config"
    out = tester.run("release/analyze-commits", {"repo": "app", "since": "--output=/tmp/x"})
    assert out.failure is not None and out.failure.kind == "denied"
    out = tester.run("release/analyze-commits", {"repo": "app", "since": "nope"})
    assert out.failure is not None and out.failure.kind == "config"
    out = tester.run("release/analyze-commits", {"repo": "app", "path": "../elsewhere"})
    assert out.failure is not None and out.failure.kind == "denied"


def test_dry_run_computes_the_same_and_changes_nothing(tester: StepTester, workspace: Path) -> None:
    repo = build(workspace, "feature")
    before = snapshot(repo)
    real = tester.run("release/analyze-commits", {"repo": "app"})
    dry = tester.run("release/analyze-commits", {"repo": "app"}, dry_run=True)
    assert dry.plan == [] and {k: v for k, v in dry.outputs.items() if k != "plan"} == real.outputs
    assert snapshot(repo) == before


def test_footers_give_issues_and_a_bang_without_footer_is_its_own_breaking_note(
    tester: StepTester, workspace: Path
) -> None:
    repo = build(workspace, "scoped-fix-with-footers")
    sha = git(repo, "rev-parse", "HEAD")
    out = tester.run("release/analyze-commits", {"repo": "app"})
    assert out.outputs["commits"] == [{"sha": sha, "type": "fix", "scope": "db", "subject": "rename the table",
                                       "breaking": True, "issues": ["#33"]}]  # fmt: skip
    assert out.outputs["notes"] == (
        f"### Breaking changes\n\n- **db:** rename the table ({sha[:7]}) (#33)\n\n"
        f"### Bug fixes\n\n- **db:** rename the table ({sha[:7]}) (#33)\n"
    )
