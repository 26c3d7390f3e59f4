"""Test helpers for plugins: real temporary repositories with a bare remote, independent of the machine's git config.

Example:
    ```python
    from vwmp_testkit.git import isolated_git_env, make_repo

    def test_x(tmp_path, monkeypatch):
        isolated_git_env(monkeypatch, tmp_path)
        repo, remote = make_repo(tmp_path / "ws", "app", {"README.md": "hi\\n"})
    ```
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path
from typing import Any

__all__ = ["AUTHOR", "git", "isolated_git_env", "make_repo", "snapshot"]

AUTHOR = ("VWMP Test", "test@vwmp.invalid")


def isolated_git_env(monkeypatch: Any, tmp_path: Path) -> None:
    """Point git at an empty global config and a fixed identity for this test."""
    config = tmp_path / "gitconfig"
    config.write_text('[init]\n\tdefaultBranch = main\n[protocol "file"]\n\tallow = always\n')
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("HOME", str(tmp_path))
    for key, value in (
        ("GIT_AUTHOR_NAME", AUTHOR[0]),
        ("GIT_AUTHOR_EMAIL", AUTHOR[1]),
        ("GIT_COMMITTER_NAME", AUTHOR[0]),
        ("GIT_COMMITTER_EMAIL", AUTHOR[1]),
    ):
        monkeypatch.setenv(key, value)


def git(cwd: Path, *args: str) -> str:
    """Run git in a test (argument list) and return stdout; fails the test on a non-zero exit."""
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False, env=os.environ)
    if done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {done.stderr}")
    return done.stdout.strip()


def make_repo(workspace: Path, name: str, files: dict[str, str]) -> tuple[Path, Path]:
    """A repo `workspace/name` with one commit of `files` on `main`, pushed to a bare remote next to it.

    Returns:
        (work tree, bare remote) — the remote lives outside the workspace, as a real server would.
    """
    workspace.mkdir(parents=True, exist_ok=True)
    remote = workspace.parent / f"{name}-remote.git"
    git(workspace.parent, "init", "--quiet", "--bare", "--initial-branch=main", str(remote))
    repo = workspace / name
    git(workspace, "init", "--quiet", "--initial-branch=main", name)
    for rel, text in files.items():
        path = repo / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", "initial")
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "--quiet", "-u", "origin", "main")
    return repo, remote


def snapshot(path: Path) -> dict[str, str]:
    """sha256 of every file under `path` (including .git) plus every ref, to prove nothing changed."""
    state: dict[str, str] = {}
    for file in sorted(path.rglob("*")):
        if file.is_file() and not file.is_symlink():
            state[file.relative_to(path).as_posix()] = hashlib.sha256(file.read_bytes()).hexdigest()
    if (path / ".git").exists() or (path / "HEAD").exists():
        state["<refs>"] = git(path, "for-each-ref", "--format=%(refname) %(objectname)")
    return state
