"""git steps against real repositories with a bare remote."""

from __future__ import annotations

from pathlib import Path

from vwmp_plugin_git import plugin
from vwmp_sdk.testing import StepTester
from vwmp_testkit.git import git, snapshot


def test_status_reports_branch_head_clean_and_ahead(tester: StepTester, repo: tuple[Path, Path]) -> None:
    work, _ = repo
    out = tester.run("git/status", {"repo": "app"})
    assert out.ok, out.failure
    assert out.outputs["branch"] == "main"
    assert out.outputs["head"] == git(work, "rev-parse", "HEAD")
    assert out.outputs["clean"] is True
    assert (out.outputs["ahead"], out.outputs["behind"]) == (0, 0)
    (work / "README.md").write_text("changed\n")
    git(work, "commit", "-qam", "local")
    out = tester.run("git/status", {"repo": "app"})
    assert out.outputs["ahead"] == 1 and out.outputs["clean"] is True
    (work / "new.txt").write_text("x")
    assert tester.run("git/status", {"repo": "app"}).outputs["clean"] is False


def test_stage_then_commit_uses_platform_author(tester: StepTester, repo: tuple[Path, Path]) -> None:
    work, _ = repo
    (work / "README.md").write_text("changed\n")
    (work / "docs").mkdir()
    (work / "docs" / "a.md").write_text("a\n")
    (work / "src" / "app.py").unlink()
    staged = tester.run("git/stage", {"repo": "app", "paths": ["README.md", "docs", "src/app.py"]})
    assert staged.ok, staged.failure
    assert sorted(staged.outputs["staged"]) == ["README.md", "docs/a.md", "src/app.py"]
    out = tester.run("git/commit", {"repo": "app", "message": "Release 1.0"})
    assert out.ok, out.failure
    assert out.outputs["sha"] == git(work, "rev-parse", "HEAD")
    assert (
        git(work, "log", "-1", "--format=%an <%ae>|%cn|%s") == "Release Bot <bot@vwmp.invalid>|Release Bot|Release 1.0"
    )
    assert git(work, "status", "--porcelain") == ""


def test_without_a_platform_author_the_repositorys_own_identity_commits_and_tags(
    workspace: Path, repo: tuple[Path, Path]
) -> None:
    work, _ = repo
    bare = StepTester(plugin, workspace_root=workspace, platform_config={})
    git(work, "config", "user.name", "Grace Hopper")
    git(work, "config", "user.email", "grace@example.com")
    (work / "README.md").write_text("changed\n")
    assert bare.run("git/commit", {"repo": "app", "message": "Release 1.1", "paths": ["README.md"]}).ok
    assert git(work, "log", "-1", "--format=%an <%ae>|%cn <%ce>") == (
        "Grace Hopper <grace@example.com>|Grace Hopper <grace@example.com>")
    assert bare.run("git/tag", {"repo": "app", "name": "v1.1.0", "message": "1.1.0"}).ok
    assert git(work, "for-each-ref", "--format=%(taggername) %(taggeremail)", "refs/tags/v1.1.0") == (
        "Grace Hopper <grace@example.com>")


def test_with_no_identity_anywhere_commits_are_made_as_vwmp(workspace: Path, repo: tuple[Path, Path]) -> None:
    work, _ = repo
    assert "user.name" not in git(work, "config", "--list"), "the test repository has no identity of its own"
    (work / "README.md").write_text("changed\n")
    out = StepTester(plugin, workspace_root=workspace, platform_config={}).run(
        "git/commit", {"repo": "app", "message": "Release 1.2", "paths": ["README.md"]})
    assert out.ok, out.failure
    assert git(work, "log", "-1", "--format=%an <%ae>") == "VWMP <vwmp@localhost>"


def test_commit_with_paths_commits_only_them_and_is_idempotent(tester: StepTester, repo: tuple[Path, Path]) -> None:
    work, _ = repo
    (work / "README.md").write_text("changed\n")
    (work / "other.txt").write_text("not part of it\n")
    config = {"repo": "app", "message": "docs", "paths": ["README.md"], "author_name": "Ada", "author_email": "a@x.io"}
    first = tester.run("git/commit", config)
    assert first.ok, first.failure
    assert git(work, "show", "--name-only", "--format=%an", "HEAD").split() == ["Ada", "README.md"]
    again = tester.run("git/commit", config, attempt=2)
    assert again.ok and again.outputs["sha"] == first.outputs["sha"]
    other = tester.run("git/commit", {"repo": "app", "message": "something else", "paths": ["README.md"]})
    assert other.failure is not None and "nothing to commit" in other.failure.message


def test_tag_is_annotated_and_idempotent(tester: StepTester, repo: tuple[Path, Path]) -> None:
    work, _ = repo
    out = tester.run("git/tag", {"repo": "app", "name": "v1.0.0", "message": "Release 1.0.0"})
    assert out.ok, out.failure
    head = git(work, "rev-parse", "HEAD")
    assert out.outputs == {"name": "v1.0.0", "sha": head}
    assert git(work, "cat-file", "-t", "v1.0.0") == "tag"
    assert git(work, "tag", "-l", "--format=%(contents:subject)|%(taggername)", "v1.0.0") == "Release 1.0.0|Release Bot"
    assert tester.run("git/tag", {"repo": "app", "name": "v1.0.0"}).ok
    (work / "README.md").write_text("next\n")
    git(work, "commit", "-qam", "next")
    clash = tester.run("git/tag", {"repo": "app", "name": "v1.0.0"})
    assert clash.failure is not None and clash.failure.kind == "config"
    assert "already exists" in clash.failure.message
    at_ref = tester.run("git/tag", {"repo": "app", "name": "v0.9", "ref": "HEAD~1"})
    assert at_ref.outputs["sha"] == head


def test_push_branch_and_tag_reach_the_bare_remote(tester: StepTester, repo: tuple[Path, Path]) -> None:
    work, remote = repo
    (work / "README.md").write_text("release\n")
    git(work, "commit", "-qam", "release")
    git(work, "tag", "-a", "-m", "v2", "v2.0.0")
    out = tester.run("git/push", {"repo": "app", "refs": ["main"], "tags": ["v2.0.0"]})
    assert out.ok, out.failure
    assert out.outputs["pushed"] == ["refs/heads/main", "refs/tags/v2.0.0"]
    assert git(remote, "rev-parse", "main") == git(work, "rev-parse", "HEAD")
    assert git(remote, "rev-parse", "v2.0.0^{commit}") == git(work, "rev-parse", "HEAD")
    assert tester.run("git/push", {"repo": "app", "refs": ["main"], "tags": ["v2.0.0"]}).ok  # up to date


def test_push_defaults_to_current_branch(tester: StepTester, repo: tuple[Path, Path]) -> None:
    work, remote = repo
    (work / "README.md").write_text("x\n")
    git(work, "commit", "-qam", "x")
    out = tester.run("git/push", {"repo": "app"})
    assert out.ok, out.failure
    assert out.outputs["pushed"] == ["refs/heads/main"]
    assert git(remote, "rev-parse", "main") == git(work, "rev-parse", "HEAD")


def test_branch_create_checkout_delete(tester: StepTester, repo: tuple[Path, Path]) -> None:
    work, _ = repo
    assert tester.run("git/branch", {"repo": "app", "name": "release/1.0", "action": "create"}).ok
    assert tester.run("git/branch", {"repo": "app", "name": "release/1.0", "action": "create"}).ok  # idempotent
    out = tester.run("git/branch", {"repo": "app", "name": "release/1.0", "action": "checkout"})
    assert out.ok and out.outputs["branch"] == "release/1.0"
    assert git(work, "branch", "--show-current") == "release/1.0"
    busy = tester.run("git/branch", {"repo": "app", "name": "release/1.0", "action": "delete"})
    assert busy.failure is not None
    git(work, "switch", "-q", "main")
    assert tester.run("git/branch", {"repo": "app", "name": "release/1.0", "action": "delete"}).ok
    assert git(work, "branch", "--list", "release/1.0") == ""
    assert tester.run("git/branch", {"repo": "app", "name": "release/1.0", "action": "delete"}).ok


def test_dry_runs_change_nothing_and_return_plans(tester: StepTester, repo: tuple[Path, Path]) -> None:
    work, remote = repo
    (work / "README.md").write_text("changed\n")
    before, remote_before = snapshot(work), snapshot(remote)
    steps = [
        ("git/stage", {"repo": "app", "paths": ["README.md"]}, "stage"),
        ("git/commit", {"repo": "app", "message": "m", "paths": ["README.md"]}, "commit"),
        ("git/tag", {"repo": "app", "name": "v9.0.0"}, "create tag"),
        ("git/push", {"repo": "app", "refs": ["main"], "tags": ["v9.0.0"]}, "push"),
        ("git/branch", {"repo": "app", "name": "hotfix/1", "action": "create"}, "create branch"),
    ]
    for step_type, config, action in steps:
        out = tester.run(step_type, config, dry_run=True)
        assert out.ok, (step_type, out.failure)
        assert out.plan and out.plan[0]["action"] == action, (step_type, out.plan)
    push_plan = tester.run("git/push", {"repo": "app", "refs": ["main"], "tags": ["v9.0.0"]}, dry_run=True).plan
    assert [p["target"] for p in push_plan] == ["origin refs/heads/main", "origin refs/tags/v9.0.0"]
    assert tester.run("git/status", {"repo": "app"}, dry_run=True).plan == []
    assert snapshot(work) == before
    assert snapshot(remote) == remote_before


def test_push_plan_shows_the_commits_and_diff_the_push_would_publish(
    tester: StepTester, repo: tuple[Path, Path], tmp_path: Path
) -> None:
    work, remote = repo
    # a hostile repository config: an external diff and a textconv filter must never run for the plan
    proof = tmp_path / "ran"
    git(work, "config", "diff.external", f"touch {proof}")
    git(work, "config", "diff.evil.textconv", f"touch {proof}")
    (work / ".gitattributes").write_text("*.py diff=evil\n")
    (work / "README.md").write_text("hello\nrelease 2.0\n")
    (work / "src" / "app.py").write_text("x = 2\n")
    git(work, "add", "--all")
    git(work, "commit", "-qm", "Release 2.0.0")
    git(work, "tag", "-a", "-m", "Release 2.0.0", "v2.0.0")
    before, remote_before = snapshot(work), snapshot(remote)
    out = tester.run("git/push", {"repo": "app", "refs": ["main"], "tags": ["v2.0.0"]}, dry_run=True)
    assert out.ok, out.failure
    branch, tag = out.plan
    assert "commits not yet on origin/main" in branch["diff"]
    assert "Release 2.0.0" in branch["diff"]
    assert "--- a/README.md\n+++ b/README.md" in branch["diff"] and "+release 2.0" in branch["diff"]
    assert "-x = 1\n+x = 2" in branch["diff"]
    assert "commits not yet" not in tag["diff"]
    assert not proof.exists()
    assert (snapshot(work), snapshot(remote)) == (before, remote_before)
    # nothing new to publish: the plan stays one line
    git(work, "push", "-q", "origin", "main")
    out = tester.run("git/push", {"repo": "app", "refs": ["main"]}, dry_run=True)
    head = git(work, "rev-parse", "HEAD")
    assert out.ok and out.plan[0]["diff"].splitlines()[1:] == [f"origin has refs/heads/main now: {head}"]


def test_push_plan_shows_the_remotes_current_state_so_a_moved_remote_changes_the_plan(
    tester: StepTester, repo: tuple[Path, Path], tmp_path: Path
) -> None:
    work, remote = repo
    first = tester.run("git/push", {"repo": "app", "refs": ["main"], "tags": ["v3.0.0"]}, dry_run=True)
    assert first.ok, first.failure
    before = git(remote, "rev-parse", "refs/heads/main")
    assert f"origin has refs/heads/main now: {before}" in first.plan[0]["diff"]
    assert "origin has refs/tags/v3.0.0 now: (absent)" in first.plan[1]["diff"]
    # someone else pushes to the remote; the local clone has not fetched it
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(remote), str(other))
    git(other, "-c", "user.name=x", "-c", "user.email=x@x", "commit", "-q", "--allow-empty", "-m", "elsewhere")
    git(other, "push", "-q", "origin", "HEAD:main")
    moved = git(remote, "rev-parse", "refs/heads/main")
    second = tester.run("git/push", {"repo": "app", "refs": ["main"], "tags": ["v3.0.0"]}, dry_run=True)
    assert f"origin has refs/heads/main now: {moved}" in second.plan[0]["diff"]
    assert second.plan != first.plan
    assert git(work, "rev-parse", "refs/remotes/origin/main") == before  # read-only: nothing was fetched


def test_push_plan_says_when_the_remote_cannot_be_asked(tester: StepTester, repo: tuple[Path, Path]) -> None:
    work, remote = repo
    git(work, "remote", "set-url", "origin", str(remote) + "-gone")
    out = tester.run("git/push", {"repo": "app", "refs": ["main"]}, dry_run=True)
    assert out.ok, out.failure
    assert "origin has refs/heads/main now: (unknown:" in out.plan[0]["diff"]


def test_a_push_the_remote_refuses_pushes_nothing_and_says_which_refs_it_refused(
    tester: StepTester, repo: tuple[Path, Path], tmp_path: Path
) -> None:
    work, remote = repo
    other = tmp_path / "colleague"
    git(tmp_path, "clone", "-q", str(remote), str(other))
    git(other, "-c", "user.name=x", "-c", "user.email=x@x", "commit", "-q", "--allow-empty", "-m", "theirs")
    git(other, "push", "-q", "origin", "HEAD:main")
    theirs = git(remote, "rev-parse", "main")
    git(work, "commit", "-q", "--allow-empty", "-m", "ours")
    git(work, "tag", "v5.0.0")
    out = tester.run("git/push", {"repo": "app", "refs": ["main"], "tags": ["v5.0.0"]})
    assert not out.ok
    assert out.failure.message == (
        "git push failed: origin refused refs/heads/main [rejected] (fetch first) (the remote has commits this "
        "repository does not; pushes are never forced); nothing was pushed (atomic push), held back: "
        "refs/tags/v5.0.0")
    assert str(remote) not in out.failure.message
    assert git(remote, "rev-parse", "main") == theirs  # never forced
    assert git(remote, "tag", "--list") == ""  # atomic: the tag did not go without its branch
