"""Conventional Commits 1.0: parse commit messages, decide the release part, write the notes.

The bump rules are python-semantic-release's with `allow_zero_version = true` and
`major_on_zero = false`: a breaking change bumps major, a `feat` minor, a `fix`/`perf` patch; while
the version is 0.x a breaking change bumps minor (1.0.0 is an explicit decision, `version: 1.0.0`).
Merge commits are skipped (their parents' commits are analysed); a revert (`revert:` or git's own
`Revert "..."`) is listed under its heading and does not cancel the reverted commit, as in
python-semantic-release.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from vwmp_toolkit.semver import Version

Part = Literal["major", "minor", "patch", "none"]
RANK: dict[str, int] = {"none": 0, "patch": 1, "minor": 2, "major": 3}

HEADER = re.compile(r"^(?P<type>[A-Za-z][\w-]*)(?:\((?P<scope>[^()\r\n]+)\))?(?P<bang>!)?: (?P<subject>\S.*)$")
GIT_REVERT = re.compile(r'^Revert "(?P<subject>.+)"$')
FOOTER = re.compile(r"^(?P<token>BREAKING[ -]CHANGE|[A-Za-z][\w-]*)(?::[ ]| #)(?P<value>.*)$")
BREAKING_FOOTER = re.compile(r"^BREAKING[ -]CHANGE: ?(?P<text>.*)$")
ISSUE = re.compile(r"(?<![\w/#!-])(?P<ref>[#!]\d+|[A-Z][A-Z0-9]+-\d+)\b")
ISSUE_FOOTERS = {"closes", "close", "closed", "fixes", "fix", "fixed", "resolves", "resolve", "resolved", "refs", "ref"}


@dataclass(frozen=True)
class TypeRule:
    """A releasable commit type: the heading its commits are listed under and the part it bumps."""

    type: str
    heading: str
    part: Literal["minor", "patch"]


DEFAULT_TYPES = (
    TypeRule("feat", "Features", "minor"),
    TypeRule("fix", "Bug fixes", "patch"),
    TypeRule("perf", "Performance improvements", "patch"),
)
BREAKING_HEADING = "Breaking changes"
REVERT_HEADING = "Reverts"


@dataclass
class Commit:
    """One analysed commit (the `commits` output items, plus what the notes need)."""

    sha: str
    type: str
    scope: str | None
    subject: str
    breaking: bool
    issues: list[str]
    breaking_notes: list[str] = field(default_factory=list)
    revert: bool = False


def parse(sha: str, message: str) -> Commit | None:
    """The commit's Conventional Commits reading, or None when its header does not conform."""
    lines = message.strip("\n").splitlines()
    if not lines:
        return None
    header = lines[0].rstrip()
    revert = GIT_REVERT.match(header)
    match = HEADER.match(header)
    if revert is not None:
        kind, scope, bang, subject = "revert", None, False, revert.group("subject")
    elif match is not None:
        kind, scope = match.group("type").lower(), match.group("scope")
        bang, subject = match.group("bang") is not None, match.group("subject").strip()
    else:
        return None
    body = lines[1:]
    breaking_notes = _breaking_notes(body)
    issues: list[str] = []
    for ref in ISSUE.finditer(subject):
        issues.append(ref.group("ref"))
    for line in body:
        footer = FOOTER.match(line)
        if footer and footer.group("token").lower() in ISSUE_FOOTERS:
            issues += [ref.group("ref") for ref in ISSUE.finditer(line)]
    if bang and not breaking_notes:
        breaking_notes = [subject]
    return Commit(
        sha=sha,
        type=kind,
        scope=scope,
        subject=subject,
        breaking=bang or bool(breaking_notes),
        issues=list(dict.fromkeys(issues)),
        breaking_notes=breaking_notes,
        revert=kind == "revert",
    )


def _breaking_notes(body: list[str]) -> list[str]:
    """Texts of the `BREAKING CHANGE:` footers; a value runs on until a blank line or the next footer."""
    notes: list[list[str]] = []
    open_note = False
    for line in body:
        breaking = BREAKING_FOOTER.match(line)
        if breaking is not None:
            notes.append([breaking.group("text").strip()])
            open_note = True
        elif open_note and line.strip() and FOOTER.match(line) is None:
            notes[-1].append(line.strip())
        else:
            open_note = False
    return [text for note in notes if (text := " ".join(t for t in note if t))]


def part_of(commits: list[Commit], types: tuple[TypeRule, ...], previous: Version) -> Part:
    """The largest bump any commit asks for (`none` without a releasable commit); on 0.x at most minor."""
    parts: dict[str, str] = {rule.type: rule.part for rule in types}
    best: Part = "none"
    for commit in commits:
        part: Part = "major" if commit.breaking else parts.get(commit.type, "none")  # type: ignore[assignment]
        if RANK[part] > RANK[best]:
            best = part
    return "minor" if best == "major" and previous.major == 0 else best


def releasable(commits: list[Commit], types: tuple[TypeRule, ...]) -> list[Commit]:
    """The commits that ask for a release: breaking ones and those of a releasable type."""
    kinds = {rule.type for rule in types}
    return [c for c in commits if c.breaking or c.type in kinds]


def next_version(previous: Version, part: Part) -> Version:
    """`previous` bumped by `part` (the same version for `none`)."""
    return previous if part == "none" else previous.bump(part)


def notes(commits: list[Commit], types: tuple[TypeRule, ...], *, link: str | None = None) -> str:
    """Markdown release notes: breaking changes first, then one heading per releasable type, then reverts.

    Args:
        commits: the analysed commits, newest first.
        types: the releasable types, in the order of their headings.
        link: a commit URL prefix (`https://host/owner/name/commit/`); short SHAs become links.
    """
    sections: dict[str, list[str]] = {}

    def entry(commit: Commit, text: str) -> str:
        scope = f"**{commit.scope}:** " if commit.scope else ""
        short = commit.sha[:7]
        sha = f"[{short}]({link}{commit.sha})" if link else short
        unsaid = [ref for ref in commit.issues if ref not in text]  # a subject's own "(#12)" is not said twice
        refs = f" ({', '.join(unsaid)})" if unsaid else ""
        return f"- {scope}{text} ({sha}){refs}"

    headings = {rule.type: rule.heading for rule in types}
    for commit in commits:
        for note in commit.breaking_notes:
            sections.setdefault(BREAKING_HEADING, []).append(entry(commit, note))
        heading = REVERT_HEADING if commit.revert else headings.get(commit.type)
        if heading is not None:
            sections.setdefault(heading, []).append(entry(commit, commit.subject))
    order = [BREAKING_HEADING, *dict.fromkeys(rule.heading for rule in types), REVERT_HEADING]
    blocks = [f"### {h}\n\n" + "\n".join(sections[h]) + "\n" for h in order if h in sections]
    return "\n".join(blocks)
