"""Keep a Changelog 1.1 documents: find sections, cut a release from `[Unreleased]`, update links.

Work is done on the lines of the file so everything not part of the release (wording, spacing,
line endings) stays as the author wrote it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from dataclasses import dataclass

from vwmp_sdk import ConfigError

__all__ = ["COMPARE", "ChangelogError", "Document", "Section", "release", "release_date", "release_notes"]

HEADING = re.compile(r"^##(?!#)\s*(?P<title>.*?)\s*$")
VERSION_HEADING = re.compile(r"^\[(?P<label>[^\]]+)\](?:\s*-\s*(?P<date>\S+))?(?P<rest>.*)$")
LINK_DEF = re.compile(r"^\[(?P<label>[^\]]+)\]:\s*(?P<url>\S+)\s*$")
COMPARE = re.compile(r"^(?P<base>.+)/compare/(?P<old>[^.\s][^\s]*?)\.\.\.(?P<new>\S+)$")
TAG_VERSION = re.compile(r"^(?P<prefix>.*?)(?P<version>\d+\.\d+\.\d+\S*)$")


class ChangelogError(ValueError):
    """The changelog cannot be released as asked (no Unreleased section, nothing in it...)."""


@dataclass(frozen=True)
class Section:
    """One `## ` section: its heading line index, the end (exclusive) and its parsed label."""

    start: int
    end: int
    title: str
    label: str | None
    date: str | None


@dataclass(frozen=True)
class Document:
    """A changelog split into lines (line endings kept), its `## ` sections and its link definitions."""

    lines: list[str]
    sections: list[Section]
    links_start: int

    @classmethod
    def parse(cls, text: str) -> Document:
        lines = text.splitlines(keepends=True)
        links_start = len(lines)
        while links_start > 0 and (
            not lines[links_start - 1].strip() or LINK_DEF.match(lines[links_start - 1].strip())
        ):
            links_start -= 1
        while links_start < len(lines) and not lines[links_start].strip():
            links_start += 1
        starts = [i for i, line in enumerate(lines[:links_start]) if HEADING.match(line.rstrip("\r\n"))]
        sections = []
        for n, start in enumerate(starts):
            end = starts[n + 1] if n + 1 < len(starts) else links_start
            heading = HEADING.match(lines[start].rstrip("\r\n"))
            assert heading is not None  # `starts` holds only lines that matched HEADING
            title = heading.group("title")
            match = VERSION_HEADING.match(title)
            sections.append(
                Section(start, end, title, match.group("label") if match else None, match and match.group("date"))
            )
        return cls(lines, sections, links_start)

    @property
    def newline(self) -> str:
        return "\r\n" if self.lines and self.lines[0].endswith("\r\n") else "\n"

    def section(self, label: str) -> Section | None:
        """The section whose heading label is `label` (case-insensitive)."""
        return next((s for s in self.sections if s.label and s.label.lower() == label.lower()), None)

    def body(self, section: Section) -> str:
        """Text below a section heading, without surrounding blank lines."""
        return "".join(self.lines[section.start + 1 : section.end]).strip("\r\n ") + "\n"

    def links(self) -> list[tuple[int, str, str]]:
        """(line index, label, url) of every link definition at the bottom."""
        found = []
        for i in range(self.links_start, len(self.lines)):
            match = LINK_DEF.match(self.lines[i].strip())
            if match:
                found.append((i, match.group("label"), match.group("url")))
        return found


def release_notes(text: str, version: str) -> str | None:
    """Body of the `[version]` section, else of `[Unreleased]` (as it would become version), else None."""
    doc = Document.parse(text)
    section = doc.section(version) or doc.section("Unreleased")
    if section is None:
        return None
    body = doc.body(section)
    return body if body.strip() else None


def release(text: str, version: str, date: str) -> tuple[str, str]:
    """Move the `[Unreleased]` entries under `## [version] - date` and update the compare links.

    Returns:
        (new text, the new section's text).

    Raises:
        ChangelogError: no `[Unreleased]` section, it is empty, or `version` is already released.
    """
    doc = Document.parse(text)
    nl = doc.newline
    unreleased = doc.section("Unreleased")
    if unreleased is None:
        raise ChangelogError("the changelog has no '## [Unreleased]' section")
    if doc.section(version) is not None:
        raise ChangelogError(f"version {version} is already in the changelog")
    entries = "".join(doc.lines[unreleased.start + 1 : unreleased.end]).strip("\r\n ")
    if not entries:
        raise ChangelogError("the '## [Unreleased]' section is empty: nothing to release")
    section = f"## [{version}] - {date}{nl}{nl}{entries}{nl}"
    head = doc.lines[: unreleased.start + 1]
    rest = doc.lines[unreleased.end : doc.links_start]
    new_lines = [*head, nl, section, *([nl] if rest or doc.links_start < len(doc.lines) else []), *rest]
    tail = _updated_links(doc, version, nl)
    return "".join(new_lines) + "".join(tail), section


def _updated_links(doc: Document, version: str, nl: str) -> list[str]:
    tail = list(doc.lines[doc.links_start :])
    if tail and not tail[-1].endswith(("\n", "\r")):
        tail[-1] += nl
    for index, label, url in doc.links():
        if label.lower() != "unreleased":
            continue
        compare = COMPARE.match(url)
        if compare is None:
            return tail
        old = compare.group("old")
        tag = TAG_VERSION.match(old)
        new_tag = (tag.group("prefix") if tag else "v") + version
        base = compare.group("base")
        i = index - doc.links_start
        tail[i] = f"[{label}]: {base}/compare/{new_tag}...{compare.group('new')}{nl}"
        tail.insert(i + 1, f"[{version}]: {base}/compare/{old}...{new_tag}{nl}")
        return tail
    return tail


def release_date(value: str | None, *, field: str = "date") -> str:
    """A release date from a step's config checked as YYYY-MM-DD, or today (UTC) when it is None.

    Raises:
        ConfigError: not a calendar date written YYYY-MM-DD (the message names `field`).
    """
    if value is None:
        return dt.datetime.now(dt.UTC).date().isoformat()
    if len(value) == 10:
        with contextlib.suppress(ValueError):
            return dt.date.fromisoformat(value).isoformat()
    raise ConfigError(f"{field}: {value!r} is not YYYY-MM-DD")
