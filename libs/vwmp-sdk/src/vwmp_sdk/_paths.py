"""Resolving user-given paths inside the workspace root (ARCHITECTURE §6)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path, PurePosixPath, PureWindowsPath

from vwmp_sdk._errors import DeniedError


def resolve_in_workspace(
    root: Path | str,
    path: str | Path,
    *,
    field: str = "path",
    forbid: Iterable[str] = (),
) -> Path:
    """Resolve a path a user gave (a config field) inside `root`, refusing anything that leaves it.

    Symlinks are followed now, at the moment of use, so a link that points out of `root` is refused
    even when it was created after the workflow was written.

    Example:
        ```python
        repo = resolve_in_workspace(ctx.workspace_root, config.repo, field="repo")
        changelog = resolve_in_workspace(repo, config.file, field="file", forbid=[".git"])
        ```

    Args:
        root: the workspace root, or a folder already resolved inside it (a repository) to confine
            the path further.
        path: the user's path, relative to `root`.
        field: the config field the path came from; every error message starts with it.
        forbid: names of entries directly under `root` the path must not point into (e.g. `.git`).

    Returns:
        The absolute, resolved path (it need not exist).

    Raises:
        DeniedError: the path is empty, absolute, contains `..` or a NUL byte, points into a
            forbidden entry, or resolves outside `root` (symlink escape).
    """
    text = str(path)
    if not text.strip():
        raise DeniedError(f"{field}: the path is empty")
    if "\x00" in text:
        raise DeniedError(f"{field}: the path contains a NUL byte")
    posix, windows = PurePosixPath(text), PureWindowsPath(text)
    if posix.is_absolute() or windows.is_absolute() or windows.drive or text.startswith(("/", "\\")):
        raise DeniedError(f"{field}: {text!r} is absolute; give a relative path")
    if ".." in posix.parts or ".." in windows.parts:
        raise DeniedError(f"{field}: {text!r} contains '..'")
    hidden = set(forbid)
    if posix.parts and posix.parts[0] in hidden:
        raise DeniedError(f"{field}: {text!r} points into {posix.parts[0]}")
    base = Path(root).resolve()
    candidate = (base / posix).resolve()
    if candidate != base and not candidate.is_relative_to(base):
        raise DeniedError(f"{field}: {text!r} resolves outside {Path(root).name or '/'!r} (symlink escape)")
    for name in hidden:
        if candidate.is_relative_to(base / name):
            raise DeniedError(f"{field}: {text!r} resolves into {name}")
    return candidate
