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

import httpx
import pytest
import yaml
from vwmp_common.ports import free_port

from .conftest import REPO, SHOP_GIT, ULIMITS, cli, eventually, podman, tag_run
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

    host = project.container("plugin-host")
    finished = tag_run(url, headers, host, "composed", [{"id": "start", "uses": "core/noop"}])
    assert finished["state"] == "succeeded", (finished["steps"], project.logs("engine")[-3000:])
    assert cli("exec", host, *SHOP_GIT, "cat-file", "-t", "v1.0.0").stdout.strip() == "tag"
    assert "cannot call it at its advertised address" not in project.logs("engine")
