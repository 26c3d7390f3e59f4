"""REST client of the gateway: one place that turns problem+json and network errors into CliError."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click
import httpx

DEFAULT_URL = "http://127.0.0.1:8080"
URL_FILE = "gateway-url"
"""The file in the data folder where `make run` writes the URL it serves, for the CLI to find it."""


class CliError(click.ClickException):
    """An error shown to the user as one line on stderr, exit code 1, never a traceback."""

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def data_dir() -> Path:
    return Path(os.environ.get("VWMP_DATA_DIR", ".vwmp"))


def default_url() -> str:
    """Where the platform is: $VWMP_URL, else $VWMP_HTTP_PORT on loopback, else what `make run` wrote.

    The same settings `make run` reads, so `VWMP_HTTP_PORT=9090 make run` and `VWMP_HTTP_PORT=9090 ./vwmp runs`
    meet; with no setting at all, the CLI finds the platform started from the same folder.
    """
    if url := os.environ.get("VWMP_URL"):
        return url
    if port := os.environ.get("VWMP_HTTP_PORT"):
        return f"http://127.0.0.1:{port}"
    try:
        return (data_dir() / URL_FILE).read_text(encoding="utf-8").strip() or DEFAULT_URL
    except OSError:
        return DEFAULT_URL


def default_token() -> str | None:
    """$VWMP_TOKEN, else the admin token file that `make run` leaves in $VWMP_DATA_DIR."""
    token = os.environ.get("VWMP_TOKEN")
    if token:
        return token
    path = data_dir() / "admin-token"
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def describe_problem(response: httpx.Response) -> str:
    """One line from a problem+json (or any) error response."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return f"HTTP {response.status_code}: {response.text.strip()[:200] or response.reason_phrase}"
    line = f"{body.get('status', response.status_code)} {body.get('title', '')}: {body.get('detail', '')}".strip()
    errors = body.get("errors") or []
    if errors:
        line += " — " + "; ".join(f"{e.get('pointer') or '/'}: {e.get('message')}" for e in errors[:10])
        if len(errors) > 10:
            line += f"; … {len(errors) - 10} more"
    return line


class Gateway:
    """Thin synchronous client: every non-2xx answer raises CliError with the problem's text."""

    def __init__(self, url: str, token: str | None, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.url + "/api/v1", headers=headers, timeout=timeout)

    def request(self, method: str, path: str, *, ok: tuple[int, ...] = (), retries: int = 0,
                **kwargs: Any) -> httpx.Response:
        """One call; `retries` more on a connection error (only for calls that are safe to repeat)."""
        for attempt in range(retries + 1):
            try:
                response = self._http.request(method, path, **kwargs)
                break
            except httpx.TransportError as exc:
                if attempt == retries:
                    raise CliError(f"cannot reach the gateway at {self.url}: {exc}") from None
            except httpx.HTTPError as exc:
                raise CliError(f"cannot reach the gateway at {self.url}: {exc}") from None
        if response.status_code >= 400 and response.status_code not in ok:
            raise CliError(describe_problem(response))
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        return response.json() if response.content else None

    def ws_url(self, path: str) -> str:
        base = self.url.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
        return f"{base}/api/v1{path}"
