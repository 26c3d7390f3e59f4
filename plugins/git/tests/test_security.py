"""Hostile configs are refused (kind denied/config) and change nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from vwmp_sdk.testing import StepTester
from vwmp_testkit.git import git, snapshot


@pytest.fixture
def guarded(repo: tuple[Path, Path], tmp_path: Path):
    work, remote = repo
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret\n")
    before = (snapshot(work), snapshot(remote), snapshot(outside))
    yield work
    assert (snapshot(work), snapshot(remote), snapshot(outside)) == before
    assert not Path("/tmp/pwned").exists()


def _refused(out) -> None:
    assert out.failure is not None, out.outputs
    assert out.failure.kind in ("denied", "config"), out.failure


@pytest.mark.parametrize("repo_value", ["../outside", "/etc", "app/../../outside", "link"])
def test_repo_outside_the_workspace_is_denied(
    tester: StepTester, guarded: Path, repo_value: str, tmp_path: Path
) -> None:
    (guarded.parent / "link").symlink_to(tmp_path / "outside")
    for step_type, extra in [("git/status", {}), ("git/tag", {"name": "v1"}), ("git/commit", {"message": "m"})]:
        out = tester.run(step_type, {"repo": repo_value, **extra})
        assert out.failure is not None and out.failure.kind == "denied", (step_type, repo_value, out.failure)


@pytest.mark.parametrize("name", ["-d", "--delete", "a..b", "x.lock", "-f", "--force", "a b", "v1^{}"])
def test_hostile_tag_names_are_denied(tester: StepTester, guarded: Path, name: str) -> None:
    out = tester.run("git/tag", {"repo": "app", "name": name})
    assert out.failure is not None and out.failure.kind == "denied", out.failure


@pytest.mark.parametrize("name", ["-f", "--force", "a..b", "x.lock", "-D"])
def test_hostile_branch_names_are_denied(tester: StepTester, guarded: Path, name: str) -> None:
    for action in ("create", "checkout", "delete"):
        out = tester.run("git/branch", {"repo": "app", "name": name, "action": action})
        assert out.failure is not None and out.failure.kind == "denied", out.failure


def test_hostile_start_point_and_ref_are_denied(tester: StepTester, guarded: Path) -> None:
    _refused(tester.run("git/branch", {"repo": "app", "name": "b", "action": "create", "start_point": "--orphan"}))
    _refused(tester.run("git/tag", {"repo": "app", "name": "v1", "ref": "-d"}))


def test_ext_remote_url_is_denied_before_git_runs(tester: StepTester, guarded: Path) -> None:
    git(guarded, "remote", "add", "evil", "ext::sh -c touch% /tmp/pwned")
    git(guarded, "config", "remote.origin.pushurl", "ext::sh -c touch% /tmp/pwned")
    for remote in ("evil", "origin"):
        out = tester.run("git/push", {"repo": "app", "remote": remote, "refs": ["main"]})
        assert out.failure is not None and out.failure.kind == "denied", out.failure
    git(guarded, "remote", "remove", "evil")
    git(guarded, "config", "--unset", "remote.origin.pushurl")


def test_remote_given_as_url_or_option_is_refused(tester: StepTester, guarded: Path) -> None:
    for remote in ("ext::sh -c touch% /tmp/pwned", "--receive-pack=touch /tmp/pwned", "/tmp/x"):
        _refused(tester.run("git/push", {"repo": "app", "remote": remote}))


def test_hostile_push_refs_are_refused(tester: StepTester, guarded: Path) -> None:
    for refs in (["+main"], ["main:refs/heads/other"], ["--force"], ["--delete"], [":main"]):
        _refused(tester.run("git/push", {"repo": "app", "refs": refs}))
    _refused(tester.run("git/push", {"repo": "app", "tags": ["--delete"]}))


@pytest.mark.parametrize("path", ["../outside/secret.txt", "/etc/passwd", ".git/config", "link/secret.txt"])
def test_stage_paths_outside_the_repo_are_denied(tester: StepTester, guarded: Path, path: str, tmp_path: Path) -> None:
    (guarded / "link").symlink_to(tmp_path / "outside")
    try:
        for step_type, extra in [("git/stage", {}), ("git/commit", {"message": "m"})]:
            out = tester.run(step_type, {"repo": "app", "paths": [path], **extra})
            assert out.failure is not None and out.failure.kind == "denied", (path, out.failure)
    finally:
        (guarded / "link").unlink()


def test_pathspec_magic_is_a_literal_name(tester: StepTester, guarded: Path) -> None:
    out = tester.run("git/stage", {"repo": "app", "paths": [":(top)*"]})
    assert out.failure is not None  # no file literally named ':(top)*'; nothing staged


def test_hooks_in_the_repository_never_run(tester: StepTester, repo: tuple[Path, Path], tmp_path: Path) -> None:
    work, _ = repo
    marker = tmp_path / "hook-ran"
    hook = work / ".git" / "hooks" / "pre-commit"
    hook.write_text(f"#!/bin/sh\ntouch {marker}\n")
    hook.chmod(0o755)
    git(work, "config", "core.hooksPath", str(work / ".git" / "hooks"))
    (work / "README.md").write_text("x\n")
    out = tester.run("git/commit", {"repo": "app", "message": "m", "paths": ["README.md"]})
    assert out.ok, out.failure
    assert not marker.exists()


def test_not_a_repository_is_a_config_error(tester: StepTester, workspace: Path) -> None:
    (workspace / "plain").mkdir()
    out = tester.run("git/status", {"repo": "plain"})
    assert out.failure is not None and out.failure.kind == "config"
