"""The one way VWMP plugins call git: argument lists, hardened options, no hooks, no shell.

Every command gets `-c` overrides that switch off what a hostile repository config could use to run
code (hooks, fsmonitor, external diff/text filters are not reached by the commands we run) and
limits transports to `ALLOWED_PROTOCOLS`, both by config and by `GIT_ALLOW_PROTOCOL`.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import git as gitpython
from vwmp_sdk import ConfigError, StepError

from vwmp_plugin_git.refs import ALLOWED_PROTOCOLS

DEFAULT_TIMEOUT = 60.0
NETWORK_TIMEOUT = 300.0

_HARDENING = [
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "core.fsmonitor=false",
    "-c",
    "core.sshCommand=ssh",
    "-c",
    "protocol.allow=never",
    *[arg for p in ALLOWED_PROTOCOLS for arg in ("-c", f"protocol.{p}.allow=always")],
    "-c",
    "protocol.ext.allow=never",
    "-c",
    "credential.helper=",
    "--no-optional-locks",
    "--literal-pathspecs",
]
_ENV = {
    "GIT_ALLOW_PROTOCOL": ":".join(ALLOWED_PROTOCOLS),
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_ASKPASS": "",
    "SSH_ASKPASS": "",
    "GIT_PAGER": "cat",
    "GIT_EDITOR": "true",
    "LC_ALL": "C",
}


class Completed(Protocol):
    """What a finished git invocation returns (matches `vwmp_sdk` CompletedProcess)."""

    returncode: int
    stdout: str
    stderr: str


Runner = Callable[..., Completed]


@dataclass(frozen=True)
class _Result:
    returncode: int
    stdout: str
    stderr: str


def _subprocess_runner(
    args: Sequence[str], *, cwd: Path, timeout: float, env: Mapping[str, str] | None = None
) -> Completed:
    """Runner used outside a step (tests, scripts): plain subprocess with an argument list."""
    try:
        done = subprocess.run(
            list(args),
            cwd=cwd,
            env={**os.environ, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise StepError(f"git timed out after {timeout:g}s") from None
    return _Result(done.returncode, done.stdout, done.stderr)


class SafeGit:
    """Hardened git for one repository folder.

    Args:
        repo_dir: the work tree (already resolved inside the workspace).
        run: a runner with the signature of `StepContext.run` (streams output into the step log);
            defaults to a plain subprocess runner.
        identity: author/committer name and email for commands that create objects.
    """

    def __init__(
        self,
        repo_dir: Path,
        run: Runner | None = None,
        identity: tuple[str, str] | None = None,
    ) -> None:
        self.repo_dir = repo_dir
        self._run = run or _subprocess_runner
        self._identity = identity
        try:
            # GitPython only checks that this folder is the top of a work tree; it runs no command here.
            repo = gitpython.Repo(repo_dir, search_parent_directories=False)
        except (gitpython.InvalidGitRepositoryError, gitpython.NoSuchPathError):
            raise ConfigError(f"{repo_dir.name!r} is not a git repository") from None
        if repo.bare or repo.working_tree_dir is None or Path(repo.working_tree_dir).resolve() != repo_dir:
            raise ConfigError(f"{repo_dir.name!r} is not the top folder of a git work tree")
        self.git_dir = Path(repo.git_dir)
        self.gitpython_repo = repo

    def env(self) -> dict[str, str]:
        """Environment for git: protocol allow-list, no prompts, the configured identity."""
        env = dict(_ENV)
        if self._identity:
            name, email = self._identity
            env |= {
                "GIT_AUTHOR_NAME": name,
                "GIT_AUTHOR_EMAIL": email,
                "GIT_COMMITTER_NAME": name,
                "GIT_COMMITTER_EMAIL": email,
            }
        return env

    def run(self, *args: str, timeout: float = DEFAULT_TIMEOUT, check: bool = True) -> Completed:
        """Run `git <hardening> <args>`; with `check`, a non-zero exit raises StepError with git's message."""
        argv = ["git", *_HARDENING, *args]
        done = self._run(argv, cwd=self.repo_dir, timeout=timeout, env=self.env())
        if check and done.returncode != 0:
            message = (done.stderr or done.stdout).strip().splitlines()
            detail = message[-1] if message else f"exit status {done.returncode}"
            raise StepError(f"git {args[0]} failed: {detail}")
        return done

    def out(self, *args: str, timeout: float = DEFAULT_TIMEOUT) -> str:
        """stdout of a successful git command, stripped."""
        return self.run(*args, timeout=timeout).stdout.strip()

    def commit_of(self, rev: str) -> str | None:
        """The commit sha `rev` points at, or None when it names nothing."""
        done = self.run("rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}", check=False)
        return done.stdout.strip() or None if done.returncode == 0 else None

    def head(self) -> str | None:
        """sha of HEAD, None in a repository without commits."""
        return self.commit_of("HEAD")

    def current_branch(self) -> str | None:
        """Checked-out branch name, None when HEAD is detached."""
        done = self.run("symbolic-ref", "--quiet", "--short", "HEAD", check=False)
        return done.stdout.strip() or None if done.returncode == 0 else None

    def porcelain_status(self) -> list[str]:
        """`git status --porcelain` lines (untracked files included)."""
        text = self.run("status", "--porcelain=v1", "--untracked-files=all").stdout
        return [line for line in text.splitlines() if line.strip()]

    def remote_urls(self, remote: str) -> list[str]:
        """Fetch and push URLs configured for `remote` (empty when no such remote)."""
        urls: list[str] = []
        for key in (f"remote.{remote}.url", f"remote.{remote}.pushurl"):
            done = self.run("config", "--get-all", "--", key, check=False)
            urls += [u for u in done.stdout.splitlines() if u.strip()]
        return urls


def runner_of(ctx: object) -> Runner:
    """`ctx.run` of a StepContext, so git output streams into the step log and cancel kills git."""
    return ctx.run  # type: ignore[attr-defined, no-any-return]
