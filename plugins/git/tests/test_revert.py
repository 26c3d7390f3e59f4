"""git/revert on real repositories: a revert commit that undoes an earlier one, idempotent for a
redelivery; a conflict aborts and names the files; a dry run plans without changing anything, and in a
run's scratch copy it reverts for real there; hostile input (an option, a ref name, a branch that is
not checked out) is refused before git sees it."""

from __future__ import annotations

from pathlib import Path

import pytest
from vwmp_sdk._scratch import scratch_base
from vwmp_sdk.testing import StepTester
from vwmp_testkit.git import git, snapshot


def _commit(work: Path, file: str, text: str, message: str) -> str:
    (work / file).write_text(text)
    git(work, "commit", "-q", "-am", message)
    return git(work, "rev-parse", "HEAD")


def test_revert_makes_a_commit_that_undoes_the_given_one_and_a_redelivery_changes_nothing(
        tester: StepTester, repo: tuple[Path, Path]) -> None:
    work, remote = repo
    sha = _commit(work, "README.md", "bumped\n", "release 1.1")
    remote_refs = git(remote, "for-each-ref")
    out = tester.run("git/revert", {"repo": "app", "commit": sha[:10], "branch": "main"})
    assert out.ok, out.failure
    head = git(work, "rev-parse", "HEAD")
    assert out.outputs == {"commit": head, "reverted": sha}
    assert git(work, "rev-parse", "HEAD~1") == sha and (work / "README.md").read_text() == "hello\n"
    assert f"This reverts commit {sha}." in git(work, "log", "-1", "--format=%B")
    assert git(work, "log", "-1", "--format=%an <%ae>") == "Release Bot <bot@vwmp.invalid>"
    again = tester.run("git/revert", {"repo": "app", "commit": sha})  # delivered again
    assert again.ok and again.outputs["commit"] == head
    assert git(work, "rev-parse", "HEAD") == head  # no second revert
    assert git(remote, "for-each-ref") == remote_refs  # never pushed


def test_a_conflicting_revert_is_aborted_and_names_the_files(tester: StepTester, repo: tuple[Path, Path]) -> None:
    work, _ = repo
    sha = _commit(work, "README.md", "bumped\n", "release 1.1")
    _commit(work, "README.md", "edited after\n", "later change")
    head = git(work, "rev-parse", "HEAD")
    out = tester.run("git/revert", {"repo": "app", "commit": sha})
    assert not out.ok and out.failure.kind == "denied"
    assert out.failure.message == (f"reverting {sha[:12]} (release 1.1) conflicts with later changes to README.md; "
                                   "nothing was changed (the revert was aborted)")
    assert git(work, "rev-parse", "HEAD") == head and git(work, "status", "--porcelain") == ""
    assert (work / "README.md").read_text() == "edited after\n" and not (work / ".git" / "REVERT_HEAD").exists()


def test_a_revert_that_changes_nothing_a_merge_or_a_commit_elsewhere_is_a_config_error(
        tester: StepTester, repo: tuple[Path, Path]) -> None:
    work, _ = repo
    sha = _commit(work, "README.md", "bumped\n", "release 1.1")
    _commit(work, "README.md", "hello\n", "undone by hand")
    empty = tester.run("git/revert", {"repo": "app", "commit": sha})
    assert not empty.ok and empty.failure.kind == "config" and "changes nothing" in empty.failure.message
    git(work, "switch", "-q", "-c", "side")
    side = _commit(work, "src/app.py", "x = 2\n", "on the side")
    git(work, "switch", "-q", "main")
    elsewhere = tester.run("git/revert", {"repo": "app", "commit": side})
    assert not elsewhere.ok and elsewhere.failure.message == f"commit {side[:12]} is not on main"
    git(work, "merge", "-q", "--no-ff", "-m", "merge side", "side")
    merge = tester.run("git/revert", {"repo": "app", "commit": git(work, "rev-parse", "HEAD")})
    assert not merge.ok and "is a merge commit" in merge.failure.message


@pytest.mark.parametrize("commit", ["--foo", "main", "HEAD~1", "abc", "deadbeef --abort", "a" * 65])
def test_a_commit_that_is_not_a_hex_sha_is_refused_by_the_schema(
        tester: StepTester, repo: tuple[Path, Path], commit: str) -> None:
    work, _ = repo
    before = snapshot(work)
    out = tester.run("git/revert", {"repo": "app", "commit": commit})
    assert not out.ok and out.failure.kind == "config" and "commit" in out.failure.message
    assert snapshot(work) == before


def test_a_hostile_branch_a_branch_not_checked_out_or_a_ref_spelled_in_hex_is_refused(
        tester: StepTester, repo: tuple[Path, Path]) -> None:
    work, _ = repo
    sha = _commit(work, "README.md", "bumped\n", "release 1.1")
    before = snapshot(work)
    option = tester.run("git/revert", {"repo": "app", "commit": sha, "branch": "--orphan"})
    assert not option.ok and option.failure.kind == "denied"
    other = tester.run("git/revert", {"repo": "app", "commit": sha, "branch": "release"})
    assert not other.ok and other.failure.message == (
        "branch 'release' is not checked out (HEAD is on 'main'); check it out first")
    git(work, "branch", "beef", "HEAD~1")  # a branch whose name is hex: never taken for the commit
    ref = tester.run("git/revert", {"repo": "app", "commit": "beef"})
    assert not ref.ok and ref.failure.message == "commit 'beef' does not name a commit of this repository"
    git(work, "branch", "-D", "beef")
    before = snapshot(work)
    (work / "README.md").write_text("uncommitted\n")
    dirty = tester.run("git/revert", {"repo": "app", "commit": sha})
    assert not dirty.ok and dirty.failure.kind == "denied"
    assert "uncommitted changes to README.md" in dirty.failure.message
    (work / "README.md").write_text("bumped\n")
    assert snapshot(work) == before


def test_a_dry_run_plans_the_revert_and_a_scratch_dry_run_makes_it_in_the_copy(
        tester: StepTester, repo: tuple[Path, Path]) -> None:
    work, remote = repo
    sha = _commit(work, "README.md", "bumped\n", "release 1.1")
    before, remote_before = snapshot(work), snapshot(remote)
    planned = tester.run("git/revert", {"repo": "app", "commit": sha}, dry_run=True)
    assert planned.ok, planned.failure
    assert planned.outputs["plan"][0]["action"] == "revert commit"
    assert planned.outputs["plan"][0]["diff"].startswith(f"revert {sha} (release 1.1) on main")
    exact = tester.run("git/revert", {"repo": "app", "commit": sha}, dry_run=True, scratch=True, run_id="dry-r")
    assert exact.ok, exact.failure
    copy = scratch_base(tester.workspace_root) / "dry-r" / "app"
    assert exact.outputs["commit"] == git(copy, "rev-parse", "HEAD") != sha
    assert exact.outputs["plan"][0]["diff"].startswith(f"commit {exact.outputs['commit']} reverts {sha}")
    assert (copy / "README.md").read_text() == "hello\n"
    assert (snapshot(work), snapshot(remote)) == (before, remote_before)  # the real repository is untouched
