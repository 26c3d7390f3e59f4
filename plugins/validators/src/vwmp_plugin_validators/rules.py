"""Custom rules: files matched by a glob must (not) match a regular expression."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

MAX_FILE_BYTES = 2 * 1024 * 1024


class RuleError(ValueError):
    """A rule cannot be used (bad glob, bad regex); `field` names the offending config field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def compile_rule(
    index: int, files: str, must_match: str | None, must_not_match: str | None
) -> tuple[re.Pattern[str] | None, re.Pattern[str] | None]:
    """Check the glob stays inside the repo and the regexes compile."""
    posix = PurePosixPath(files)
    if not files or posix.is_absolute() or ".." in posix.parts:
        raise RuleError(f"rules/{index}/files", f"glob {files!r} must be relative to the repo without '..'")
    if must_match is None and must_not_match is None:
        raise RuleError(f"rules/{index}", "give must_match, must_not_match or both")
    compiled = []
    for field, pattern in (("must_match", must_match), ("must_not_match", must_not_match)):
        try:
            compiled.append(re.compile(pattern, re.MULTILINE) if pattern is not None else None)
        except re.error as exc:
            raise RuleError(f"rules/{index}/{field}", f"invalid regular expression: {exc}") from None
    return compiled[0], compiled[1]


def matching_files(root: Path, files: str) -> list[Path]:
    """Regular files under `root` matching the glob, never inside `.git` nor reached through a symlink out."""
    base = root.resolve()
    found = []
    for path in sorted(root.glob(files)):
        if ".git" in path.relative_to(root).parts or not path.is_file():
            continue
        if not path.resolve().is_relative_to(base):
            continue
        found.append(path)
    return found


def check_file(
    text: str, must_match: re.Pattern[str] | None, must_not_match: re.Pattern[str] | None
) -> list[tuple[int | None, str]]:
    """(line, what) for each violation in one file's text."""
    found: list[tuple[int | None, str]] = []
    if must_match is not None and not must_match.search(text):
        found.append((None, f"does not match {must_match.pattern!r}"))
    if must_not_match is not None:
        for match in must_not_match.finditer(text):
            found.append((text.count("\n", 0, match.start()) + 1, f"matches {must_not_match.pattern!r}"))
    return found
