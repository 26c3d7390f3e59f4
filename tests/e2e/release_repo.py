"""The sample Python project at 0.4.1 that the release tests publish, in a machine-independent git.

Shared by the REST test (test_release.py) and the browser test (test_designer_browser.py), so both
release the same repository the same way.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

from vwmp_testkit.monorepo import FILES as MONOREPO_FILES
from vwmp_testkit.monorepo import TAGS
from vwmp_testkit.release_project import FILES

IDENTITY = {"GIT_AUTHOR_NAME": "Sample Dev", "GIT_AUTHOR_EMAIL": "dev@sample.invalid",
            "GIT_COMMITTER_NAME": "Sample Dev", "GIT_COMMITTER_EMAIL": "dev@sample.invalid"}



# ----- a machine-independent git ----------------------------------------------------------------------


def git_env(root: Path) -> dict[str, str]:
    """An empty global config, no system config and a fixed identity: the machine's git setup never leaks in."""
    config = root / "gitconfig"
    if not config.exists():
        config.write_text("[init]\n\tdefaultBranch = main\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    return {**env, **IDENTITY, "GIT_CONFIG_GLOBAL": str(config), "GIT_CONFIG_NOSYSTEM": "1"}


def git(env: dict[str, str], cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout.strip()


def snapshot(path: Path, env: dict[str, str]) -> dict[str, str]:
    """sha256 of every file (including .git) and every ref: equal snapshots mean nothing changed."""
    state = {f.relative_to(path).as_posix(): hashlib.sha256(f.read_bytes()).hexdigest()
             for f in sorted(path.rglob("*")) if f.is_file() and not f.is_symlink()}
    state["<refs>"] = git(env, path, "for-each-ref", "--format=%(refname) %(objectname)")
    return state


class Sample:
    """The sample project at 0.4.1 on `main` in the workspace, pushed to a bare remote outside it."""

    def __init__(self, workspace: Path, root: Path, name: str) -> None:
        self._init(workspace, root, name, FILES, "Shop 0.4.1")
        self.publish()

    def _init(self, workspace: Path, root: Path, name: str, files: dict[str, str], message: str) -> None:
        """A repository holding `files` in one commit, and its empty bare remote."""
        self.env = git_env(root)
        self.name = name
        self.work = workspace / name
        self.remote = root / "remotes" / f"{name}.git"
        self.remote.parent.mkdir(exist_ok=True)
        git(self.env, root, "init", "--quiet", "--bare", "--initial-branch=main", str(self.remote))
        git(self.env, workspace, "init", "--quiet", "--initial-branch=main", name)
        git(self.env, self.work, "config", "user.name", IDENTITY["GIT_AUTHOR_NAME"])
        git(self.env, self.work, "config", "user.email", IDENTITY["GIT_AUTHOR_EMAIL"])
        for rel, text in files.items():
            (self.work / rel).parent.mkdir(parents=True, exist_ok=True)
            (self.work / rel).write_text(text)
        git(self.env, self.work, "add", "--all")
        git(self.env, self.work, "commit", "--quiet", "-m", message)

    def publish(self, *tags: str) -> None:
        """Make the bare remote `origin` and push main (and `tags`) to it."""
        git(self.env, self.work, "remote", "add", "origin", str(self.remote))
        git(self.env, self.work, "push", "--quiet", "-u", "origin", "main", *tags)

    def state(self) -> tuple[dict[str, str], dict[str, str]]:
        return snapshot(self.work, self.env), snapshot(self.remote, self.env)

    def remote_git(self, *args: str) -> str:
        return git(self.env, self.remote, *args)


class Monorepo(Sample):
    """The sample monorepo, its packages tagged at their last release, then a feature and a fix, pushed."""

    def __init__(self, workspace: Path, root: Path, name: str) -> None:
        self._init(workspace, root, name, MONOREPO_FILES, "chore: the shop monorepo")
        for tag in TAGS:
            git(self.env, self.work, "tag", "--annotate", "-m", tag, tag)
        self.commit("py/core/src/shop_core/cart.py", "feat(core): pay by card (#12)")
        self.commit("js/ui-kit/button.js", "fix(ui-kit): button focus ring")
        self.publish(*TAGS)

    def commit(self, file: str, message: str) -> None:
        (self.work / file).write_text("// " + message + "\n")
        git(self.env, self.work, "add", "--all")
        git(self.env, self.work, "commit", "--quiet", "-m", message)

    def push_elsewhere(self, root: Path) -> None:
        """Someone else pushes to the remote's main: our push (never forced, atomic) is then refused."""
        elsewhere = root / f"{self.work.name}-elsewhere"
        git(self.env, root, "clone", "--quiet", str(self.remote), str(elsewhere))
        (elsewhere / "NOTICE").write_text("pushed by someone else\n")
        git(self.env, elsewhere, "add", "NOTICE")
        git(self.env, elsewhere, "commit", "--quiet", "-m", "chore: elsewhere")
        git(self.env, elsewhere, "push", "--quiet", "origin", "main")

