"""File changes as plan items (unified diffs) and as atomic writes.

Example:
    ```python
    ctx.plan(plan_edit("CHANGELOG.md", old, new))     # the diff an approver sees
    if not ctx.dry_run:
        write_atomic(path, new)
    ```
"""

from __future__ import annotations

import difflib
import os
import tempfile
from pathlib import Path

from vwmp_sdk import PlanItem, StepError

__all__ = ["plan_edit", "read_text", "unified_diff", "write_atomic"]


def read_text(path: Path) -> str:
    """A file's text exactly as stored (no newline translation), UTF-8."""
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise StepError(f"{path.name} is not UTF-8 text") from None


def unified_diff(name: str, old: str, new: str) -> str:
    """`git diff`-style unified diff of one file (`a/name` → `b/name`); `/dev/null` for a new file."""
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=f"a/{name}" if old else "/dev/null",
            tofile=f"b/{name}",
        )
    )


def plan_edit(name: str, old: str | None, new: str) -> PlanItem:
    """The plan item for writing `new` into `name` (created when `old` is None)."""
    action = "create file" if old is None else "update file"
    return PlanItem(action=action, target=name, diff=unified_diff(name, old or "", new))


def write_atomic(path: Path, text: str) -> None:
    """Replace a file's content in one step (a crash leaves the old or the new file, never half)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
