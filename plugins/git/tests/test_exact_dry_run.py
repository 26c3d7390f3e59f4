"""Exact dry runs of git steps: stage, commit and tag really run in the run's scratch copy.

The plan then carries the real commit, its tree and the tag's target; a step whose real run fails
fails the same way in the dry run; the push asks the real remote (`--dry-run`) and changes nothing.
"""

from __future__ import annotations

from pathlib import Path

from vwmp_sdk._scratch import scratch_base
from vwmp_sdk.testing import StepTester
from vwmp_testkit.git import git, snapshot

RUN = "dry-1"


def _dry(tester: StepTester, step_type: str, config: dict) -> dict:
    outcome = tester.run(step_type, config, dry_run=True, scratch=True, run_id=RUN)
    assert outcome.ok, outcome.failure
    return outcome.outputs


def test_a_dry_release_commits_and_tags_in_the_copy_with_real_shas(tester: StepTester, repo: tuple[Path, Path]) -> None:
    work, remote = repo
    (work / "README.md").write_text("release notes\n")
    before, remote_before = snapshot(work), snapshot(remote)

    staged = _dry(tester, "git/stage", {"repo": "app", "paths": ["README.md"]})
    assert staged["plan"] == [{"action": "stage", "target": "README.md"}]
    committed = _dry(tester, "git/commit", {"repo": "app", "message": "Release 1.0"})
    copy = scratch_base(tester.workspace_root) / RUN / "app"
    assert committed["sha"] == git(copy, "rev-parse", "HEAD") != git(work, "rev-parse", "HEAD")
    tree = git(copy, "rev-parse", "HEAD^{tree}")
    assert f"commit {committed['sha']} (tree {tree})" in committed["plan"][0]["diff"]
    assert "files: README.md" in committed["plan"][0]["diff"]
    tagged = _dry(tester, "git/tag", {"repo": "app", "name": "v1.0.0"})
    assert tagged["sha"] == committed["sha"]
    assert tagged["plan"][0]["diff"].startswith(f"tag v1.0.0 -> {committed['sha']}")
    pushed = _dry(tester, "git/push", {"repo": "app", "refs": ["main"], "tags": ["v1.0.0"]})
    assert [item["target"] for item in pushed["plan"]] == ["origin refs/heads/main", "origin refs/tags/v1.0.0"]
    assert committed["sha"] in pushed["plan"][0]["diff"]

    assert snapshot(work) == before and snapshot(remote) == remote_before  # nothing real changed

    # The real run then commits the same tree.
    for step_type, config in (("git/stage", {"repo": "app", "paths": ["README.md"]}),
                              ("git/commit", {"repo": "app", "message": "Release 1.0"})):
        assert tester.run(step_type, config).ok
    assert git(work, "rev-parse", "HEAD^{tree}") == tree


def test_a_commit_with_nothing_staged_fails_in_the_dry_run_as_in_the_real_one(
    tester: StepTester, repo: tuple[Path, Path]
) -> None:
    config = {"repo": "app", "message": "Nothing here"}
    dry = tester.run("git/commit", config, dry_run=True, scratch=True, run_id=RUN)
    real = tester.run("git/commit", config)
    assert dry.failure is not None and real.failure is not None
    assert (dry.failure.kind, dry.failure.message) == (real.failure.kind, real.failure.message)
    assert "nothing to commit" in dry.failure.message


def test_a_tag_that_exists_at_another_commit_fails_in_the_dry_run(tester: StepTester, repo: tuple[Path, Path]) -> None:
    work, _ = repo
    git(work, "tag", "v1.0.0")
    (work / "README.md").write_text("next\n")
    _dry(tester, "git/stage", {"repo": "app", "paths": ["README.md"]})
    _dry(tester, "git/commit", {"repo": "app", "message": "Next"})
    outcome = tester.run("git/tag", {"repo": "app", "name": "v1.0.0"}, dry_run=True, scratch=True, run_id=RUN)
    assert outcome.failure is not None and outcome.failure.kind == "config"
    assert "tag 'v1.0.0' already exists at" in outcome.failure.message


def test_a_push_the_remote_would_refuse_fails_in_the_dry_run(tester: StepTester, repo: tuple[Path, Path],
                                                             tmp_path: Path) -> None:
    work, remote = repo
    other = tmp_path / "other"
    git(tmp_path, "clone", "--quiet", str(remote), str(other))
    (other / "README.md").write_text("someone else\n")
    git(other, "commit", "-qam", "elsewhere")
    git(other, "push", "--quiet", "origin", "main")
    remote_before = snapshot(remote)
    (work / "README.md").write_text("ours\n")
    _dry(tester, "git/stage", {"repo": "app", "paths": ["README.md"]})
    _dry(tester, "git/commit", {"repo": "app", "message": "Ours"})
    dry = tester.run("git/push", {"repo": "app", "refs": ["main"]}, dry_run=True, scratch=True, run_id=RUN)
    assert dry.failure is not None and dry.failure.kind == "error"
    assert "origin refused refs/heads/main" in dry.failure.message and "pushes are never forced" in dry.failure.message
    assert snapshot(remote) == remote_before
