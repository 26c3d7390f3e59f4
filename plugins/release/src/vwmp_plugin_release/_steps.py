"""Handlers of `release/analyze-commits`, `release/packages`, `release/dependency-ranges`, `release/version-bump`
and `release/changelog`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from vwmp_common.icons import glyph
from vwmp_sdk import ConfigError, Plugin, StepContext, StepError
from vwmp_toolkit.changelog import ChangelogError, Document, release, release_date
from vwmp_toolkit.files import plan_edit, read_text, write_atomic
from vwmp_toolkit.paths import in_repo, rel, repo_dir
from vwmp_toolkit.semver import Version, VersionError, checked_version
from vwmp_toolkit.version_files import autodetect, kind_of, locate

from vwmp_plugin_release._analyze import analyze_commits
from vwmp_plugin_release._packages import dependency_ranges, packages

plugin = Plugin("release", title="Release", description="Version bumps, changelogs and release workflow templates",
                icon=glyph("M20.6 13.4 13.4 20.6a2 2 0 0 1-2.8 0L3 13V3h10l7.6 7.6a2 2 0 0 1 0 2.8zM7.5 7.5h.01",
                           "#2563eb"))
plugin.step(
    "analyze-commits",
    title="Analyze commits",
    effects="none",
    description="Conventional Commits since the last release tag: the next version and the release notes",
)(analyze_commits)
plugin.step(
    "packages",
    title="Monorepo packages",
    effects="none",
    description="The packages of a monorepo in dependency order, and which changed since their last tag",
)(packages)
plugin.step(
    "dependency-ranges",
    title="Update dependency ranges",
    effects="local",
    description="Point the in-repo dependents of released packages at their new versions",
)(dependency_ranges)

REPO = Field(description="Repository path relative to the workspace root")


class VersionBumpConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    repo: str = REPO
    part: Literal["major", "minor", "patch", "prerelease"] | None = Field(
        default=None, description="Which part of the version to bump (give part or version)"
    )
    version: str | None = Field(
        default=None,
        description="The new version, e.g. release/analyze-commits' next_version (give part or version); "
        "already there: nothing changes",
    )
    files: list[str] | None = Field(
        default=None,
        description="Version files relative to the repo (pyproject.toml, package.json, VERSION, a module with "
        "__version__); omitted: detected",
    )
    prerelease_label: str = Field(default="rc", description="Label of part=prerelease, e.g. 'rc' → 1.3.0-rc.1")
    path: str | None = Field(
        default=None,
        description="A package's folder relative to the repo (monorepos): its version files are detected there "
        "and `files` are relative to it",
    )


class VersionBumpOutputs(BaseModel):
    previous_version: str = Field(description="Version before the bump")
    version: str = Field(description="Version after the bump")
    files: list[str] = Field(description="Files whose version changed (relative to the repo)")


class ChangelogConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    repo: str = REPO
    version: str = Field(description="The version being released (SemVer, no leading 'v')")
    file: str = Field(default="CHANGELOG.md", description="Changelog path relative to the repo (to `path` when given)")
    path: str | None = Field(
        default=None, description="A package's folder relative to the repo (monorepos): `file` is relative to it"
    )
    create: bool = Field(
        default=False,
        description="Create the changelog (a Keep a Changelog header and an empty [Unreleased]) when it does not exist",
    )
    date: str | None = Field(default=None, description="Release date YYYY-MM-DD (default: today, UTC)")
    notes: str | None = Field(
        default=None, description="Markdown entries for the section, e.g. release/analyze-commits' notes"
    )
    source: Literal["unreleased", "commits", "both"] | None = Field(
        default=None,
        description="Where the section's entries come from: the [Unreleased] entries, the notes (the "
        "[Unreleased] entries stay where they are), or both (Unreleased first); default: both when notes "
        "are given, else unreleased",
    )


class ChangelogOutputs(BaseModel):
    file: str = Field(description="The changelog path relative to the repo")
    section: str = Field(description="Markdown of the new release section")


@plugin.step(
    "version-bump", title="Bump version", description="SemVer bump in every version file of the repo",
    effects="local",
)
def version_bump(ctx: StepContext, config: VersionBumpConfig) -> VersionBumpOutputs:
    """All version files must agree before the bump, so a half-bumped repo is noticed, not made worse.

    Not idempotent by itself (a second patch bump is another version), so the versions are saved as
    the key's progress before any file is written: a delivery of the same key after one that was cut
    off finishes that bump instead of bumping again.
    """
    if (config.part is None) == (config.version is None):
        raise ConfigError("give exactly one of 'part' and 'version'")
    root = repo_dir(ctx, config.repo)
    prefix = ""
    if config.path is not None:
        package = in_repo(root, config.path, field="path")
        if not package.is_dir():
            raise ConfigError(f"path: {config.path!r} is not a folder of the repository")
        prefix = "" if package == root.resolve() else rel(root, package) + "/"
        root = package
    if not ctx.dry_run and ctx.progress.get("version"):
        return _finish_bump(ctx, root, ctx.progress, prefix)
    names = config.files or autodetect(root)
    if not names:
        raise ConfigError("no version file found (pyproject.toml, package.json, VERSION, __version__); set 'files'")
    current: dict[str, tuple[str, Any]] = {}
    versions: dict[str, str] = {}
    for index, name in enumerate(names):
        path = in_repo(root, name, field=f"files/{index}")
        try:
            kind = kind_of(name)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if not path.is_file():
            raise ConfigError(f"version file {name!r} does not exist")
        text = read_text(path)
        span = locate(kind, text)
        if span is None:
            raise ConfigError(f"{name}: no static version found")
        current[name] = (text, span)
        versions[name] = span.value(text)
    if len(set(versions.values())) > 1:
        listed = ", ".join(f"{n}={v}" for n, v in versions.items())
        raise StepError(f"version files disagree: {listed}")
    try:
        previous = Version.parse(next(iter(versions.values())))
        new = Version.parse(checked_version(config.version)) if config.version else previous.bump(
            config.part or "patch", config.prerelease_label
        )
    except VersionError as exc:
        raise ConfigError(str(exc)) from None
    if new < previous:
        raise ConfigError(f"version {new} is older than the current {previous}")
    if not ctx.dry_run:
        ctx.save_progress(previous_version=str(previous), version=str(new), files=list(current))
    for index, (name, (text, span)) in enumerate(current.items()):
        updated = span.replace(text, str(new))
        if updated == text:
            ctx.log(f"{prefix}{name}: already at {new}")
            continue
        ctx.plan(plan_edit(prefix + name, text, updated))
        if not ctx.dry_run:
            write_atomic(in_repo(root, name, field=f"files/{index}"), updated)
            ctx.log(f"{prefix}{name}: {previous} -> {new}")
    return VersionBumpOutputs(previous_version=str(previous), version=str(new),
                              files=[prefix + name for name in current])


def _finish_bump(ctx: StepContext, root: Path, progress: dict[str, Any], prefix: str = "") -> VersionBumpOutputs:
    """The bump an earlier delivery of this key began: files still at the old version get the new one."""
    previous, new, names = str(progress["previous_version"]), str(progress["version"]), list(progress["files"])
    for index, name in enumerate(names):
        path = in_repo(root, name, field=f"files/{index}")
        text = read_text(path) if path.is_file() else ""
        span = locate(kind_of(name), text)
        found = span.value(text) if span else None
        if found == new:
            continue
        if found != previous or span is None:
            raise StepError(f"{name}: the version is {found!r}, neither {previous} nor {new}: it changed since "
                            "this step began")
        write_atomic(path, span.replace(text, new))
        ctx.log(f"{prefix}{name}: {previous} -> {new} (finishing the bump this step began)")
    ctx.log(f"bump {previous} -> {new} done by an earlier delivery of this step; not bumping again")
    return VersionBumpOutputs(previous_version=previous, version=new, files=[prefix + name for name in names])


@plugin.step(
    "changelog", title="Update changelog", description="Keep a Changelog: [Unreleased] becomes the release",
    effects="local",
)
def changelog(ctx: StepContext, config: ChangelogConfig) -> ChangelogOutputs:
    """Idempotent: when the version's section exists and [Unreleased] is empty, that section is the result."""
    version = checked_version(config.version)
    date = release_date(config.date)
    source = config.source or ("both" if config.notes else "unreleased")
    if source != "unreleased" and not (config.notes or "").strip():
        raise ConfigError(f"source {source!r} needs 'notes'")
    root = repo_dir(ctx, config.repo)
    name = config.file
    if config.path is not None:
        package = in_repo(root, config.path, field="path")
        if not package.is_dir():
            raise ConfigError(f"path: {config.path!r} is not a folder of the repository")
        name = f"{rel(root, package)}/{config.file}" if package != root.resolve() else config.file
    path = in_repo(root, name, field="file")
    existing: str | None = read_text(path) if path.is_file() else None
    if existing is None and not config.create:
        raise ConfigError(f"changelog {name!r} does not exist")
    text = existing if existing is not None else NEW_CHANGELOG
    doc = Document.parse(text)
    done = doc.section(version)
    unreleased = doc.section("Unreleased")
    if done is not None and (source == "commits" or unreleased is None or not doc.body(unreleased).strip()):
        section = "".join(doc.lines[done.start : done.end]).rstrip("\r\n ") + "\n"
        ctx.log(f"{name} already has the {version} section")
        return ChangelogOutputs(file=name, section=section)
    try:
        updated, section = release_with(doc, text, version, date, source, config.notes or "")
    except ChangelogError as exc:
        raise StepError(f"{name}: {exc}") from None
    outputs = ChangelogOutputs(file=name, section=section)
    ctx.plan(plan_edit(name, existing, updated))
    if ctx.dry_run:
        return outputs
    write_atomic(path, updated)
    ctx.log(f"{name}: released {version} ({date}) from {source}")
    return outputs


NEW_CHANGELOG = """# Changelog

All notable changes to this package are documented in this file.
The format is based on [Keep a Changelog](https://keepachangelog.com/en/1.1.0/).

## [Unreleased]
"""


def release_with(doc: Document, text: str, version: str, date: str, source: str, notes: str) -> tuple[str, str]:
    """Keep a Changelog release whose entries come from `source`, by the toolkit's `release`.

    `commits` releases the notes alone and puts the [Unreleased] entries back under a fresh
    [Unreleased]; `both` releases the [Unreleased] entries followed by the notes.
    """
    if source == "unreleased":
        return release(text, version, date)
    unreleased = doc.section("Unreleased")
    if unreleased is None:
        raise ChangelogError("the changelog has no '## [Unreleased]' section")
    nl = doc.newline
    kept = "".join(doc.lines[unreleased.start + 1 : unreleased.end]).strip("\r\n ")
    notes_text = nl.join(notes.strip("\r\n ").splitlines())
    entries = notes_text if source == "commits" or not kept else f"{kept}{nl}{nl}{notes_text}"
    lines = [*doc.lines[: unreleased.start + 1], nl, entries + nl, nl, *doc.lines[unreleased.end :]]
    updated, section = release("".join(lines), version, date)
    if source == "commits" and kept:
        after = Document.parse(updated)
        fresh = after.section("Unreleased")
        assert fresh is not None
        heading = fresh.start + 1
        updated = "".join([*after.lines[:heading], nl, kept + nl, *after.lines[heading:]])
    return updated, section
