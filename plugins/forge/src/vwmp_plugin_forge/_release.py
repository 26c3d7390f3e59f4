"""`forge/release`: the release of a tag on GitHub, GitLab or Gitea, created once and updated after."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from vwmp_common.icons import glyph
from vwmp_sdk import ConfigError, DeniedError, Plugin, StepContext

from vwmp_plugin_forge._http import Forge, Request, checked_api_url
from vwmp_plugin_forge._providers import DEFAULT_API, PROVIDERS, GitLab, Provider, Release, Wanted

plugin = Plugin("forge", title="Forge", description="Releases on GitHub, GitLab and Gitea",
                icon=glyph("M4 17a4 4 0 0 1 1-7.9A6 6 0 0 1 16.7 8 4.5 4.5 0 0 1 19 17z", "#6d28d9"))

_SEGMENT = r"[A-Za-z0-9_][A-Za-z0-9_.-]*"
OWNER_NAME = re.compile(f"^{_SEGMENT}/{_SEGMENT}$")
PROJECT_PATH = re.compile(f"^{_SEGMENT}(?:/{_SEGMENT})+$")
MAX_ASSET = 512 * 1024 * 1024


class ReleaseConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    provider: Literal["github", "gitlab", "gitea"] = Field(description="Which forge")
    api_url: str | None = Field(
        default=None,
        description="API root (default: https://api.github.com, https://gitlab.com/api/v4, https://gitea.com/api/v1); "
        "GitHub Enterprise: https://HOST/api/v3, self-hosted GitLab: https://HOST/api/v4, Gitea: https://HOST/api/v1",
    )
    repository: str = Field(description="owner/name (GitHub, Gitea) or the project path (GitLab, e.g. group/sub/app)")
    tag: str = Field(min_length=1, description="The tag the release is for (already pushed), e.g. v1.2.0")
    name: str | None = Field(default=None, description="Release title (default: the tag)")
    notes: str = Field(default="", description="Markdown release notes, e.g. release/analyze-commits' notes")
    draft: bool = Field(default=False, description="Save as a draft (GitHub, Gitea)")
    prerelease: bool = Field(default=False, description="Mark as a pre-release (GitHub, Gitea)")
    assets: list[str] | None = Field(
        default=None, description="Files to attach, relative to the workspace root; one with the same name is kept"
    )
    token: str = Field(
        min_length=1, description="API token, from ${{ secrets.NAME }}", json_schema_extra={"writeOnly": True}
    )


class ReleaseOutputs(BaseModel):
    id: str = Field(description="The forge's id of the release (GitLab: the tag)")
    url: str = Field(description="Web page of the release")
    action: Literal["created", "updated", "unchanged"] = Field(description="What this step did to the release")
    assets: list[str] = Field(description="Names of the attached files")


def _checked(config: ReleaseConfig) -> tuple[Provider, Wanted]:
    pattern = PROJECT_PATH if config.provider == "gitlab" else OWNER_NAME
    if not pattern.match(config.repository) or ".." in config.repository:
        raise ConfigError(
            f"repository {config.repository!r} must be "
            + ("a project path like group/app" if config.provider == "gitlab" else "owner/name")
        )
    if any(ord(c) < 0x20 or c in " ~^:?*[\\" for c in config.tag) or config.tag.startswith("-"):
        raise DeniedError(f"tag {config.tag!r} is not a tag name")
    api = checked_api_url(config.api_url or DEFAULT_API[config.provider])
    provider = PROVIDERS[config.provider](api, config.repository)
    wanted = Wanted(config.tag, config.name or config.tag, config.notes, config.draft, config.prerelease)
    provider.body(wanted)  # refuses what the forge cannot hold before anything is sent
    return provider, wanted


def _assets(ctx: StepContext, names: list[str] | None) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for index, name in enumerate(names or []):
        path = ctx.resolve_path(name, field=f"assets/{index}")  # a dry run's: in its scratch copy
        if ".git" in path.relative_to(ctx.workspace_root.resolve()).parts:
            raise DeniedError(f"assets/{index}: {name!r} is inside a .git folder")
        if not path.is_file():
            raise ConfigError(f"assets/{index}: {name!r} is not a file")
        if path.stat().st_size > MAX_ASSET:
            raise ConfigError(f"assets/{index}: {name!r} is larger than {MAX_ASSET // (1024 * 1024)} MiB")
        if path.name in found:
            raise ConfigError(f"assets/{index}: two files are named {path.name!r}")
        found[path.name] = path
    return found


def _find(forge: Forge, provider: Provider, tag: str, ctx: StepContext) -> Release | None:
    lookup = provider.lookup(tag)
    ctx.plan("look up release", f"GET {lookup.url}", diff=lookup.shown(provider.auth_header))
    response = forge.send(lookup, allow=(404,))
    if response.status_code == 200:
        return provider.read(response.json())
    if isinstance(provider, GitLab):
        return None
    listing: Request | None = provider.listing()
    while listing is not None:  # drafts have no tag lookup; an earlier attempt may have made one
        response = forge.send(listing)
        for body in response.json():
            if body.get("tag_name") == tag:
                return provider.read(body)
        following = response.links.get("next", {}).get("url")
        listing = Request("GET", following) if following else None
    return None


@plugin.step(
    "release", title="Forge release", description="Create or update the release of a tag on the forge",
    effects="remote",
)
def release(ctx: StepContext, config: ReleaseConfig) -> ReleaseOutputs:
    """Idempotent by tag: a release for the tag is updated (or kept when it already says the same)."""
    provider, wanted = _checked(config)
    files = _assets(ctx, config.assets)
    with Forge(
        config.provider, provider.auth_header, provider.auth_value(config.token), config.token, provider.headers()
    ) as forge:
        existing = _find(forge, provider, wanted.tag, ctx)
        if existing is None:
            action = "created"
            step: Request | None = provider.create(wanted)
        elif provider.unchanged(existing, wanted):
            action, step = "unchanged", None
        else:
            action, step = "updated", provider.update(existing, wanted)
        if step is None:
            assert existing is not None
            ctx.plan("keep release (unchanged)", existing.url or wanted.tag)
        else:
            ctx.plan(f"{'create' if existing is None else 'update'} release", f"{step.method} {step.url}",
                     diff=step.shown(provider.auth_header))  # fmt: skip
        if not ctx.dry_run and action == "unchanged" and ctx.progress.get("action"):
            action = ctx.progress["action"]  # an earlier delivery of this key created or updated it
        current = existing
        if step is not None and not ctx.dry_run:
            ctx.save_progress(action=action)
            current = provider.read(forge.send(step).json())
            ctx.log(f"{action} the {provider.kind} release of {wanted.tag}: {current.url}")
        for name, path in files.items():
            _attach(ctx, forge, provider, current, wanted.tag, name, path)
        if ctx.dry_run:
            return ReleaseOutputs(
                id=current.id if current else "", url=current.url if current else "", action=action,
                assets=list(files),
            )  # fmt: skip
        assert current is not None
        if action == "unchanged":
            ctx.log(f"the {provider.kind} release of {wanted.tag} already says this: {current.url}")
        return ReleaseOutputs(id=current.id, url=current.url, action=action, assets=list(files))


def _attach(
    ctx: StepContext, forge: Forge, provider: Provider, release: Release | None, tag: str, name: str, path: Path
) -> None:
    content = path.read_bytes()
    have = release.assets.get(name) if release else None
    if have is not None and (have[1] is None or have[1] == len(content)):
        ctx.plan("keep asset", name)
        return
    if have is not None and release is not None:
        delete = provider.delete_asset(release, have[0])
        ctx.plan("replace asset", f"DELETE {delete.url}", diff=delete.shown(provider.auth_header))
        if not ctx.dry_run:
            forge.send(delete, allow=(404,))
    upload = provider.upload(release, name, content)
    ctx.plan("upload asset", f"{upload.method} {upload.url}", diff=upload.shown(provider.auth_header))
    if ctx.dry_run:
        if isinstance(provider, GitLab):
            link = provider.link(tag, name, {"full_path": "/-/project/<id>/uploads/<secret>/" + name})
            ctx.plan("link asset", f"POST {link.url}", diff=link.shown(provider.auth_header))
        return
    uploaded = forge.send(upload).json()
    if isinstance(provider, GitLab):
        link = provider.link(tag, name, uploaded)
        ctx.plan("link asset", f"POST {link.url}", diff=link.shown(provider.auth_header))
        forge.send(link)
    ctx.log(f"attached {name} ({len(content)} bytes)")


class DeleteReleaseConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    provider: Literal["github", "gitlab", "gitea"] = Field(description="Which forge")
    api_url: str | None = Field(default=None, description="API root, as for forge/release")
    repository: str = Field(description="owner/name (GitHub, Gitea) or the project path (GitLab)")
    tag: str = Field(min_length=1, description="The tag whose release is deleted (the tag itself stays)")
    id: str | None = Field(
        default=None,
        description="Delete it only while the release of the tag is this one (the id output of the forge/release "
        "step it undoes); a release made again since is left alone",
    )
    token: str = Field(
        min_length=1, description="API token, from ${{ secrets.NAME }}", json_schema_extra={"writeOnly": True}
    )


class DeleteReleaseOutputs(BaseModel):
    deleted: bool = Field(description="The release was deleted (false: the tag had none)")
    id: str = Field(description="The id of the deleted release, '' when there was none")


@plugin.step("delete-release", title="Delete forge release",
             description="Undo forge/release: delete the release of a tag (the tag stays)")
def delete_release(ctx: StepContext, config: DeleteReleaseConfig) -> DeleteReleaseOutputs:
    """Idempotent: a tag without a release is success."""
    checked = ReleaseConfig(provider=config.provider, api_url=config.api_url, repository=config.repository,
                            tag=config.tag, token=config.token)
    provider, wanted = _checked(checked)
    with Forge(
        config.provider, provider.auth_header, provider.auth_value(config.token), config.token, provider.headers()
    ) as forge:
        existing = _find(forge, provider, wanted.tag, ctx)
        if existing is None:
            ctx.plan("nothing (no release)", wanted.tag)
            ctx.log(f"the tag {wanted.tag} has no {provider.kind} release; nothing to delete")
            return DeleteReleaseOutputs(deleted=False, id="")
        if config.id is not None and existing.id != config.id:
            raise DeniedError(f"the release of {wanted.tag} is {existing.id}, not {config.id}: it was made again "
                              "since; not deleting it")
        step = provider.delete(existing)
        ctx.plan("delete release", f"{step.method} {step.url}", diff=step.shown(provider.auth_header))
        if ctx.dry_run:
            return DeleteReleaseOutputs(deleted=True, id=existing.id)
        forge.send(step, allow=(404,))
        ctx.log(f"deleted the {provider.kind} release of {wanted.tag} ({existing.url or existing.id})")
        return DeleteReleaseOutputs(deleted=True, id=existing.id)
