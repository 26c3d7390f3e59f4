"""The undo steps of compensation, git/delete-tag and git/reset-to, on real repositories with a bare remote."""

from __future__ import annotations

from pathlib import Path

from vwmp_sdk.testing import StepTester
from vwmp_testkit.git import git


def test_delete_tag_deletes_it_locally_and_leaves_a_remote_without_it_as_it_is(
        tester: StepTester, repo: tuple[Path, Path]) -> None:
    work, remote = repo
    made = tester.run("git/tag", {"repo": "app", "name": "v1.0.0"})
    remote_refs = git(remote, "for-each-ref")
    out = tester.run("git/delete-tag", {"repo": "app", "name": "v1.0.0", "sha": made.outputs["sha"]})
    assert out.ok, out.failure
    assert out.outputs == {"deleted_local": True, "deleted_remote": False}
    assert git(work, "tag", "--list") == ""
    assert git(remote, "for-each-ref") == remote_refs
    again = tester.run("git/delete-tag", {"repo": "app", "name": "v1.0.0"})  # a redelivery: already gone
    assert again.ok and again.outputs == {"deleted_local": False, "deleted_remote": False}


def test_delete_tag_deletes_a_pushed_tag_on_the_remote_too(tester: StepTester, repo: tuple[Path, Path]) -> None:
    work, remote = repo
    made = tester.run("git/tag", {"repo": "app", "name": "v2.0.0"})
    assert tester.run("git/push", {"repo": "app", "refs": ["main"], "tags": ["v2.0.0"]}).ok
    plan = tester.run("git/delete-tag", {"repo": "app", "name": "v2.0.0"}, dry_run=True)
    assert plan.ok and git(remote, "tag", "--list") == "v2.0.0"  # a dry run changes nothing
    out = tester.run("git/delete-tag", {"repo": "app", "name": "v2.0.0", "sha": made.outputs["sha"]})
    assert out.ok, out.failure
    assert out.outputs == {"deleted_local": True, "deleted_remote": True}
    assert git(remote, "tag", "--list") == "" and git(work, "tag", "--list") == ""


def test_delete_tag_leaves_a_tag_made_again_elsewhere_and_refuses_option_like_names(
        tester: StepTester, repo: tuple[Path, Path]) -> None:
    work, _ = repo
    first = git(work, "rev-parse", "HEAD")
    git(work, "commit", "-q", "--allow-empty", "-m", "next")
    git(work, "tag", "-a", "-m", "v3", "v3.0.0")  # at the new commit
    out = tester.run("git/delete-tag", {"repo": "app", "name": "v3.0.0", "sha": first})
    assert not out.ok and out.failure.kind == "denied" and "made again" in out.failure.message
    assert git(work, "tag", "--list") == "v3.0.0"
    bad = tester.run("git/delete-tag", {"repo": "app", "name": "--all"})
    assert not bad.ok and bad.failure.kind == "denied"
    sneaky = tester.run("git/delete-tag", {"repo": "app", "name": "v3.0.0", "remote": "--upload-pack=touch x"})
    assert not sneaky.ok and sneaky.failure.kind == "denied"


def test_reset_to_moves_an_unpushed_branch_back_to_the_commit_before(
        tester: StepTester, repo: tuple[Path, Path]) -> None:
    work, remote = repo
    before = git(work, "rev-parse", "HEAD")
    (work / "README.md").write_text("bumped\n")
    made = tester.run("git/commit", {"repo": "app", "message": "release 1.1", "paths": ["README.md"]})
    assert made.ok, made.failure
    out = tester.run("git/reset-to", {"repo": "app", "commit": made.outputs["sha"]})
    assert out.ok, out.failure
    assert out.outputs == {"branch": "main", "head": before, "reset": True}
    assert git(work, "rev-parse", "HEAD") == before and (work / "README.md").read_text() == "hello\n"
    again = tester.run("git/reset-to", {"repo": "app", "commit": made.outputs["sha"]})  # a redelivery
    assert again.ok and again.outputs["reset"] is False
    assert git(remote, "rev-parse", "main") == before


def test_reset_to_refuses_a_pushed_commit_unless_forced_and_never_pushes(
        tester: StepTester, repo: tuple[Path, Path]) -> None:
    work, remote = repo
    before = git(work, "rev-parse", "HEAD")
    git(work, "commit", "-q", "--allow-empty", "-m", "release")
    sha = git(work, "rev-parse", "HEAD")
    git(work, "push", "-q", "origin", "main")
    refused = tester.run("git/reset-to", {"repo": "app", "commit": sha})
    assert not refused.ok and refused.failure.kind == "denied" and "was pushed" in refused.failure.message
    assert git(work, "rev-parse", "HEAD") == sha
    forced = tester.run("git/reset-to", {"repo": "app", "commit": sha, "force": True})
    assert forced.ok, forced.failure
    assert git(work, "rev-parse", "HEAD") == before and git(remote, "rev-parse", "main") == sha


def test_reset_to_refuses_when_commits_came_after_it(tester: StepTester, repo: tuple[Path, Path]) -> None:
    work, _ = repo
    git(work, "commit", "-q", "--allow-empty", "-m", "ours")
    sha = git(work, "rev-parse", "HEAD")
    git(work, "commit", "-q", "--allow-empty", "-m", "later")
    out = tester.run("git/reset-to", {"repo": "app", "commit": sha})
    assert not out.ok and out.failure.kind == "denied" and "commits were made after it" in out.failure.message
    bad = tester.run("git/reset-to", {"repo": "app", "commit": "--hard"})
    assert not bad.ok and bad.failure.kind == "denied"
