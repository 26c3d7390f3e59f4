"""The platform as containers: the images built by deploy/build-images.sh, run with docker or podman.

`make test-containers` runs these (marker `containers`; not part of `make test`). The images are
built once per session, on the base images made here when VWMP_BASE_IMAGE=local (the Makefile's
default for this target: no registry needed), with the engine's layer cache, so a warm run rebuilds
only what changed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
TAG = os.environ.get("VWMP_CONTAINERS_TAG", "dev")
ULIMITS = ["--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"]


def engine() -> list[str]:
    """The container engine command line, chosen as deploy/build-images.sh chooses it."""
    if os.environ.get("DOCKER"):
        return os.environ["DOCKER"].split()
    if shutil.which("docker") and subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0:
        return ["docker"]
    if shutil.which("podman"):
        return ["podman", "--runtime", "runc"] if shutil.which("runc") else ["podman"]
    pytest.fail("no container engine: `make containers` installs podman")


def podman() -> bool:
    return Path(engine()[0]).name == "podman"


def run_flags() -> list[str]:
    """What every `run` needs on this kind of host (podman's default ulimits exceed the hard limits)."""
    return ULIMITS if podman() else []


def cli(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([*engine(), *args], capture_output=True, text=True, check=False, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(args[:3])}... failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


def image(name: str) -> str:
    return f"vwmp/{name}:{TAG}"


# Hardened like deploy/compose.yaml and the Kubernetes pods: user 10001, read-only root, no capabilities.
HARDENED = ["--read-only", "--user", "10001:10001", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
            "--tmpfs", "/tmp"]


@pytest.fixture(scope="session")
def images() -> dict[str, float]:
    """Build every image (once per session); returns the build time in seconds."""
    started = time.monotonic()
    env = {**os.environ, "VWMP_BASE_IMAGE": os.environ.get("VWMP_BASE_IMAGE", "local")}
    done = subprocess.run(["bash", str(REPO / "deploy" / "build-images.sh"), TAG], env=env, capture_output=True,
                          text=True, check=False, timeout=1800)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return {"seconds": time.monotonic() - started}


class Containers:
    """Containers and networks a test starts; all of them removed at the end."""

    def __init__(self) -> None:
        self.prefix = f"vwmp-t{uuid.uuid4().hex[:6]}"
        self.names: list[str] = []
        self.networks: list[str] = []

    def network(self) -> str:
        name = f"{self.prefix}-net"
        cli("network", "create", name)
        self.networks.append(name)
        return name

    def run(self, name: str, image_name: str, *args: str, env: dict[str, str] | None = None,
            command: tuple[str, ...] = ()) -> str:
        full = f"{self.prefix}-{name}"
        environment = [f"--env={key}={value}" for key, value in (env or {}).items()]
        cli("run", "--detach", "--name", full, *run_flags(), *args, *environment, image_name, *command)
        self.names.append(full)
        return full

    def logs(self, name: str) -> str:
        done = cli("logs", name, check=False)
        return done.stdout + done.stderr

    def inspect(self, name: str) -> dict[str, Any]:
        return json.loads(cli("inspect", name).stdout)[0]

    def remove_all(self) -> None:
        for name in reversed(self.names):
            cli("rm", "--force", "--volumes", "--time", "2", name, check=False)
        for network in self.networks:
            cli("network", "rm", "--force", network, check=False)


@pytest.fixture
def containers() -> Iterator[Containers]:
    made = Containers()
    try:
        yield made
    finally:
        remove = os.environ.get("VWMP_CONTAINERS_KEEP") != "1"
        if remove:
            made.remove_all()


def eventually(check: Callable[[], object], timeout: float = 30.0, period: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return True
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(period)
    return False


SHOP_GIT = ["git", "-c", "user.name=Ada", "-c", "user.email=ada@example.com", "-C", "/workspace/shop"]


def tag_run(url: str, headers: dict[str, str], host: str, name: str, before: list[dict[str, Any]]) -> dict[str, Any]:
    """A release tag driven through the gateway at `url`, as it finished.

    Once the palette offers git/tag, a repository `shop` with one commit is made in the workspace of the
    plugin host container `host` (as its user); the workflow `name` runs `before`, then tags `v1.0.0`
    (check it with `cli("exec", host, *SHOP_GIT, ...)`).
    """

    def palette() -> set[str]:
        return {i["type"] for i in httpx.get(f"{url}/api/v1/step-types", headers=headers, timeout=10).json()["items"]}
    assert eventually(lambda: "git/tag" in palette(), timeout=60), palette()
    cli("exec", host, "git", "init", "-q", "--initial-branch", "main", "/workspace/shop")
    cli("exec", host, *SHOP_GIT, "commit", "-q", "--allow-empty", "-m", "first")
    tag = {"id": "tag", "uses": "git/tag", "needs": [before[-1]["id"]],
           "with": {"repo": "shop", "name": "v1.0.0", "message": "Release 1.0.0"}}
    workflow = {"apiVersion": "vwmp/v1", "kind": "Workflow", "metadata": {"name": name},
                "spec": {"steps": [*before, tag]}}
    created = httpx.post(f"{url}/api/v1/workflows", json=workflow, headers=headers, timeout=30)
    assert created.status_code == 201, created.text
    started = httpx.post(f"{url}/api/v1/workflows/{name}/runs", json={}, headers=headers, timeout=30)
    assert started.status_code in (200, 201, 202), started.text
    run_id = started.json()["id"]

    def run() -> dict[str, Any]:
        return dict(httpx.get(f"{url}/api/v1/runs/{run_id}", headers=headers, timeout=10).json())
    assert eventually(lambda: run()["state"] in ("succeeded", "failed", "cancelled"), timeout=90, period=0.5), run()
    return run()
