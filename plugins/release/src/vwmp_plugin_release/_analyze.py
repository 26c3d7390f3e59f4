"""`release/analyze-commits`: the next version and the release notes from the commits since the last release."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from vwmp_sdk import ConfigError, StepContext
from vwmp_toolkit.git import SafeGit, open_git
from vwmp_toolkit.paths import in_repo, rel
from vwmp_toolkit.refs import check_revision
from vwmp_toolkit.semver import Version, VersionError

from vwmp_plugin_release import _commits
from vwmp_plugin_release._commits import DEFAULT_TYPES, TypeRule

REPO = Field(description="Repository path relative to the workspace root")
_RECORD = "\x1e"


class CommitType(BaseModel):
    """A releasable commit type."""

    model_config = ConfigDict(extra="forbid")
    type: str = Field(pattern=r"^[A-Za-z][\w-]*$", description="Commit type, e.g. 'feat'")
    heading: str = Field(min_length=1, description="Heading of its commits in the notes, e.g. 'Features'")
    part: Literal["minor", "patch"] = Field(default="patch", description="Which part its commits bump")


class AnalyzeCommitsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    repo: str = REPO
    since: str | None = Field(
        default=None,
        description="Tag or commit of the last release (default: the newest SemVer tag reachable from HEAD "
        "matching tag_pattern, pre-releases excluded; none: every commit)",
    )
    path: str | None = Field(default=None, description="Only commits touching this folder of the repo (monorepos)")
    types: list[CommitType] | None = Field(
        default=None,
        description="Releasable types in heading order (default: feat → Features (minor), fix → Bug fixes "
        "(patch), perf → Performance improvements (patch)); a breaking change of any type bumps major",
    )
    tag_pattern: str = Field(
        default="v{version}",
        description="How release tags are named; '{version}' stands for the version, '{name}' for `name`",
    )
    name: str | None = Field(
        default=None, description="The package analysed (monorepos): '{name}' in tag_pattern, returned as `name`"
    )
    minimum_part: Literal["none", "patch", "minor", "major"] = Field(
        default="none",
        description="Release at least this part even without releasable commits (monorepos: a package released "
        "because a dependency is)",
    )
    initial_version: str | None = Field(
        default=None,
        description="The version to count from when no release tag is found (monorepos: the package's manifest "
        "version, so a package never tagged bumps from it); default 0.0.0",
    )
    updated_dependencies: list[str] = Field(
        default_factory=list,
        description="In-repo dependencies released with this package: listed in the notes under 'Dependencies'",
    )


class AnalyzedCommit(BaseModel):
    sha: str = Field(description="Full sha")
    type: str = Field(description="Conventional Commits type, lower case ('revert' for git's Revert \"...\")")
    scope: str | None = Field(description="Scope in parentheses, if any")
    subject: str = Field(description="The description after the colon")
    breaking: bool = Field(description="'!' after type/scope or a BREAKING CHANGE footer")
    issues: list[str] = Field(description="Issue references found in the subject and footers: #12, !7, KAN-7")


class NonConforming(BaseModel):
    sha: str = Field(description="Full sha")
    subject: str = Field(description="First line of the message")


class AnalyzeCommitsOutputs(BaseModel):
    previous_version: str = Field(description="Version of the last release (0.0.0 when there is none)")
    part: Literal["major", "minor", "patch", "none"] = Field(description="Bump the commits ask for")
    next_version: str = Field(description="Version to release (previous_version when part is none)")
    since: str | None = Field(description="The tag or commit the analysis started after (null: all history)")
    commits: list[AnalyzedCommit] = Field(description="Conforming commits since the last release, newest first")
    non_conforming: list[NonConforming] = Field(description="Commits whose message is not a Conventional Commit")
    notes: str = Field(description="Markdown release notes (### headings, short SHAs, issue references)")
    name: str | None = Field(description="The `name` given (null: none)")
    path: str | None = Field(description="The `path` given, relative to the repo (null: the whole repo)")
    tag: str = Field(description="The tag of next_version by tag_pattern, e.g. 'v1.3.0' or 'core@1.3.0'")


def tag_regex(pattern: str) -> re.Pattern[str]:
    """The regex of tags made by `pattern` (one `{version}` placeholder), capturing the version."""
    if pattern.count("{version}") != 1:
        raise ConfigError("tag_pattern must contain '{version}' exactly once")
    before, after = pattern.split("{version}")
    return re.compile(f"^{re.escape(before)}(?P<version>\\d+\\.\\d+\\.\\d+\\S*?){re.escape(after)}$")


def _version_of(tag: str, regex: re.Pattern[str]) -> Version | None:
    match = regex.match(tag)
    if match is None:
        return None
    try:
        return Version.parse(match.group("version"))
    except VersionError:
        return None


def _last_release(git: SafeGit, regex: re.Pattern[str], rev: str) -> tuple[str, Version] | None:
    """The newest release tag (no pre-release) reachable from `rev`."""
    best: tuple[str, Version] | None = None
    for tag in git.out("tag", "--list", "--merged", rev).splitlines():
        version = _version_of(tag, regex)
        if version is not None and not version.prerelease and (best is None or version > best[1]):
            best = (tag, version)
    return best


def analyze(git: SafeGit, config: AnalyzeCommitsConfig) -> AnalyzeCommitsOutputs:
    """The analysis itself; read-only, so a dry run does exactly what a real run does."""
    if "{name}" in config.tag_pattern and config.name is None:
        raise ConfigError("tag_pattern has '{name}': give 'name'")
    pattern = config.tag_pattern.replace("{name}", config.name or "")
    regex = tag_regex(pattern)
    if git.head() is None:
        raise ConfigError("the repository has no commits")
    types = tuple(TypeRule(t.type, t.heading, t.part) for t in config.types) if config.types else DEFAULT_TYPES
    since: str | None = None
    previous = Version(0, 0, 0)
    if config.since is not None:
        since = check_revision(config.since, what="since")
        if git.commit_of(since) is None:
            raise ConfigError(f"since: {since!r} does not name a commit")
        own = _version_of(since, regex) if git.commit_of(f"refs/tags/{since}") else None
        found = _last_release(git, regex, git.commit_of(since) or since)
        previous = own or (found[1] if found else previous)
    else:
        found = _last_release(git, regex, "HEAD")
        if found is not None:
            since, previous = found
        elif config.initial_version is not None:
            try:
                previous = Version.parse(config.initial_version)
            except VersionError as exc:
                raise ConfigError(f"initial_version: {exc}") from None
    pathspec: list[str] = []
    path: str | None = None
    if config.path is not None:
        path = rel(git.repo_dir, in_repo(git.repo_dir, config.path, field="path")) or "."
        pathspec = ["--", path]
    revs = [f"{git.commit_of(since)}..HEAD"] if since else ["HEAD"]
    log = git.run("log", "--no-merges", "--no-color", f"--format=%H%n%B{_RECORD}", *revs, *pathspec).stdout
    commits: list[_commits.Commit] = []
    other: list[NonConforming] = []
    for record in log.split(_RECORD):
        sha, _, message = record.strip("\n").partition("\n")
        if not sha:
            continue
        commit = _commits.parse(sha, message)
        if commit is None:
            other.append(NonConforming(sha=sha, subject=(message.strip().splitlines() or [""])[0]))
        else:
            commits.append(commit)
    part = _commits.part_of(commits, types, previous)
    notes = _commits.notes(commits, types)
    if _commits.RANK[config.minimum_part] > _commits.RANK[part]:
        part = config.minimum_part
        if not notes and (commits or other):  # released anyway: its other commits are what changed
            entries = [f"- {c.subject} ({c.sha[:7]})" for c in commits]
            entries += [f"- {o.subject} ({o.sha[:7]})" for o in other]
            notes = "### Other changes\n\n" + "\n".join(entries) + "\n"
    if config.updated_dependencies:
        listed = "\n".join(f"- {name}" for name in config.updated_dependencies)
        notes = f"{notes}\n### Dependencies\n\n{listed}\n" if notes else f"### Dependencies\n\n{listed}\n"
    next_version = str(_commits.next_version(previous, part))
    return AnalyzeCommitsOutputs(
        previous_version=str(previous),
        part=part,
        next_version=next_version,
        since=since,
        commits=[
            AnalyzedCommit(
                sha=c.sha, type=c.type, scope=c.scope, subject=c.subject, breaking=c.breaking, issues=c.issues
            )
            for c in commits
        ],
        non_conforming=other,
        notes=notes,
        name=config.name,
        path=path,
        tag=pattern.replace("{version}", next_version),
    )


def analyze_commits(ctx: StepContext, config: AnalyzeCommitsConfig) -> AnalyzeCommitsOutputs:
    """Reads history only: a dry run computes the same outputs and plans nothing."""
    outputs = analyze(open_git(ctx, config.repo), config)
    ctx.log(
        f"{len(outputs.commits)} conventional commit(s), {len(outputs.non_conforming)} other(s) since "
        f"{outputs.since or 'the first commit'}: {outputs.part} → {outputs.next_version}"
    )
    return outputs
