"""`release/packages` and `release/dependency-ranges`: the packages of a monorepo and the ranges between them."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field
from vwmp_sdk import ConfigError, StepContext
from vwmp_toolkit.files import plan_edit, read_text, write_atomic
from vwmp_toolkit.git import SafeGit, open_git
from vwmp_toolkit.paths import in_repo
from vwmp_toolkit.semver import checked_version

from vwmp_plugin_release._analyze import _last_release, tag_regex
from vwmp_plugin_release._manifests import (
    Manifest,
    dependency_order,
    dependents_closure,
    discover,
    tag_of,
    update_package_json,
    update_pyproject,
)

REPO = Field(description="Repository path relative to the workspace root")
GLOBS = Field(
    default=None,
    description="Manifests of the packages, globs relative to the repo ending in pyproject.toml or package.json "
    "(default: every pyproject.toml and package.json below the root, node_modules and virtualenvs skipped; the "
    "root's own is skipped when it is a workspace manifest: [tool.uv.workspace] or \"workspaces\")",
)
TAG_PATTERN = Field(
    default="{name}@{version}",
    description="How a package's release tags are named; '{name}' and '{version}' stand for its name and version",
)


class PackagesConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    repo: str = REPO
    globs: list[str] | None = GLOBS
    tag_pattern: str = TAG_PATTERN


class Package(BaseModel):
    name: str = Field(description="Package name from its manifest")
    path: str = Field(description="Its folder relative to the repo ('.' for the root)")
    version: str = Field(description="Version in its manifest")
    depends_on: list[str] = Field(description="Names of the packages of this repo it depends on")
    changed: bool = Field(description="Whether commits touched its folder since its last tag (true: never tagged)")
    manifest: str = Field(description="Its manifest relative to the repo")
    last_tag: str | None = Field(description="Its newest release tag reachable from HEAD (null: none)")
    tag_pattern: str = Field(description="tag_pattern with its name filled in, e.g. 'core@{version}'")
    updated_dependencies: list[str] = Field(description="Its dependencies that release too (in `release`)")


class PackagesOutputs(BaseModel):
    packages: list[Package] = Field(description="Every package, dependencies before their dependents")
    release: list[Package] = Field(
        description="The packages to release: the changed ones and every package depending on one (directly or "
        "not), in the same order"
    )
    skipped: list[str] = Field(
        description="Manifests found that are no package: the workspace root's, and those without a name or a "
        "static version"
    )


def _last_tag(git: SafeGit, pattern: str) -> str | None:
    found = _last_release(git, tag_regex(pattern), "HEAD")
    return found[0] if found else None


def _changed(git: SafeGit, manifest: Manifest, last_tag: str | None) -> bool:
    if last_tag is None:
        return True
    since = git.commit_of(f"refs/tags/{last_tag}")
    log = git.out("log", "--format=%H", "-1", f"{since}..HEAD", "--", manifest.path)
    return bool(log)


def packages(ctx: StepContext, config: PackagesConfig) -> PackagesOutputs:
    """Reads the work tree and history only: a dry run computes the same outputs and plans nothing."""
    git = open_git(ctx, config.repo)
    if git.head() is None:
        raise ConfigError("the repository has no commits")
    skipped: list[str] = []
    ordered = dependency_order(discover(git.repo_dir, config.globs, config.tag_pattern, skipped))
    if skipped:
        ctx.log("not packages (workspace root, no name or no static version): " + ", ".join(skipped))
    found: list[Package] = []
    for manifest in ordered:
        pattern = config.tag_pattern.replace("{name}", manifest.name)
        last = _last_tag(git, pattern)
        found.append(Package(
            name=manifest.name, path=manifest.path, version=manifest.version, depends_on=manifest.depends_on,
            changed=_changed(git, manifest, last), manifest=manifest.file, last_tag=last, tag_pattern=pattern,
            updated_dependencies=[],
        ))
    releasing = dependents_closure(ordered, {p.name for p in found if p.changed})
    for package in found:
        package.updated_dependencies = [n for n in package.depends_on if n in releasing]
    release = [p for p in found if p.name in releasing]
    ctx.log(f"{len(found)} package(s), {len(release)} to release: "
            + (", ".join(p.name for p in release) or "none"))
    return PackagesOutputs(packages=found, release=release, skipped=skipped)


class Released(BaseModel):
    """A package released by this run: an item of `release/analyze-commits`' outputs (other keys ignored)."""

    model_config = ConfigDict(extra="ignore")
    name: str = Field(min_length=1, description="Package name")
    next_version: str = Field(description="Its new version")
    tag: str | None = Field(default=None, description="Its release tag")
    path: str | None = Field(default=None, description="Its folder")


class DependencyRangesConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    repo: str = REPO
    released: list[Released] = Field(
        description="The packages released in this run with their new versions, e.g. "
        "${{ steps.analyze.outputs }} of a for_each of release/analyze-commits"
    )
    globs: list[str] | None = GLOBS
    tag_pattern: str = TAG_PATTERN


class RangeUpdate(BaseModel):
    package: str = Field(description="The dependent package")
    file: str = Field(description="Its manifest relative to the repo")
    dependency: str = Field(description="The released package it depends on")
    previous: str = Field(description="The range (npm) or requirement (Python) before")
    updated: str = Field(description="After")


class DependencyRangesOutputs(BaseModel):
    files: list[str] = Field(description="Manifests whose ranges changed")
    updates: list[RangeUpdate] = Field(description="Every range changed")
    tags: list[str] = Field(description="The release tags of the released packages, in their order")
    title: str = Field(description="One line naming every release, e.g. 'core@1.3.0, app@0.2.1'")
    summary: str = Field(description="Markdown: one line per released package with its version and tag")
    listing: str = Field(description="The same on one line, e.g. 'core 1.3.0 (tag core@1.3.0); app 0.2.1 (tag …)'")


def dependency_ranges(ctx: StepContext, config: DependencyRangesConfig) -> DependencyRangesOutputs:
    """Sets the ranges of in-repo dependents to the released versions; idempotent (a second run changes nothing)."""
    git = open_git(ctx, config.repo)
    root = git.repo_dir
    manifests = discover(root, config.globs, config.tag_pattern)
    known = {m.name for m in manifests}
    versions: dict[str, str] = {}
    for index, package in enumerate(config.released):
        if package.name not in known:
            raise ConfigError(f"released/{index}/name: {package.name!r} is no package of this repository")
        versions[package.name] = checked_version(package.next_version)
    edits: list[tuple[Manifest, Path, str, str, list[tuple[str, str, str]]]] = []
    for manifest in manifests:  # every edit is computed before any is written: a refused range changes nothing
        relevant = {n: v for n, v in versions.items() if n in manifest.depends_on}
        if not relevant:
            continue
        path = in_repo(root, manifest.file, field="globs")
        text = read_text(path)
        edit = update_package_json if manifest.kind == "package.json" else update_pyproject
        try:
            updated, changes = edit(text, relevant)
        except ConfigError as exc:
            raise ConfigError(f"{manifest.file}: {exc}") from None
        if updated != text:
            edits.append((manifest, path, text, updated, changes))
    files: list[str] = []
    updates: list[RangeUpdate] = []
    for manifest, path, text, updated, changes in edits:
        ctx.plan(plan_edit(manifest.file, text, updated))
        files.append(manifest.file)
        for dependency, before, after in changes:
            updates.append(RangeUpdate(package=manifest.name, file=manifest.file, dependency=dependency,
                                       previous=before, updated=after))
        if not ctx.dry_run:
            write_atomic(path, updated)
            ctx.log(f"{manifest.file}: " + ", ".join(f"{d} {b} -> {a}" for d, b, a in changes))
    tags = [p.tag or tag_of(config.tag_pattern, p.name, versions[p.name]) for p in config.released]
    pairs = list(zip(config.released, tags, strict=True))
    summary = "\n".join(f"- {p.name} {versions[p.name]} ({p.path or '.'}), tag {tag}" for p, tag in pairs)
    listing = "; ".join(f"{p.name} {versions[p.name]} (tag {tag})" for p, tag in pairs)
    return DependencyRangesOutputs(
        files=files, updates=updates, tags=tags,
        title=", ".join(f"{p.name}@{versions[p.name]}" for p in config.released), summary=summary, listing=listing,
    )
