"""GitHub's published OpenAPI description (npm `@octokit/openapi`), fetched once; a checker of exchanges.

The package is fetched with `npm pack` (the machine's npm registry) into `.vwmp/test-cache/` of the
repository the first time a test needs it (a 29 MB download; only `api.github.com.json`, 13 MB, is
kept). `VWMP_TEST_CACHE` moves the cache.

OpenAPI 3.0 schemas are JSON Schema draft 4/5 plus `nullable`; `nullable: true` becomes a `null`
alternative so a standard validator can check them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

__all__ = ["OCTOKIT_OPENAPI_VERSION", "GitHubOpenAPI", "load_github_openapi"]

OCTOKIT_OPENAPI_VERSION = "23.0.2"
_MEMBER = "package/generated/api.github.com.json"
_ROOT = "urn:github-openapi"


def _cache_dir() -> Path:
    configured = os.environ.get("VWMP_TEST_CACHE")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[4] / ".vwmp" / "test-cache"


def _fetch(target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        done = subprocess.run(
            ["npm", "pack", "--silent", f"@octokit/openapi@{OCTOKIT_OPENAPI_VERSION}", "--pack-destination", folder],
            capture_output=True, text=True, check=False, timeout=600,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"npm pack @octokit/openapi@{OCTOKIT_OPENAPI_VERSION} failed: {done.stderr.strip()}")
        archive = next(Path(folder).glob("*.tgz"))
        with tarfile.open(archive) as tar:
            member = tar.extractfile(_MEMBER)
            assert member is not None
            partial = target.with_name(f"{target.name}.{os.getpid()}.part")  # parallel suites never share one
            partial.write_bytes(member.read())
            partial.replace(target)


def _json_schema(node: Any) -> Any:
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _json_schema(value) for key, value in node.items()}
    if converted.pop("nullable", False) is True:
        if isinstance(converted.get("type"), str):
            converted["type"] = [converted["type"], "null"]
            if "enum" in converted:
                converted["enum"] = [*converted["enum"], None]
        else:
            return {"anyOf": [converted, {"type": "null"}]}
    return converted


class GitHubOpenAPI:
    """Checks requests and responses against the operations of GitHub's description."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.version = spec["info"]["version"]
        converted = _json_schema(spec)
        self._registry: Registry[Any] = Registry().with_resource(
            _ROOT, Resource.from_contents(converted, default_specification=DRAFT7)
        )
        self._converted = converted
        self._routes = [
            (re.compile("^" + re.sub(r"\{[^/}]+\}", "[^/]+", path) + "$"), path) for path in spec["paths"]
        ]

    def operation(self, method: str, path: str) -> tuple[str, dict[str, Any]] | None:
        """The description's path template and operation for a request path (`/repos/o/r/releases`)."""
        for pattern, template in self._routes:
            if pattern.match(path):
                operation = self.spec["paths"][template].get(method.lower())
                if operation is not None:
                    return template, operation
        return None

    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            target: Any = self.spec
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            node = target
        return node

    def _errors(self, pointer: list[str], instance: Any) -> list[str]:
        fragment = "/" + "/".join(quote(p.replace("~", "~0").replace("/", "~1"), safe="") for p in pointer)
        validator = Draft7Validator({"$ref": f"{_ROOT}#{fragment}"}, registry=self._registry)
        return [f"{'/'.join(str(p) for p in e.absolute_path)}: {e.message}" for e in validator.iter_errors(instance)]

    def check(
        self, method: str, path: str, query: dict[str, str], body: Any, status: int, response: Any
    ) -> list[str]:
        """Problems of one exchange (empty: it conforms). `body`/`response` are parsed JSON or None."""
        found = self.operation(method, path)
        if found is None:
            return [f"{method} {path}: no such operation in GitHub's API"]
        template, operation = found
        where = f"{method} {template}"
        problems: list[str] = []
        params = [self._resolve(p) for p in [*self.spec["paths"][template].get("parameters", []),
                                              *operation.get("parameters", [])]]  # fmt: skip
        known = {p["name"] for p in params if p["in"] == "query"}
        problems += [f"{where}: unknown query parameter {name!r}" for name in query if name not in known]
        problems += [f"{where}: missing query parameter {p['name']!r}" for p in params
                     if p["in"] == "query" and p.get("required") and p["name"] not in query]  # fmt: skip
        base = ["paths", template, method.lower()]
        if body is not None:
            content = self._resolve(operation.get("requestBody", {})).get("content", {})
            if "application/json" not in content:
                problems.append(f"{where}: takes no JSON body")
            else:
                pointer = [*base, "requestBody", "content", "application/json", "schema"]
                problems += [f"{where} request {e}" for e in self._errors(pointer, body)]
        responses = operation.get("responses", {})
        if str(status) not in responses:
            return [*problems, f"{where}: status {status} is not a documented response ({', '.join(responses)})"]
        described = responses[str(status)]
        if "$ref" in described:
            pointer = described["$ref"].removeprefix("#/").split("/")
            described = self._resolve(described)
        else:
            pointer = [*base, "responses", str(status)]
        if "application/json" in described.get("content", {}):
            pointer = [*pointer, "content", "application/json", "schema"]
            problems += [f"{where} response {status} {e}" for e in self._errors(pointer, response)]
        elif response is not None:
            problems.append(f"{where}: status {status} has no body, got one")
        return problems


def load_github_openapi() -> GitHubOpenAPI:
    """The description of api.github.com from `@octokit/openapi` (fetched on first use)."""
    target = _cache_dir() / f"octokit-openapi-{OCTOKIT_OPENAPI_VERSION}" / "api.github.com.json"
    if not target.is_file():
        _fetch(target)
    spec = json.loads(target.read_text())
    return GitHubOpenAPI(spec)
