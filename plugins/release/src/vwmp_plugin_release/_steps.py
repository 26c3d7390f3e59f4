"""Handlers of `release/version-bump` and `release/changelog`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from vwmp_sdk import ConfigError, Plugin, StepContext, StepError
from vwmp_toolkit.changelog import ChangelogError, Document, release, release_date
from vwmp_toolkit.files import plan_edit, read_text, write_atomic
from vwmp_toolkit.paths import in_repo, repo_dir
from vwmp_toolkit.semver import Version, VersionError, checked_version
from vwmp_toolkit.version_files import autodetect, kind_of, locate

plugin = Plugin("release", title="Release", description="Version bumps, changelogs and release workflow templates")

REPO = Field(description="Repository path relative to the workspace root")


class VersionBumpConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    repo: str = REPO
    part: Literal["major", "minor", "patch", "prerelease"] = Field(description="Which part of the version to bump")
    files: list[str] | None = Field(
        default=None,
        description="Version files relative to the repo (pyproject.toml, package.json, VERSION, a module with "
        "__version__); omitted: detected",
    )
    prerelease_label: str = Field(default="rc", description="Label of part=prerelease, e.g. 'rc' → 1.3.0-rc.1")


class VersionBumpOutputs(BaseModel):
    previous_version: str = Field(description="Version before the bump")
    version: str = Field(description="Version after the bump")
    files: list[str] = Field(description="Files whose version changed (relative to the repo)")


class ChangelogConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    repo: str = REPO
    version: str = Field(description="The version being released (SemVer, no leading 'v')")
    file: str = Field(default="CHANGELOG.md", description="Changelog path relative to the repo")
    date: str | None = Field(default=None, description="Release date YYYY-MM-DD (default: today, UTC)")


class ChangelogOutputs(BaseModel):
    file: str = Field(description="The changelog path relative to the repo")
    section: str = Field(description="Markdown of the new release section")


@plugin.step("version-bump", title="Bump version", description="SemVer bump in every version file of the repo")
def version_bump(ctx: StepContext, config: VersionBumpConfig) -> VersionBumpOutputs:
    """All version files must agree before the bump, so a half-bumped repo is noticed, not made worse."""
    root = repo_dir(ctx, config.repo)
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
        new = previous.bump(config.part, config.prerelease_label)
    except VersionError as exc:
        raise ConfigError(str(exc)) from None
    for index, (name, (text, span)) in enumerate(current.items()):
        updated = span.replace(text, str(new))
        ctx.plan(plan_edit(name, text, updated))
        if not ctx.dry_run:
            write_atomic(in_repo(root, name, field=f"files/{index}"), updated)
            ctx.log(f"{name}: {previous} -> {new}")
    return VersionBumpOutputs(previous_version=str(previous), version=str(new), files=list(current))


@plugin.step("changelog", title="Update changelog", description="Keep a Changelog: [Unreleased] becomes the release")
def changelog(ctx: StepContext, config: ChangelogConfig) -> ChangelogOutputs:
    """Idempotent: when the version's section exists and [Unreleased] is empty, that section is the result."""
    version = checked_version(config.version)
    date = release_date(config.date)
    root = repo_dir(ctx, config.repo)
    path = in_repo(root, config.file, field="file")
    if not path.is_file():
        raise ConfigError(f"changelog {config.file!r} does not exist")
    text = read_text(path)
    doc = Document.parse(text)
    done = doc.section(version)
    unreleased = doc.section("Unreleased")
    if done is not None and (unreleased is None or not doc.body(unreleased).strip()):
        section = "".join(doc.lines[done.start : done.end]).rstrip("\r\n ") + "\n"
        ctx.log(f"{config.file} already has the {version} section")
        return ChangelogOutputs(file=config.file, section=section)
    try:
        updated, section = release(text, version, date)
    except ChangelogError as exc:
        raise StepError(f"{config.file}: {exc}") from None
    outputs = ChangelogOutputs(file=config.file, section=section)
    ctx.plan(plan_edit(config.file, text, updated))
    if ctx.dry_run:
        return outputs
    write_atomic(path, updated)
    ctx.log(f"{config.file}: released [Unreleased] as {version} ({date})")
    return outputs
