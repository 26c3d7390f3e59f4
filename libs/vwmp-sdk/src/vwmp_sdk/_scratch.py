"""A dry run's scratch copy of the workspace: the originals are never touched, the copies really are.

A dry run that only asks each step for a plan cannot know what a step after a commit would see (the
commit's SHA, its tree) and succeeds where the real run would fail (nothing staged, a tag that
exists). So the local steps of a dry run run for real, in a copy: `<workspace>/.vwmp/scratch/<run>/`
mirrors the workspace, and a repository (the git work tree holding a path, or else the path's top
folder) is copied there the first time a step of the run touches it, with its index, untracked files,
config and remotes exactly as they are. Plugin hosts share the workspace, so the copy is made once
per run whichever host a step lands on (a lock file serialises the copying), and the engine tells
every host to discard a run's copy when the run ends (`discard`), or every copy but the live runs'
when it first sees a host (`discard_all_but`), which is how what a crash left behind goes.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from vwmp_sdk._errors import ConfigError
from vwmp_sdk._outcomes import STATE_FOLDER
from vwmp_sdk._paths import resolve_in_workspace

__all__ = ["SCRATCH_FOLDER", "Scratch", "discard", "discard_all_but"]

SCRATCH_FOLDER = "scratch"
"""Under the workspace's `.vwmp` folder, one folder per dry run."""
YOUNG_SECONDS = 60.0
"""A copy younger than this survives `discard_all_but`: its run may have started after the live ones were listed."""
_RUN_FOLDER = re.compile(r"[^A-Za-z0-9_.-]")


def scratch_base(workspace_root: Path) -> Path:
    return Path(workspace_root) / STATE_FOLDER / SCRATCH_FOLDER


def _run_folder(run_id: str) -> str:
    cleaned = _RUN_FOLDER.sub("_", run_id).strip(".") or "_"
    return cleaned[:200]


class Scratch:
    """The scratch workspace of one dry run, filled lazily from the real workspace."""

    def __init__(self, workspace_root: Path, run_id: str) -> None:
        self.original = Path(workspace_root)
        self.root = scratch_base(self.original) / _run_folder(run_id)

    def resolve(self, relative: str | Path, *, field: str) -> Path:
        """The path `relative` in the scratch copy, after copying what holds it there from the workspace.

        The same checks as in the real workspace apply, to both (the original is resolved first, so a
        symlink that leaves the workspace is refused before anything is copied).
        """
        original = resolve_in_workspace(self.original, relative, field=field, forbid=[STATE_FOLDER])
        self.root.mkdir(parents=True, exist_ok=True)
        unit = self._unit_of(original)
        if unit is not None:
            with self._locked():
                self._copy(unit)
        return resolve_in_workspace(self.root, relative, field=field, forbid=[STATE_FOLDER])

    def _unit_of(self, original: Path) -> Path | None:
        """What is copied for a path: the git work tree holding it, else its top folder in the workspace."""
        top = self.original.resolve()
        parts = original.relative_to(top).parts
        if not parts:
            return None
        for depth in range(len(parts), 0, -1):
            candidate = top.joinpath(*parts[:depth])
            if (candidate / ".git").exists():
                return candidate
        first = top / parts[0]
        return first if first.exists() else None

    def _copy(self, unit: Path) -> None:
        relative = unit.relative_to(self.original.resolve())
        target = self.root / relative
        if target.exists() or target.is_symlink():
            return  # copied by an earlier step of this run
        dot_git = unit / ".git"
        if dot_git.is_file():
            raise ConfigError(
                f"{relative.as_posix()} is a linked worktree or a submodule (.git is a file): a dry run cannot "
                "copy it without sharing its repository with the original; run it for real or clone it")
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.copying-{os.getpid()}")
        shutil.rmtree(partial, ignore_errors=True)
        # symlinks stay symlinks: one that points outside is never followed into the copy
        shutil.copytree(unit, partial, symlinks=True)
        partial.rename(target)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.root / ".lock", "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def discard(workspace_root: Path, run_ids: Iterable[str]) -> list[str]:
    """Remove the scratch copies of these runs; returns the ids whose copy existed."""
    base = scratch_base(workspace_root)
    removed = []
    for run_id in run_ids:
        folder = base / _run_folder(run_id)
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(run_id)
    return removed


def discard_all_but(workspace_root: Path, keep_run_ids: Iterable[str]) -> list[str]:
    """Remove every run's scratch copy except these runs' and those made in the last `YOUNG_SECONDS`."""
    base = scratch_base(workspace_root)
    if not base.is_dir():
        return []
    keep = {_run_folder(run_id) for run_id in keep_run_ids}
    now = time.time()
    removed = []
    for folder in base.iterdir():
        if folder.name in keep or not folder.is_dir() or folder.is_symlink():
            continue
        with contextlib.suppress(FileNotFoundError):
            if now - folder.stat().st_mtime < YOUNG_SECONDS:
                continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder.name)
    return removed
