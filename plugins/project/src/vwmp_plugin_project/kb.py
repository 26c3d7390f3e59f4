"""The knowledge base: a folder of Markdown pages in the repo (default `kb/`).

Layout: `kb/index.md` lists releases newest first under `## Releases` as
`- [X.Y.Z](releases/X.Y.Z.md) - YYYY-MM-DD`; `kb/releases/X.Y.Z.md` is one page per release.
"""

from __future__ import annotations

import re

INDEX_TITLE = "# Knowledge base"
RELEASES_HEADING = "## Releases"


def release_page(version: str, date: str, changes: str, notes: str | None) -> str:
    """The Markdown page of one release: title, date, notes, then the changelog entries."""
    parts = [f"# Release {version}\n", f"\nReleased: {date}\n"]
    if notes and notes.strip():
        parts.append(f"\n## Notes\n\n{notes.strip()}\n")
    body = re.sub(r"^###(?!#) ", "### ", changes.strip(), flags=re.MULTILINE)
    parts.append(f"\n## Changes\n\n{body or '_No entries._'}\n")
    return "".join(parts)


def index_with(index: str | None, version: str, date: str) -> str:
    """`index` (or a new index) with this release's entry on top of `## Releases`, replacing an old one."""
    entry = f"- [{version}](releases/{version}.md) - {date}\n"
    text = index if index is not None else f"{INDEX_TITLE}\n\n{RELEASES_HEADING}\n\n"
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    own = re.compile(rf"^- \[{re.escape(version)}\]\(releases/{re.escape(version)}\.md\)")
    lines = [line for line in lines if not own.match(line)]
    heading = next((i for i, line in enumerate(lines) if line.strip() == RELEASES_HEADING), None)
    if heading is None:
        lines += (["\n"] if lines and lines[-1].strip() else []) + [f"{RELEASES_HEADING}\n", "\n", entry]
        return "".join(lines)
    if heading + 1 >= len(lines) or lines[heading + 1].strip():
        lines.insert(heading + 1, "\n")
    at = heading + 2
    lines.insert(at, entry)
    following = lines[at + 1] if at + 1 < len(lines) else ""
    if following.strip() and not following.startswith("- "):
        lines.insert(at + 1, "\n")
    return "".join(lines)
