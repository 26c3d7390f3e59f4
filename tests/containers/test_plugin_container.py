"""A plugin author's container joins a running platform (issue 17, item 4).

The platform runs as processes (`vwmp_cli.up.Platform`, embedded NATS with a user per service);
the author's image (deploy/examples/plugin-image on vwmp/plugin-sdk: the plugin host, vwmp-sdk and
the hello plugin, nothing else) runs on the host network with the join line `make run` prints. Its
step types reach `GET /api/v1/step-types`, a workflow of core and plugin steps runs through it, and
stopping the container takes them out of the palette within the heartbeat window.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest
from vwmp_cli.up import Platform
from vwmp_common.ports import free_port

from .conftest import HARDENED, Containers, cli, eventually, image, run_flags

pytestmark = [pytest.mark.e2e, pytest.mark.containers]


def platform_env(root: Path) -> dict[str, str]:
    """Processes on free ports, embedded NATS (a user per service), SQLite, no plugin host of its own."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("VWMP_")}
    env.update(VWMP_DATA_DIR=str(root / "data"), VWMP_WORKSPACE_ROOT=str(root / "ws"),
               VWMP_HTTP_PORT=str(free_port()), VWMP_NATS_PORT=str(free_port()),
               VWMP_STORAGE_PORT=str(free_port()), VWMP_ENGINE_PORT=str(free_port()),
               VWMP_PLUGIN_HOST_PORT=str(free_port()), VWMP_PLUGINS="")
    return env


def step_types(url: str, headers: dict[str, str]) -> set[str]:
    listed = httpx.get(f"{url}/api/v1/step-types", headers=headers, timeout=10)
    assert listed.status_code == 200, listed.text
    return {item["type"] for item in listed.json()["items"]}


@pytest.mark.timeout(900)
def test_the_plugin_author_container_joins_runs_and_leaves(images: dict[str, float], containers: Containers,
                                                           tmp_path: Path) -> None:
    program = ("import importlib.metadata as m; print(' '.join(sorted(d.metadata['Name'] for d in m.distributions()"
               " if d.metadata['Name'].startswith('vwmp'))))")
    held = cli("run", "--rm", *run_flags(), "--entrypoint", "/opt/venv/bin/python", image("plugin-hello"),
               "-c", program).stdout.split()
    # vwmp-common and vwmp-proto are the SDK's own dependencies; no built-in plugin, no test kit.
    assert held == ["vwmp-common", "vwmp-example-hello", "vwmp-plugin-host", "vwmp-proto", "vwmp-sdk"], held
    assert cli("run", "--rm", *run_flags(), "--entrypoint", "/bin/sh", image("plugin-hello"), "-c",
               "for p in git gcc cc make; do command -v $p; done; true").stdout.split() == [], "no git or compiler"
    platform = Platform(env=platform_env(tmp_path))
    platform.start(timeout=90, only=("storage", "engine", "gateway"))
    try:
        url, token = platform.url, platform.admin_token_file.read_text().strip()
        headers = {"Authorization": f"Bearer {token}"}
        assert not {t for t in step_types(url, headers) if t.startswith("hello/")}, "no host serves hello/* yet"
        port = free_port()
        join = platform.plugin_host_env(port)
        assert join["VWMP_NATS_USER"] == "plugins" and join["VWMP_NATS_PASSWORD"]
        started = time.monotonic()
        name = containers.run("plugin-hello", image("plugin-hello"), "--network", "host", *HARDENED,
                              "--volume", f"{join['VWMP_WORKSPACE_ROOT']}:{join['VWMP_WORKSPACE_ROOT']}",
                              env={**join, "VWMP_GRPC_HOST": "127.0.0.1"})
        assert eventually(lambda: {"hello/greet", "hello/noop"} <= step_types(url, headers), timeout=60), \
            containers.logs(name)
        joined_after = time.monotonic() - started

        workflow = {"apiVersion": "vwmp/v1", "kind": "Workflow", "metadata": {"name": "from-a-container"},
                    "spec": {"steps": [
                        {"id": "start", "uses": "core/noop"},
                        {"id": "greet", "uses": "hello/greet", "needs": ["start"], "with": {"name": "container"}},
                        {"id": "again", "uses": "hello/greet", "needs": ["greet"],
                         "with": {"name": "${{ steps.greet.outputs.greeting }}"}}]}}
        created = httpx.post(f"{url}/api/v1/workflows", json=workflow, headers=headers, timeout=10)
        assert created.status_code == 201, created.text
        run = httpx.post(f"{url}/api/v1/workflows/from-a-container/runs", json={}, headers=headers, timeout=10).json()

        def finished() -> dict | None:
            got = httpx.get(f"{url}/api/v1/runs/{run['id']}", headers=headers, timeout=10).json()
            return got if got["state"] in ("succeeded", "failed", "cancelled") else None

        assert eventually(finished, timeout=60), containers.logs(name)
        done = finished()
        assert done is not None and done["state"] == "succeeded", done
        outputs = {step["id"]: step.get("outputs") for step in done["steps"]}
        assert outputs["again"] == {"greeting": "Hello, Hello, container!!"}, outputs

        inspected = containers.inspect(name)
        assert inspected["Config"]["User"] == "10001:10001" and inspected["HostConfig"]["ReadonlyRootfs"]

        stopped = time.monotonic()
        cli("stop", "--time", "10", name)
        assert eventually(lambda: not {t for t in step_types(url, headers) if t.startswith("hello/")},
                          timeout=20), "hello/* stayed in the palette after the container stopped"
        left_after = time.monotonic() - stopped
        print(f"\nplugin container: in the palette {joined_after:.1f}s after `run`, out {left_after:.1f}s after `stop`")
    finally:
        platform.stop()
