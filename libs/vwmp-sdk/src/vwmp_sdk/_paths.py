"""Resolving user-given paths inside the workspace root (ARCHITECTURE §6)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath, PureWindowsPath

from vwmp_sdk._errors import DeniedError


def resolve_inside(root: Path, relative: str | Path) -> Path:
    """Resolve `relative` under `root`, following symlinks now, refusing anything that leaves root.

    Raises:
        DeniedError: empty, absolute, containing `..`, a NUL byte, or resolving outside root.
    """
    text = str(relative)
    if not text.strip():
        raise DeniedError("path is empty")
    if "\x00" in text:
        raise DeniedError("path contains a NUL byte")
    posix, windows = PurePosixPath(text), PureWindowsPath(text)
    if posix.is_absolute() or windows.is_absolute() or windows.drive or text.startswith(("/", "\\")):
        raise DeniedError(f"path {text!r} is absolute; give a path relative to the workspace root")
    if ".." in posix.parts or ".." in windows.parts:
        raise DeniedError(f"path {text!r} contains '..'")
    base = Path(root).resolve()
    candidate = (base / posix).resolve()
    if candidate != base and not candidate.is_relative_to(base):
        raise DeniedError(f"path {text!r} resolves outside the workspace root (symlink escape)")
    return candidate
