"""The release endpoints of GitHub, Gitea and GitLab, as requests and readings of their answers.

GitHub (REST API 2022-11-28) and Gitea (API v1) share the shape of a release: looked up by tag,
created with POST, changed with PATCH, files uploaded to the release. GitLab (API v4) names a
release by its tag, changes it with PUT and holds files as links to project uploads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from vwmp_sdk import ConfigError

from vwmp_plugin_forge._http import Request

DEFAULT_API = {
    "github": "https://api.github.com",
    "gitlab": "https://gitlab.com/api/v4",
    "gitea": "https://gitea.com/api/v1",
}


@dataclass
class Release:
    """What the forge holds for the tag."""

    id: str
    url: str
    fields: dict[str, Any]
    assets: dict[str, tuple[str, int | None]] = field(default_factory=dict)  # name → (id, size)
    upload_url: str = ""


@dataclass(frozen=True)
class Wanted:
    """What the release should say."""

    tag: str
    name: str
    notes: str
    draft: bool
    prerelease: bool


class Provider:
    """GitHub's shape; Gitea differs in its auth header, upload form and asset paths."""

    kind = "github"
    auth_header = "Authorization"

    def __init__(self, api_url: str, repository: str) -> None:
        self.api = api_url
        self.repository = repository
        self.base = f"{api_url}/repos/{repository}"

    def auth_value(self, token: str) -> str:
        return f"Bearer {token}"

    def headers(self) -> dict[str, str]:
        """Headers the API asks every client to send."""
        return {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}

    def lookup(self, tag: str) -> Request:
        return Request("GET", f"{self.base}/releases/tags/{quote(tag, safe='')}")

    def listing(self) -> Request:
        """Every release, newest first: drafts are found only this way."""
        return Request("GET", f"{self.base}/releases", params={"per_page": "100"})

    def read(self, body: dict[str, Any]) -> Release:
        return Release(
            id=str(body["id"]),
            url=str(body.get("html_url") or ""),
            fields={k: body.get(k) for k in ("tag_name", "name", "body", "draft", "prerelease")},
            assets={str(a["name"]): (str(a["id"]), a.get("size")) for a in body.get("assets") or []},
            upload_url=str(body.get("upload_url") or "").split("{", 1)[0],
        )

    def body(self, wanted: Wanted) -> dict[str, Any]:
        return {
            "tag_name": wanted.tag,
            "name": wanted.name,
            "body": wanted.notes,
            "draft": wanted.draft,
            "prerelease": wanted.prerelease,
        }

    def unchanged(self, release: Release, wanted: Wanted) -> bool:
        body = self.body(wanted)
        return all((release.fields.get(k) or "") == (v or "") for k, v in body.items())

    def create(self, wanted: Wanted) -> Request:
        return Request("POST", f"{self.base}/releases", json=self.body(wanted))

    def update(self, release: Release, wanted: Wanted) -> Request:
        return Request("PATCH", f"{self.base}/releases/{release.id}", json=self.body(wanted))

    def upload(self, release: Release | None, name: str, content: bytes) -> Request:
        url = release.upload_url if release and release.upload_url else f"{self.base}/releases/<new id>/assets"
        return Request("POST", url, params={"name": name}, content=content, file_name=name)

    def delete_asset(self, release: Release, asset_id: str) -> Request:
        return Request("DELETE", f"{self.base}/releases/assets/{asset_id}")

    def delete(self, release: Release) -> Request:
        """Delete the release (never the tag: that is git/delete-tag's)."""
        return Request("DELETE", f"{self.base}/releases/{release.id}")


class Gitea(Provider):
    kind = "gitea"

    def auth_value(self, token: str) -> str:
        return f"token {token}"

    def headers(self) -> dict[str, str]:
        return {"Accept": "application/json"}

    def listing(self) -> Request:
        return Request("GET", f"{self.base}/releases", params={"limit": "50"})

    def read(self, body: dict[str, Any]) -> Release:
        release = super().read(body)
        release.upload_url = f"{self.base}/releases/{release.id}/assets"
        return release

    def upload(self, release: Release | None, name: str, content: bytes) -> Request:
        url = f"{self.base}/releases/{release.id if release else '<new id>'}/assets"
        return Request("POST", url, params={"name": name}, content=content, file_field="attachment", file_name=name)

    def delete_asset(self, release: Release, asset_id: str) -> Request:
        return Request("DELETE", f"{self.base}/releases/{release.id}/assets/{asset_id}")


class GitLab(Provider):
    """GitLab: the project is its URL-encoded path; a release has no draft or pre-release flag."""

    kind = "gitlab"
    auth_header = "PRIVATE-TOKEN"

    def __init__(self, api_url: str, repository: str) -> None:
        super().__init__(api_url, repository)
        self.base = f"{api_url}/projects/{quote(repository, safe='')}"

    def auth_value(self, token: str) -> str:
        return token

    def headers(self) -> dict[str, str]:
        return {"Accept": "application/json"}

    def lookup(self, tag: str) -> Request:
        return Request("GET", f"{self.base}/releases/{quote(tag, safe='')}")

    def read(self, body: dict[str, Any]) -> Release:
        links = (body.get("assets") or {}).get("links") or []
        return Release(
            id=str(body["tag_name"]),
            url=str((body.get("_links") or {}).get("self") or ""),
            fields={"tag_name": body.get("tag_name"), "name": body.get("name"), "description": body.get("description")},
            assets={str(link["name"]): (str(link["id"]), None) for link in links},
        )

    def body(self, wanted: Wanted) -> dict[str, Any]:
        if wanted.draft or wanted.prerelease:
            raise ConfigError("GitLab releases have no draft or pre-release flag: leave draft/prerelease false")
        return {"tag_name": wanted.tag, "name": wanted.name, "description": wanted.notes}

    def update(self, release: Release, wanted: Wanted) -> Request:
        body = self.body(wanted)
        body.pop("tag_name")
        return Request("PUT", f"{self.base}/releases/{quote(wanted.tag, safe='')}", json=body)

    def upload(self, release: Release | None, name: str, content: bytes) -> Request:
        return Request("POST", f"{self.base}/uploads", content=content, file_field="file", file_name=name)

    def link(self, tag: str, name: str, uploaded: dict[str, Any]) -> Request:
        """The release's link to an uploaded file (uploads answer with a path on the web host)."""
        web = self.api.rsplit("/api/", 1)[0]
        path = str(uploaded.get("full_path") or f"/{self.repository}{uploaded.get('url', '')}")
        return Request(
            "POST", f"{self.base}/releases/{quote(tag, safe='')}/assets/links", json={"name": name, "url": web + path}
        )

    def delete_asset(self, release: Release, asset_id: str) -> Request:
        return Request("DELETE", f"{self.base}/releases/{quote(release.id, safe='')}/assets/links/{asset_id}")

    def delete(self, release: Release) -> Request:
        return Request("DELETE", f"{self.base}/releases/{quote(release.id, safe='')}")


PROVIDERS: dict[str, type[Provider]] = {"github": Provider, "gitea": Gitea, "gitlab": GitLab}
