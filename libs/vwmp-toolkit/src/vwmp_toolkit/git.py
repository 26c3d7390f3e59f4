"""The one way VWMP plugins call git: argument lists, hardened options, no hooks, no shell.

Every command gets `-c` overrides that switch off what a hostile repository config could use to run
code (hooks, fsmonitor, external diff/text filters are not reached by the commands we run) and
limits transports to `ALLOWED_PROTOCOLS`, both by config and by `GIT_ALLOW_PROTOCOL`. Git never
looks for a repository above the step's folder (`GIT_CEILING_DIRECTORIES`).

Example:
    ```python
    git = open_git(ctx, config.repo)           # DeniedError outside the workspace, ConfigError if no repo
    branch = git.current_branch()
    sha = git.commit_of(check_revision(config.ref))
    ```
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from vwmp_sdk import ConfigError, StepContext, StepError

from vwmp_toolkit.paths import repo_dir
from vwmp_toolkit.refs import ALLOWED_PROTOCOLS

__all__ = ["DEFAULT_TIMEOUT", "NETWORK_TIMEOUT", "Completed", "Runner", "SafeGit", "open_git"]

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
    """What a finished git invocation returns (`vwmp_sdk.CompletedProcess` is one)."""

    @property
    def returncode(self) -> int: ...

    @property
    def stdout(self) -> str: ...

    @property
    def stderr(self) -> str: ...


class Runner(Protocol):
    """Runs a program from an argument list; `StepContext.run` is one."""

    def __call__(
        self, args: Sequence[str], *, cwd: Path, timeout: float, env: Mapping[str, str] | None = None
    ) -> Completed: ...


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

    Raises:
        ConfigError: `repo_dir` is not the top folder of a git work tree (one `git rev-parse` tells).
    """

    def __init__(
        self,
        repo_dir: Path,
        run: Runner | None = None,
        identity: tuple[str, str] | None = None,
    ) -> None:
        self.repo_dir = repo_dir
        self._run: Runner = run or _subprocess_runner
        self._identity = identity
        # With the ceiling at the parent, git finds a repository only in this very folder: a plain
        # folder (or a subfolder of a work tree) fails, a bare repository or a .git folder says false.
        done = self.run("rev-parse", "--is-inside-work-tree", check=False)
        if done.returncode != 0:
            raise ConfigError(f"{repo_dir.name!r} is not a git repository")
        if done.stdout.strip() != "true":
            raise ConfigError(f"{repo_dir.name!r} is not the top folder of a git work tree")

    def env(self) -> dict[str, str]:
        """Environment for git: protocol allow-list, no prompts, the configured identity."""
        env = {**_ENV, "GIT_CEILING_DIRECTORIES": str(self.repo_dir.resolve().parent)}
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


def open_git(ctx: StepContext, repo: str, identity: tuple[str, str] | None = None, *, field: str = "repo") -> SafeGit:
    """A hardened git for the step's repository (resolved inside the workspace now).

    Git runs through `ctx.run`, so its output streams into the step log and a cancel kills it.

    Args:
        ctx: the step's context.
        repo: the repository path relative to the workspace root (a config field).
        identity: author/committer name and email for commands that create objects.
        field: the config field `repo` came from, named in errors.

    Raises:
        DeniedError: `repo` leaves the workspace.
        ConfigError: it is not the top folder of a git work tree.
    """
    return SafeGit(repo_dir(ctx, repo, field=field), run=ctx.run, identity=identity)
