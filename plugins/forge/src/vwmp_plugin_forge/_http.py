"""HTTPS to a forge: one request shape for plans and for sending, and the forge's answers as error kinds."""

from __future__ import annotations

import contextlib
import ipaddress
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
from vwmp_sdk import ConfigError, DeniedError, StepError

MASK = "***"
TIMEOUT = httpx.Timeout(30.0, read=120.0)
UPLOAD_TIMEOUT = httpx.Timeout(30.0, read=600.0, write=600.0)


@dataclass(frozen=True)
class Request:
    """One HTTP request to the forge, as sent and as shown in a plan."""

    method: str
    url: str
    params: dict[str, str] = field(default_factory=dict)
    json: dict[str, Any] | None = None
    content: bytes | None = None
    file_field: str | None = None  # multipart upload of `content` under this form field
    file_name: str = ""

    def shown(self, auth_header: str) -> str:
        """The request for a plan: method, URL, the auth header masked, the body (files by name and size)."""
        query = "&".join(f"{k}={v}" for k, v in self.params.items())
        lines = [f"{self.method} {self.url}{'?' + query if query else ''}", f"{auth_header}: {MASK}"]
        if self.json is not None:
            lines += ["", json.dumps(self.json, indent=2, ensure_ascii=False)]
        elif self.content is not None:
            how = f"multipart field {self.file_field!r}" if self.file_field else "raw body"
            lines += ["", f"<{self.file_name}: {len(self.content)} bytes, {how}>"]
        return "\n".join(lines)


def checked_api_url(url: str) -> str:
    """`api_url` without its trailing slash: https, or plain http to a loopback host only; no credentials."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.username or parts.password:
        raise DeniedError("api_url must not carry credentials; use token")
    if parts.scheme == "https" and host:
        return url.rstrip("/")
    loopback = host == "localhost"
    with contextlib.suppress(ValueError):
        loopback = loopback or ipaddress.ip_address(host).is_loopback
    if parts.scheme == "http" and loopback:
        return url.rstrip("/")
    raise DeniedError(f"api_url {url!r} must be https (plain http only to a loopback host)")


class Forge:
    """A client for one forge API: authenticated, with timeouts, turning failures into error kinds."""

    def __init__(
        self, provider: str, auth_header: str, auth_value: str, token: str, headers: dict[str, str] | None = None
    ) -> None:
        self.provider = provider
        self.auth_header = auth_header
        self._token = token
        self._client = httpx.Client(
            headers={**(headers or {}), auth_header: auth_value, "User-Agent": "vwmp-plugin-forge"},
            timeout=TIMEOUT,
            follow_redirects=False,
        )

    def __enter__(self) -> Forge:
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.close()

    def send(self, request: Request, *, allow: tuple[int, ...] = ()) -> httpx.Response:
        """Send `request`; a status in `allow` (e.g. 404 of a lookup) is returned, not raised."""
        files = None
        if request.file_field is not None and request.content is not None:
            files = {request.file_field: (request.file_name, request.content, "application/octet-stream")}
        headers = {}
        if request.content is not None and files is None:
            headers["Content-Type"] = "application/octet-stream"
        try:
            response = self._client.request(
                request.method,
                request.url,
                params=request.params or None,
                json=request.json,
                content=request.content if files is None else None,
                files=files,
                headers=headers,
                timeout=UPLOAD_TIMEOUT if request.content is not None else TIMEOUT,
            )
        except httpx.TimeoutException:
            raise StepError(f"{self.provider}: {request.method} {request.url} timed out") from None
        except httpx.HTTPError as exc:
            detail = self._scrub(str(exc))
            raise StepError(f"{self.provider}: {request.method} {request.url} failed: {detail}") from None
        if response.is_success or response.status_code in allow:
            return response
        raise self.failure(request, response)

    def failure(self, request: Request, response: httpx.Response) -> StepError:
        """The error kind of a refused request: 401/403 denied, 429/5xx retried, other 4xx config."""
        code = response.status_code
        what = f"{self.provider} answered {code} to {request.method} {request.url}: {self._message(response)}"
        if code == 429 or code >= 500:
            return StepError(what)
        if code == 403 and response.headers.get("x-ratelimit-remaining") == "0":
            return StepError(what + " (rate limit; retried)")
        if code in (401, 403):
            return DeniedError(what + " (check the token and its scopes)")
        if code == 404:
            return ConfigError(what + " (wrong repository or api_url, or the token cannot see it)")
        return ConfigError(what)

    def _message(self, response: httpx.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            return self._scrub(response.text[:300].strip()) or response.reason_phrase
        if isinstance(body, dict):
            parts = [str(body.get("message") or body.get("error") or "")]
            if body.get("errors"):
                parts.append(json.dumps(body["errors"])[:300])
            return self._scrub(" ".join(p for p in parts if p)) or response.reason_phrase
        return self._scrub(json.dumps(body)[:300])

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, MASK) if self._token else text
