"""deploy/compose.yaml run as written by podman-compose (Debian's), driven through its gateway.

The compose file is used unchanged, with one override that only swaps the two public images no
registry gives here (postgres:17-trixie, nats:2.11-alpine) for the stand-ins of tests/containers
(the same user, database and NATS configuration). Its plugin host announces itself by name
(`plugin-host:50053`), which the network's DNS may not know yet when the engine first dials it: a
workflow with the built-in git plugin's step succeeds anyway.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from vwmp_common.ports import free_port

from .conftest import REPO, ULIMITS, cli, eventually, podman
from .stack import stand_in_images

pytestmark = [pytest.mark.e2e, pytest.mark.containers]
COMPOSE = REPO / "deploy" / "compose.yaml"
# Only the images: everything else is deploy/compose.yaml's own.
STAND_INS = {"services": {"postgres": {"image": "vwmp-test/postgres:dev"}, "nats": {"image": "vwmp-test/nats:dev"}}}


class Project:
    """One `podman-compose up` of deploy/compose.yaml under a project name of its own."""

    def __init__(self, folder: Path) -> None:
        self.name = f"vwmpc{uuid.uuid4().hex[:6]}"
        self.override = folder / "stand-ins.yaml"
        self.override.write_text(yaml.safe_dump(STAND_INS))
        self.http_port = free_port()
        self.admin_token = secrets.token_hex(16)
        self.env = {**os.environ, "VWMP_HTTP_PORT": str(self.http_port), "VWMP_ADMIN_TOKEN": self.admin_token,
                    "VWMP_SERVICE_TOKEN": secrets.token_hex(16), "VWMP_PLUGIN_HOST_TOKEN": secrets.token_hex(16),
                    "VWMP_POSTGRES_PASSWORD": secrets.token_hex(12),
                    **{f"VWMP_NATS_{user}_PASSWORD": secrets.token_hex(12)
                       for user in ("ENGINE", "GATEWAY", "PLUGIN_HOST")}}

    def compose(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        command = [shutil.which("podman-compose") or "podman-compose", "--podman-args", "--runtime runc",
                   "--podman-run-args", " ".join(ULIMITS), "-p", self.name, "-f", str(COMPOSE),
                   "-f", str(self.override), *args]
        return subprocess.run(command, capture_output=True, text=True, env=self.env, timeout=timeout, check=False)

    def container(self, service: str) -> str:
        return f"{self.name}_{service}_1"  # podman-compose 1.0's names

    def logs(self, service: str) -> str:
        done = cli("logs", self.container(service), check=False)
        return done.stdout + done.stderr


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    if not podman() or shutil.which("podman-compose") is None:
        pytest.fail("needs podman and podman-compose (make containers installs both)")
    made = Project(tmp_path)
    try:
        yield made
    finally:
        made.compose("down", "--volumes", "-t", "2", timeout=180)
        cli("network", "rm", "--force", f"{made.name}_default", check=False)  # podman-compose 1.0 leaves it


@pytest.mark.timeout(420)
def test_the_compose_file_runs_as_written_and_its_plugin_host_is_dialled_by_name(images: dict[str, float],
                                                                                 project: Project) -> None:
    stand_in_images()
    up = project.compose("up", "-d", "--no-build")
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
    url, headers = f"http://127.0.0.1:{project.http_port}", {"Authorization": f"Bearer {project.admin_token}"}
    assert eventually(lambda: httpx.get(f"{url}/api/v1/ready", timeout=2).status_code == 200, timeout=120), \
        project.logs("api-gateway")[-2000:] + project.logs("storage")[-2000:]

    def palette() -> set[str]:
        return {i["type"] for i in httpx.get(f"{url}/api/v1/step-types", headers=headers, timeout=10).json()["items"]}
    assert eventually(lambda: "git/tag" in palette(), timeout=60), palette()
    host = project.container("plugin-host")
    git = ["git", "-c", "user.name=Ada", "-c", "user.email=ada@example.com", "-C", "/workspace/shop"]
    cli("exec", host, "git", "init", "-q", "--initial-branch", "main", "/workspace/shop")
    cli("exec", host, *git, "commit", "-q", "--allow-empty", "-m", "first")
    workflow = {"apiVersion": "vwmp/v1", "kind": "Workflow", "metadata": {"name": "composed"}, "spec": {"steps": [
        {"id": "start", "uses": "core/noop"},
        {"id": "tag", "uses": "git/tag", "needs": ["start"],
         "with": {"repo": "shop", "name": "v1.0.0", "message": "Release 1.0.0"}}]}}
    created = httpx.post(f"{url}/api/v1/workflows", json=workflow, headers=headers, timeout=30)
    assert created.status_code == 201, created.text
    started = httpx.post(f"{url}/api/v1/workflows/composed/runs", json={}, headers=headers, timeout=30)
    assert started.status_code in (200, 201, 202), started.text

    def run() -> dict[str, Any]:
        return dict(httpx.get(f"{url}/api/v1/runs/{started.json()['id']}", headers=headers, timeout=10).json())
    assert eventually(lambda: run()["state"] in ("succeeded", "failed", "cancelled"), timeout=90, period=0.5), run()
    assert run()["state"] == "succeeded", (run()["steps"], project.logs("engine")[-3000:])
    assert cli("exec", host, *git, "cat-file", "-t", "v1.0.0").stdout.strip() == "tag"
    assert "cannot call it at its advertised address" not in project.logs("engine")
