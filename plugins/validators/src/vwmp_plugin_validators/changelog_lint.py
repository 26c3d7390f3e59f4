"""Keep a Changelog 1.1 lint: what `validators/changelog-format` reports, one problem per finding."""

from __future__ import annotations

import datetime as dt
import itertools
import re

from vwmp_toolkit.changelog import COMPARE, Document, Section
from vwmp_toolkit.semver import Version, VersionError

SUBSECTIONS = ("Added", "Changed", "Deprecated", "Removed", "Fixed", "Security")
_SUBHEADING = re.compile(r"^###(?!#)\s*(?P<name>.*?)\s*$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def lint(text: str) -> list[tuple[int | None, str]]:
    """(1-based line or None, message) for every rule the changelog breaks."""
    doc = Document.parse(text)
    problems: list[tuple[int | None, str]] = []
    if not doc.sections:
        return [(None, "no '## ' sections: expected '## [Unreleased]' and '## [X.Y.Z] - YYYY-MM-DD' headings")]
    unreleased = doc.section("Unreleased")
    if unreleased is None:
        problems.append((None, "missing '## [Unreleased]' section"))
    elif doc.sections[0] is not unreleased:
        problems.append((unreleased.start + 1, "'## [Unreleased]' must be the first section"))
    released: list[tuple[int, Version, str]] = []
    for section in doc.sections:
        line = section.start + 1
        if section is unreleased:
            pass
        elif section.label is None:
            problems.append((line, f"heading {section.title!r} is not '[X.Y.Z] - YYYY-MM-DD'"))
        else:
            try:
                version = Version.parse(section.label)
            except VersionError:
                problems.append((line, f"[{section.label}] is not a SemVer version"))
                version = None
            date = section.date or ""
            if not _DATE.match(date):
                problems.append((line, f"[{section.label}] needs a date '- YYYY-MM-DD'"))
            else:
                try:
                    dt.date.fromisoformat(date)
                except ValueError:
                    problems.append((line, f"[{section.label}] date {date} is not a calendar date"))
                    date = ""
            if version is not None:
                released.append((line, version, date))
        problems += _subsection_problems(doc, section)
    problems += _order_problems(released)
    problems += _link_problems(doc, [v for _, v, _ in released], unreleased is not None)
    return sorted(problems, key=lambda p: p[0] or 0)


def _subsection_problems(doc: Document, section: Section) -> list[tuple[int | None, str]]:
    problems: list[tuple[int | None, str]] = []
    seen: set[str] = set()
    for i in range(section.start + 1, section.end):
        match = _SUBHEADING.match(doc.lines[i].rstrip("\r\n"))
        if not match:
            continue
        name = match.group("name")
        if name not in SUBSECTIONS:
            problems.append((i + 1, f"unknown subsection '### {name}' (use {', '.join(SUBSECTIONS)})"))
        elif name in seen:
            problems.append((i + 1, f"subsection '### {name}' appears twice in [{section.label}]"))
        seen.add(name)
    return problems


def _order_problems(released: list[tuple[int, Version, str]]) -> list[tuple[int | None, str]]:
    problems: list[tuple[int | None, str]] = []
    for (_, newer, newer_date), (line, older, older_date) in itertools.pairwise(released):
        if not older < newer:
            problems.append((line, f"[{older}] must be older than [{newer}] above it (newest first, no duplicates)"))
        elif newer_date and older_date and older_date > newer_date:
            problems.append((line, f"[{older}] is dated {older_date}, after [{newer}] ({newer_date})"))
    return problems


def _link_problems(doc: Document, versions: list[Version], has_unreleased: bool) -> list[tuple[int | None, str]]:
    links = {label.lower(): (i, url) for i, label, url in doc.links()}
    if not links:
        return []  # links are optional; once used they must be complete and consistent
    problems: list[tuple[int | None, str]] = []
    for version in versions:
        if str(version).lower() not in links:
            problems.append((None, f"no link definition '[{version}]: ...' for a released version"))
    known = {str(v).lower() for v in versions} | {"unreleased"}
    for label, (i, _) in links.items():
        if label not in known and re.match(r"^\d+\.\d+\.\d+", label):
            problems.append((i + 1, f"link [{label}] has no matching version heading"))
    if has_unreleased and "unreleased" not in links:
        problems.append((None, "no link definition '[unreleased]: .../compare/vX.Y.Z...HEAD'"))
    elif "unreleased" in links and versions:
        i, url = links["unreleased"]
        compare = COMPARE.match(url)
        if compare and not compare.group("old").endswith(str(versions[0])):
            problems.append(
                (i + 1, f"[unreleased] compares from {compare.group('old')}, not from the latest [{versions[0]}]")
            )
    return problems
