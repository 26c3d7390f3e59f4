"""Loopback forges for tests of `forge/release`: the release endpoints of GitHub, Gitea and GitLab, in memory.

Each server keeps its releases, records every exchange and, for GitHub, checks each one against
GitHub's OpenAPI description (`vwmp_testkit.github_openapi`); a test asserts `forge.problems == []`.

Example:
    ```python
    with FakeForge("github", token="t0ken", openapi=load_github_openapi()) as forge:
        ...  # a step with api_url=forge.api_url, repository="acme/shop"
        assert len(forge.releases) == 1 and forge.problems == []
    ```
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import default as email_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from jsonschema import Draft7Validator

from vwmp_testkit.github_openapi import GitHubOpenAPI

__all__ = ["Exchange", "FakeForge"]

NOW = "2026-01-02T03:04:05Z"


def _options(required: list[str], **properties: str) -> dict[str, Any]:
    return {"type": "object", "required": required, "additionalProperties": False,
            "properties": {name: {"type": kind} for name, kind in properties.items()}}  # fmt: skip


# Request bodies as the forges document them: Gitea's swagger (CreateReleaseOption, EditReleaseOption)
# and GitLab's Releases API (create, update, release links). Unknown fields are problems too.
DOCUMENTED = {
    ("gitea", "POST", "releases"): _options(["tag_name"], tag_name="string", target_commitish="string",
                                            name="string", body="string", draft="boolean", prerelease="boolean"),
    ("gitea", "PATCH", "release"): _options([], tag_name="string", target_commitish="string", name="string",
                                            body="string", draft="boolean", prerelease="boolean"),
    ("gitlab", "POST", "releases"): _options(["tag_name"], tag_name="string", tag_message="string", name="string",
                                             description="string", ref="string", milestones="array",
                                             assets="object", released_at="string"),
    ("gitlab", "PUT", "release"): _options([], name="string", description="string", milestones="array",
                                           released_at="string"),
    ("gitlab", "POST", "links"): _options(["name", "url"], name="string", url="string",
                                          direct_asset_path="string", link_type="string"),
}  # fmt: skip
PREFIX = {"github": "", "gitea": "/api/v1", "gitlab": "/api/v4"}


@dataclass
class Exchange:
    """One request and the answer the fake forge gave."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    status: int
    response: Any


@dataclass
class FakeForge:
    """A forge on 127.0.0.1 implementing the endpoints `forge/release` uses."""

    kind: str
    token: str = "forge-token-123"
    openapi: GitHubOpenAPI | None = None
    releases: list[dict[str, Any]] = field(default_factory=list)
    exchanges: list[Exchange] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    fail_next: list[int] = field(default_factory=list)  # statuses answered instead of the next requests
    fail_writes: list[int] = field(default_factory=list)  # the same for the next requests that are not GET
    delay: float = 0.0  # seconds each answer waits (timeouts)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def __enter__(self) -> FakeForge:
        forge = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                forge._handle(self)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def api_url(self) -> str:
        return self.origin + PREFIX[self.kind]

    def writes(self) -> list[Exchange]:
        """Exchanges that change something (everything but GET)."""
        return [e for e in self.exchanges if e.method != "GET"]

    # -- the server side -------------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        time.sleep(self.delay)
        parts = urlsplit(handler.path)
        query = dict(parse_qsl(parts.query))
        raw = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        content_type = handler.headers.get("Content-Type") or ""
        body: Any = json.loads(raw) if raw and content_type.startswith("application/json") else None
        segments = [unquote(s) for s in parts.path.removeprefix(PREFIX[self.kind]).strip("/").split("/")]
        failing = self.fail_next or (self.fail_writes if handler.command != "GET" else [])
        injected = bool(failing)
        if injected:
            status, answer = failing.pop(0), {"message": "injected failure"}
        elif not self._authorized(handler):
            status, answer = 401, self._error(401, "Bad credentials" if self.kind == "github" else "401 Unauthorized")
        else:
            try:
                status, answer = getattr(self, f"_{self.kind}")(handler.command, segments, query, body, raw,
                                                               content_type)  # fmt: skip
            except KeyError:
                status, answer = 404, self._error(404, "Not Found")
        self.exchanges.append(Exchange(handler.command, parts.path, query, dict(handler.headers), body, status, answer))
        if self.openapi is not None and not injected:
            self.problems += self.openapi.check(handler.command, parts.path, query, body, status, answer)
        if self.kind != "github" and body is not None:
            self._check_documented(handler.command, segments, body)
        payload = b"" if answer is None else json.dumps(answer).encode()
        handler.send_response(status)
        if payload:
            handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    def _check_documented(self, method: str, segments: list[str], body: Any) -> None:
        tail = segments[-1]
        route = "links" if tail == "links" else "releases" if tail == "releases" else "release"
        schema = DOCUMENTED.get((self.kind, method, route))
        where = f"{self.kind} {method} /{'/'.join(segments)}"
        if schema is None:
            self.problems.append(f"{where}: no documented JSON body")
            return
        self.problems += [f"{where}: {e.message}" for e in Draft7Validator(schema).iter_errors(body)]

    def _authorized(self, handler: BaseHTTPRequestHandler) -> bool:
        if self.kind == "gitlab":
            return handler.headers.get("PRIVATE-TOKEN") == self.token
        scheme = "Bearer" if self.kind == "github" else "token"
        return handler.headers.get("Authorization") == f"{scheme} {self.token}"

    def _error(self, status: int, message: str) -> dict[str, Any]:
        if self.kind == "github":
            return {"message": message, "documentation_url": "https://docs.github.com/rest", "status": str(status)}
        return {"message": message}

    def _user(self) -> dict[str, Any]:
        base = f"{self.origin}/users/release-bot"
        if self.kind == "gitlab":
            return {"id": 1, "username": "release-bot", "name": "Release Bot", "state": "active",
                    "web_url": f"{self.origin}/release-bot"}  # fmt: skip
        if self.kind == "gitea":
            return {"id": 1, "login": "release-bot", "full_name": "Release Bot", "email": "bot@vwmp.invalid"}
        return {
            "login": "release-bot", "id": 1, "node_id": "U_1", "avatar_url": f"{self.origin}/avatars/1",
            "gravatar_id": "", "url": base, "html_url": f"{self.origin}/release-bot",
            "followers_url": f"{base}/followers", "following_url": f"{base}/following{{/other_user}}",
            "gists_url": f"{base}/gists{{/gist_id}}", "starred_url": f"{base}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{base}/subscriptions", "organizations_url": f"{base}/orgs",
            "repos_url": f"{base}/repos", "events_url": f"{base}/events{{/privacy}}",
            "received_events_url": f"{base}/received_events", "type": "Bot", "site_admin": False,
        }  # fmt: skip

    # GitHub and Gitea share the release shape.
    def _release_object(self, owner: str, repo: str, fields: dict[str, Any]) -> dict[str, Any]:
        number = next(self._ids)
        api = f"{self.api_url}/repos/{owner}/{repo}/releases/{number}"
        tag = fields["tag_name"]
        release = {
            "url": api, "html_url": f"{self.origin}/{owner}/{repo}/releases/tag/{tag}",
            "assets_url": f"{api}/assets", "upload_url": f"{api}/assets{{?name,label}}",
            "tarball_url": f"{self.api_url}/repos/{owner}/{repo}/tarball/{tag}",
            "zipball_url": f"{self.api_url}/repos/{owner}/{repo}/zipball/{tag}",
            "id": number, "node_id": f"RE_{number}", "tag_name": tag, "target_commitish": "main",
            "name": fields.get("name"), "body": fields.get("body"), "draft": bool(fields.get("draft")),
            "prerelease": bool(fields.get("prerelease")), "created_at": NOW,
            "published_at": None if fields.get("draft") else NOW, "author": self._user(), "assets": [],
        }  # fmt: skip
        return release

    def _asset_object(self, release: dict[str, Any], name: str, size: int) -> dict[str, Any]:
        number = next(self._ids)
        url = f"{release['url'].rsplit('/releases/', 1)[0]}/releases/assets/{number}"
        download = f"{release['html_url'].replace('/tag/', '/download/')}/{name}"
        if self.kind == "gitea":
            return {"id": number, "name": name, "size": size, "download_count": 0, "created_at": NOW,
                    "uuid": f"uuid-{number}", "browser_download_url": download}  # fmt: skip
        return {
            "url": url, "browser_download_url": download, "id": number, "node_id": f"RA_{number}", "name": name,
            "label": None, "state": "uploaded", "content_type": "application/octet-stream", "size": size,
            "digest": None, "download_count": 0, "created_at": NOW, "updated_at": NOW, "uploader": self._user(),
        }  # fmt: skip

    def _by_id(self, number: str) -> dict[str, Any]:
        found = next((r for r in self.releases if str(r["id"]) == number), None)
        if found is None:
            raise KeyError(number)
        return found

    def _github(self, method: str, s: list[str], query: dict[str, str], body: Any, raw: bytes,
                content_type: str) -> tuple[int, Any]:  # fmt: skip
        if s[0] != "repos" or len(s) < 4 or s[3] != "releases":
            raise KeyError(s)
        owner, repo, rest = s[1], s[2], s[4:]
        if method == "GET" and len(rest) == 2 and rest[0] == "tags":
            found = [r for r in self.releases if r["tag_name"] == rest[1] and not r["draft"]]
            return (200, found[0]) if found else (404, self._error(404, "Not Found"))
        if method == "GET" and not rest:
            return 200, list(reversed(self.releases))
        if method == "POST" and not rest:
            if any(r["tag_name"] == body["tag_name"] for r in self.releases):
                if self.kind == "gitea":
                    return 409, {"message": "Release is has no Tag"}
                return 422, {"message": "Validation Failed", "documentation_url": "https://docs.github.com/rest",
                             "errors": [{"resource": "Release", "code": "already_exists", "field": "tag_name"}]}
            release = self._release_object(owner, repo, body)
            self.releases.append(release)
            return 201, release
        if method == "PATCH" and len(rest) == 1:
            release = self._by_id(rest[0])
            release.update({k: body[k] for k in ("tag_name", "name", "body", "draft", "prerelease") if k in body})
            return 200, release
        if method == "POST" and len(rest) == 2 and rest[1] == "assets":
            release = self._by_id(rest[0])
            name, size = query["name"], len(raw)
            if self.kind == "gitea":
                name, size = self._multipart(raw, content_type, "attachment")
                name = query.get("name") or name
            asset = self._asset_object(release, name, size)
            release["assets"].append(asset)
            return 201, asset
        if method == "DELETE" and len(rest) == 1:
            release = self._by_id(rest[0])
            self.releases.remove(release)
            return 204, None
        if method == "DELETE" and self.kind == "github" and len(rest) == 2 and rest[0] == "assets":
            for release in self.releases:
                release["assets"] = [a for a in release["assets"] if str(a["id"]) != rest[1]]
            return 204, None
        if method == "DELETE" and self.kind == "gitea" and len(rest) == 3 and rest[1] == "assets":
            release = self._by_id(rest[0])
            release["assets"] = [a for a in release["assets"] if str(a["id"]) != rest[2]]
            return 204, None
        raise KeyError(s)

    _gitea = _github

    @staticmethod
    def _multipart(raw: bytes, content_type: str, field_name: str) -> tuple[str, int]:
        message = BytesParser(policy=email_policy).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
        for part in message.iter_parts():
            if part.get_param("name", header="content-disposition") == field_name:
                payload = part.get_payload(decode=True) or b""
                return str(part.get_filename()), len(payload)
        raise KeyError(field_name)

    def _gitlab(self, method: str, s: list[str], query: dict[str, str], body: Any, raw: bytes,
                content_type: str) -> tuple[int, Any]:  # fmt: skip
        if s[0] != "projects" or len(s) < 3:
            raise KeyError(s)
        project, rest = s[1], s[2:]
        if rest == ["uploads"] and method == "POST":
            name, size = self._multipart(raw, content_type, "file")
            number = next(self._ids)
            return 201, {"id": number, "alt": name, "url": f"/uploads/{number:032x}/{name}",
                         "full_path": f"/-/project/7/uploads/{number:032x}/{name}",
                         "markdown": f"[{name}](/uploads/{number:032x}/{name})", "size": size}  # fmt: skip
        if rest[0] != "releases":
            raise KeyError(s)
        if method == "POST" and len(rest) == 1:
            if any(r["tag_name"] == body["tag_name"] for r in self.releases):
                return 409, {"message": "Release already exists"}
            release = {
                "tag_name": body["tag_name"], "name": body.get("name"), "description": body.get("description"),
                "created_at": NOW, "released_at": NOW, "upcoming_release": False, "author": self._user(),
                "commit": {"id": "0" * 40}, "assets": {"count": 0, "sources": [], "links": []},
                "_links": {"self": f"{self.origin}/{project}/-/releases/{body['tag_name']}"},
            }  # fmt: skip
            self.releases.append(release)
            return 201, release
        release = next((r for r in self.releases if r["tag_name"] == rest[1]), None)
        if release is None:
            raise KeyError(rest)
        if method == "GET" and len(rest) == 2:
            return 200, release
        if method == "DELETE" and len(rest) == 2:
            self.releases.remove(release)
            return 200, release
        if method == "PUT" and len(rest) == 2:
            release.update({k: body[k] for k in ("name", "description") if k in body})
            return 200, release
        if method == "POST" and rest[2:] == ["assets", "links"]:
            number = next(self._ids)
            link = {"id": number, "name": body["name"], "url": body["url"], "direct_asset_url": body["url"],
                    "link_type": "other"}  # fmt: skip
            release["assets"]["links"].append(link)
            release["assets"]["count"] += 1
            return 201, link
        if method == "DELETE" and rest[2:4] == ["assets", "links"]:
            release["assets"]["links"] = [x for x in release["assets"]["links"] if str(x["id"]) != rest[4]]
            return 200, {}
        raise KeyError(s)
