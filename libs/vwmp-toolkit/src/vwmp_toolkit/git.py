"""The one way VWMP plugins call git: argument lists, hardened options, no hooks, no shell.

A repository's own configuration (its `.git/config`, the files it includes) can name programs git
runs: hooks, `core.fsmonitor`, the clean/smudge/process filters its `.gitattributes` select, diff
textconv and external diff, merge drivers, the remote's receive-pack/upload-pack, credential helpers.
Every command gets fixed `-c` overrides (hooks at /dev/null, no fsmonitor, pinned signing programs,
transports limited to `ALLOWED_PROTOCOLS`, also by `GIT_ALLOW_PROTOCOL`) and, for the program-naming
keys this repository's configuration actually holds, overrides that empty them or restore git's
defaults (`repository_overrides`, passed as `GIT_CONFIG_KEY_<n>` so a key is never re-parsed); the
commands that start receive-pack/upload-pack name git's own on their command line. The
environment wins over configuration for the pager, editors, askpass and proxy, so those are fixed
there. Git never looks for a repository above the step's folder (`GIT_CEILING_DIRECTORIES`).

Example:
    ```python
    git = open_git(ctx, config.repo)           # DeniedError outside the workspace, ConfigError if no repo
    branch = git.current_branch()
    sha = git.commit_of(check_revision(config.ref))
    ```
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from vwmp_sdk import ConfigError, StepContext, StepError

from vwmp_toolkit.paths import repo_dir
from vwmp_toolkit.refs import ALLOWED_PROTOCOLS, is_local_url, redact_url

__all__ = [
    "DEFAULT_TIMEOUT", "NETWORK_TIMEOUT", "Completed", "Runner", "SafeGit", "open_git", "receive_pack_option",
    "repository_overrides",
]

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
    "-c",
    "gpg.program=gpg",
    "-c",
    "gpg.openpgp.program=gpg",
    "-c",
    "gpg.ssh.program=ssh-keygen",
    "-c",
    "gpg.x509.program=gpgsm",
    "-c",
    "log.showSignature=false",
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
    "GIT_SEQUENCE_EDITOR": "true",
    "GIT_PROXY_COMMAND": "",
    "GIT_EXTERNAL_DIFF": "",
    "LC_ALL": "C",
}

# Configuration keys that name a program, as `git config --list --name-only` spells them (section and
# key lower case, subsection as written), and what each is overridden with.
_PROGRAM_KEYS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"filter\.(?P<sub>.+)\.(clean|smudge|process)"), ""),
    (re.compile(r"diff\..+\.(textconv|command)"), ""),
    (re.compile(r"diff\.external"), ""),
    (re.compile(r"merge\..+\.driver"), ""),
    (re.compile(r"credential\..+\.helper"), ""),
    (re.compile(r"core\.alternaterefscommand"), ""),
]

# `remote.<name>.receivepack/uploadpack` cannot be overridden by configuration (git keeps the first
# value it reads, the repository's), so the commands that start them get git's defaults as options.
_TRANSPORT_DEFAULTS = {
    "push": "--receive-pack=git-receive-pack",
    "send-pack": "--receive-pack=git-receive-pack",
    "ls-remote": "--upload-pack=git-upload-pack",
    "fetch": "--upload-pack=git-upload-pack",
    "pull": "--upload-pack=git-upload-pack",
    "clone": "--upload-pack=git-upload-pack",
}


# A remote on this machine gets its receive-pack started here, reading that repository's own
# configuration (git does not pass our `-c` options on to it): its hooks are switched off the same way.
_LOCAL_RECEIVE_PACK = "git -c core.hooksPath=/dev/null -c core.fsmonitor=false receive-pack"


def receive_pack_option(urls: Sequence[str]) -> str:
    """The `--receive-pack` for pushing to `urls`: git's own, with hooks off when the remote is local.

    Raises:
        ConfigError: the remote mixes local paths and network URLs (one option cannot serve both).
    """
    local = [is_local_url(url) for url in urls]
    if local and all(local):
        return f"--receive-pack={_LOCAL_RECEIVE_PACK}"
    if any(local):
        shown = ", ".join(redact_url(url) for url in urls)
        raise ConfigError(f"remote URLs {shown} mix local paths and network URLs; push to one kind at a time")
    return "--receive-pack=git-receive-pack"


def _with_transport_defaults(args: Sequence[str]) -> list[str]:
    """`args` with git's own receive-pack/upload-pack named after the subcommand (past leading `-c k=v`)."""
    index = 0
    while index < len(args) and args[index] == "-c":
        index += 2
    if index < len(args) and args[index] in _TRANSPORT_DEFAULTS:
        return [*args[: index + 1], _TRANSPORT_DEFAULTS[args[index]], *args[index + 1 :]]
    return list(args)

_PROGRAM_KEYS_REGEX = (
    r"^(filter\..*\.(clean|smudge|process)|diff\..*\.(textconv|command)|diff\.external|merge\..*\.driver"
    r"|credential\..*\.helper|core\.alternaterefscommand)$"
)


def repository_overrides(config_keys: list[str]) -> dict[str, str]:
    """For every program-naming key a repository's configuration holds, the value that disarms it.

    A filter marked `required` would make git fail rather than skip it, so it is made optional too:
    git then stages and checks out the bytes as they are.
    """
    overrides: dict[str, str] = {}
    for key in config_keys:
        for pattern, value in _PROGRAM_KEYS:
            match = pattern.fullmatch(key)
            if match:
                overrides[key] = value
                if "sub" in pattern.groupindex:
                    overrides[f"filter.{match.group('sub')}.required"] = "false"
    return overrides


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
        self._overrides: dict[str, str] = {}
        # With the ceiling at the parent, git finds a repository only in this very folder: a plain
        # folder (or a subfolder of a work tree) fails, a bare repository or a .git folder says false.
        done = self.run("rev-parse", "--is-inside-work-tree", check=False)
        if done.returncode != 0:
            raise ConfigError(f"{repo_dir.name!r} is not a git repository")
        if done.stdout.strip() != "true":
            raise ConfigError(f"{repo_dir.name!r} is not the top folder of a git work tree")
        # Only the program-naming keys are listed (so only they reach the step log).
        listed = self.run("config", "--name-only", "-z", "--get-regexp", _PROGRAM_KEYS_REGEX, check=False).stdout
        self._overrides = repository_overrides([key for key in listed.split("\0") if key])

    def env(self) -> dict[str, str]:
        """Environment for git: protocol allow-list, no prompts, the configured identity."""
        env = {**_ENV, "GIT_CEILING_DIRECTORIES": str(self.repo_dir.resolve().parent)}
        env["GIT_CONFIG_COUNT"] = str(len(self._overrides))
        for index, (key, value) in enumerate(self._overrides.items()):
            env |= {f"GIT_CONFIG_KEY_{index}": key, f"GIT_CONFIG_VALUE_{index}": value}
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
        argv = ["git", *_HARDENING, *_with_transport_defaults(args)]
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
        """Fetch and push URLs of `remote` as git will use them (`insteadOf` rewrites applied); empty when
        there is no such remote."""
        urls: list[str] = []
        for which in ((), ("--push",)):
            done = self.run("remote", "get-url", *which, "--all", "--", remote, check=False)
            urls += [u for u in done.stdout.splitlines() if u.strip() and u not in urls]
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
