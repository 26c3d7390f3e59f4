"""Resolving a step's `repo` and the files inside it, refusing anything outside (ARCHITECTURE §6)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from vwmp_sdk import ConfigError, DeniedError, StepContext


def repo_dir(ctx: StepContext, repo: str) -> Path:
    """The repository folder named by `repo` (relative to the workspace root), which must exist."""
    path = ctx.resolve_path(repo)
    if not path.is_dir():
        raise ConfigError(f"repo {repo!r} is not a folder inside the workspace")
    return path


def in_repo(root: Path, relative: str, *, what: str = "path") -> Path:
    """Resolve `relative` inside the repository `root` now (symlinks followed); refuse escapes and `.git`.

    Raises:
        DeniedError: absolute, `..`, NUL, inside `.git`, or resolving outside the repository.
    """
    text = str(relative)
    if not text.strip() or "\x00" in text:
        raise DeniedError(f"{what} {text!r} is empty or contains a NUL byte")
    posix = PurePosixPath(text.replace("\\", "/"))
    if posix.is_absolute() or text.startswith(("/", "\\")) or (len(text) > 1 and text[1] == ":"):
        raise DeniedError(f"{what} {text!r} is absolute; give a path relative to the repository")
    if ".." in posix.parts:
        raise DeniedError(f"{what} {text!r} contains '..'")
    if posix.parts and posix.parts[0] == ".git":
        raise DeniedError(f"{what} {text!r} points into .git")
    base = root.resolve()
    candidate = (base / posix).resolve()
    if candidate != base and not candidate.is_relative_to(base):
        raise DeniedError(f"{what} {text!r} resolves outside the repository (symlink escape)")
    if candidate.is_relative_to(base / ".git"):
        raise DeniedError(f"{what} {text!r} resolves into .git")
    return candidate


def rel(root: Path, path: Path) -> str:
    """`path` relative to the repository, with `/` separators (for outputs and plans)."""
    return path.resolve().relative_to(root.resolve()).as_posix()
