"""A hostile repository cannot make a git step run a program of its choosing.

The repository's own `.git/config` (and a file it includes) points every program git would run at a
script that writes a marker file: hooks (`core.hooksPath`), `core.fsmonitor`, a `.gitattributes` filter
(clean, smudge, process), diff textconv and external diff, a merge driver, the remote's
`receivepack`/`uploadpack`, alternate-refs command, credential helper, pager, editor, askpass and gpg
program; its bare remote has hooks too. Every git step is run against it, dry and real, and the marker
must never appear. Identity values with line breaks are refused; `=` in them is just a character.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from vwmp_plugin_git import plugin
from vwmp_sdk.testing import StepTester
from vwmp_testkit.git import git

HOOKS = (
    "pre-commit", "prepare-commit-msg", "commit-msg", "post-commit", "post-checkout", "reference-transaction",
    "pre-push", "post-index-change", "pre-auto-gc", "post-rewrite", "pre-receive", "update", "post-receive",
    "post-update", "proc-receive", "push-to-checkout",
)  # fmt: skip


@pytest.fixture
def marker(repo: tuple[Path, Path], tmp_path: Path) -> Path:
    """Arm the repository and its remote; the file every hostile program would write to."""
    work, remote = repo
    marker = tmp_path / "ran"
    evil = tmp_path / "evil.sh"
    evil.write_text(f'#!/bin/sh\necho "$(basename "$0") $*" >> {marker}\ncat >/dev/null 2>&1 || true\n')
    evil.chmod(0o755)
    for hooks in (work / ".git" / "hooks", remote / "hooks"):
        hooks.mkdir(exist_ok=True)
        for name in HOOKS:
            (hooks / name).symlink_to(evil)
    git(remote, "config", "core.hooksPath", str(remote / "hooks"))
    settings = {
        "core.hooksPath": str(work / ".git" / "hooks"),
        "core.fsmonitor": f"{evil} fsmonitor",
        "filter.evil.clean": f"{evil} clean",
        "filter.evil.smudge": f"{evil} smudge",
        "filter.evil.process": f"{evil} process",
        "filter.evil.required": "true",
        "diff.evil.textconv": f"{evil} textconv",
        "diff.evil.command": f"{evil} diff-command",
        "diff.external": f"{evil} external-diff",
        "merge.evil.driver": f"{evil} merge-driver",
        "remote.origin.receivepack": f"{evil} receive-pack",
        "remote.origin.uploadpack": f"{evil} upload-pack",
        "core.alternateRefsCommand": f"{evil} alternate-refs",
        "credential.helper": f"!{evil} credential",
        "core.pager": f"{evil} pager",
        "core.editor": f"{evil} editor",
        "core.askPass": f"{evil} askpass",
        "sequence.editor": f"{evil} sequence-editor",
        "gpg.program": f"{evil} gpg",
        "core.sshCommand": f"{evil} ssh",
        "core.gitProxy": f"{evil} proxy",
    }
    for key, value in settings.items():
        git(work, "config", key, value)
    included = tmp_path / "included.gitconfig"  # a filter defined only in an included file
    included.write_text(f'[filter "hidden.one"]\n\tclean = {evil} included-clean\n\tsmudge = {evil} included-smudge\n')
    git(work, "config", "include.path", str(included))
    (work / ".gitattributes").write_text("* filter=evil diff=evil merge=evil\n*.py filter=hidden.one\n")
    (work / ".git" / "info").mkdir(exist_ok=True)
    (work / ".git" / "info" / "attributes").write_text("*.md filter=evil diff=evil\n")
    return marker


def _clean(marker: Path, what: str) -> None:
    ran = marker.read_text() if marker.exists() else ""
    assert not ran, f"{what} ran a program of the repository: {ran}"


def _ok(out, marker: Path, what: str) -> None:  # type: ignore[no-untyped-def]
    _clean(marker, what)
    assert out.ok, (what, out.failure)


def test_no_git_step_runs_a_program_of_a_hostile_repository(
    tester: StepTester, repo: tuple[Path, Path], marker: Path
) -> None:
    work, remote = repo
    (work / "README.md").write_text("changed\n")
    (work / "src" / "app.py").write_text("x = 2\n")
    _ok(tester.run("git/status", {"repo": "app"}), marker, "git/status")
    for dry in (True, False):
        _ok(tester.run("git/stage", {"repo": "app", "paths": ["README.md", ".gitattributes"]}, dry_run=dry),
            marker, f"git/stage dry_run={dry}")
    commit = {"repo": "app", "message": "hostile", "paths": ["README.md", "src/app.py", ".gitattributes"]}
    _ok(tester.run("git/commit", commit, dry_run=True), marker, "git/commit dry run")
    out = tester.run("git/commit", commit)
    _ok(out, marker, "git/commit")
    sha = out.outputs["sha"]
    _ok(tester.run("git/tag", {"repo": "app", "name": "v1.0.0"}), marker, "git/tag")
    for action in ("create", "checkout"):
        _ok(tester.run("git/branch", {"repo": "app", "name": "side", "action": action}), marker, f"git/branch {action}")
    (work / "README.md").write_text("on side\n")
    _ok(tester.run("git/commit", {"repo": "app", "message": "side", "paths": ["README.md"]}), marker, "second commit")
    _ok(tester.run("git/branch", {"repo": "app", "name": "main", "action": "checkout"}), marker, "checkout main")
    assert (work / "README.md").read_text() == "changed\n"  # checked out by git itself, no smudge filter
    push = {"repo": "app", "refs": ["main", "side"], "tags": ["v1.0.0"]}
    _ok(tester.run("git/push", push, dry_run=True), marker, "git/push dry run")
    _ok(tester.run("git/push", push), marker, "git/push")
    assert git(remote, "rev-parse", "refs/heads/main") == sha
    _ok(tester.run("git/branch", {"repo": "app", "name": "gone", "action": "create"}), marker, "git/branch create")
    _ok(tester.run("git/branch", {"repo": "app", "name": "gone", "action": "delete"}), marker, "git/branch delete")
    # The commit holds the file as written: no clean filter changed it.
    assert git(work, "-c", "filter.evil.clean=", "-c", "filter.evil.smudge=", "-c", "filter.evil.process=",
               "-c", "filter.evil.required=false", "show", f"{sha}:src/app.py") == "x = 2"


def test_git_revert_runs_no_program_of_a_hostile_repository_even_on_a_conflict(
    tester: StepTester, repo: tuple[Path, Path], marker: Path
) -> None:
    work, _ = repo
    for text in ("first\n", "second\n"):  # committed by git/commit itself: the repository's git is armed
        (work / "README.md").write_text(text)
        _ok(tester.run("git/commit", {"repo": "app", "message": text.strip(), "paths": ["README.md"]}), marker, text)
    second, first = git(work, "rev-parse", "HEAD"), git(work, "rev-parse", "HEAD~1")
    _ok(tester.run("git/revert", {"repo": "app", "commit": second}, dry_run=True), marker, "git/revert dry run")
    _ok(tester.run("git/revert", {"repo": "app", "commit": second}), marker, "git/revert")
    assert (work / "README.md").read_text() == "first\n"
    head = git(work, "rev-parse", "HEAD")
    (work / "README.md").write_text("third\n")
    _ok(tester.run("git/commit", {"repo": "app", "message": "third", "paths": ["README.md"]}), marker, "third")
    third = git(work, "rev-parse", "HEAD")
    # README.md needs a content merge now: the repository's merge driver would run, and is disarmed (so git
    # fails the merge instead); the revert is aborted all the same
    conflict = tester.run("git/revert", {"repo": "app", "commit": first})
    _clean(marker, "a conflicting git/revert")
    assert not conflict.ok and "revert failed" in conflict.failure.message
    assert git(work, "rev-parse", "HEAD") == third and git(work, "rev-parse", "HEAD~1") == head
    assert not (work / ".git" / "REVERT_HEAD").exists() and (work / "README.md").read_text() == "third\n"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("author_name", "Eve\n[core]\n\thooksPath = /tmp"),
        ("author_name", "Eve\r"),
        ("author_email", "eve@x.io\0"),
        ("author_email", "eve@x.io\n\tfsmonitor = true"),
    ],
)
def test_identity_with_line_breaks_is_refused_naming_the_field(
    tester: StepTester, repo: tuple[Path, Path], marker: Path, field: str, value: str
) -> None:
    work, _ = repo
    (work / "README.md").write_text("x\n")
    head = git(work, "rev-parse", "HEAD")
    config = {"repo": "app", "message": "m", "paths": ["README.md"], "author_name": "Ada", "author_email": "a@x.io"}
    out = tester.run("git/commit", {**config, field: value})
    assert out.failure is not None and out.failure.kind == "config", out.failure
    assert field in out.failure.message
    assert git(work, "rev-parse", "HEAD") == head
    _clean(marker, "a refused commit")


def test_equals_sign_in_identity_is_a_plain_character(
    tester: StepTester, repo: tuple[Path, Path], marker: Path
) -> None:
    work, _ = repo
    (work / "README.md").write_text("x\n")
    name, email = "a=b core.hooksPath=/tmp -c x=y", "eve=1@x.io"
    out = tester.run("git/commit", {"repo": "app", "message": "m", "paths": ["README.md"],
                                    "author_name": name, "author_email": email})
    _ok(out, marker, "git/commit with '=' in the identity")
    assert git(work, "log", "-1", "--format=%an|%ae|%cn|%ce") == f"{name}|{email}|{name}|{email}"


def test_identity_from_the_repository_config_is_checked_too(
    tester: StepTester, repo: tuple[Path, Path], marker: Path, workspace: Path
) -> None:
    work, _ = repo
    git(work, "config", "user.name", "Eve")
    (work / ".git" / "config").write_text(
        (work / ".git" / "config").read_text().replace("name = Eve", 'name = "Eve\\n[core]\\n\\tfsmonitor = x"')
    )
    (work / "README.md").write_text("x\n")
    bare = StepTester(plugin, workspace_root=workspace, platform_config={})
    out = bare.run("git/commit", {"repo": "app", "message": "m", "paths": ["README.md"]})
    assert out.failure is not None and out.failure.kind == "config" and "author_name" in out.failure.message
    _clean(marker, "a refused commit")
