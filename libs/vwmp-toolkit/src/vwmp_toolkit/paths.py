"""A step's repository and the files inside it, resolved with the SDK's workspace check (ARCHITECTURE §6)."""

from __future__ import annotations

from pathlib import Path

from vwmp_sdk import ConfigError, StepContext, resolve_in_workspace

GIT_DIR = ".git"

__all__ = ["GIT_DIR", "in_repo", "rel", "repo_dir"]


def repo_dir(ctx: StepContext, repo: str, *, field: str = "repo") -> Path:
    """The repository folder named by `repo` (relative to the workspace root), which must exist.

    Raises:
        DeniedError: `repo` leaves the workspace (see `vwmp_sdk.resolve_in_workspace`).
        ConfigError: it is not a folder.
    """
    path = ctx.resolve_path(repo, field=field)
    if not path.is_dir():
        raise ConfigError(f"{field}: {repo!r} is not a folder inside the workspace")
    return path


def in_repo(root: Path, relative: str, *, field: str = "path") -> Path:
    """Resolve `relative` inside the repository `root` now (symlinks followed); never into `.git`.

    Raises:
        DeniedError: absolute, `..`, NUL, inside `.git`, or resolving outside the repository.
    """
    return resolve_in_workspace(root, relative, field=field, forbid=[GIT_DIR])


def rel(root: Path, path: Path) -> str:
    """`path` relative to the repository, with `/` separators (for outputs and plans)."""
    return path.resolve().relative_to(root.resolve()).as_posix()
