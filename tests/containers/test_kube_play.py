"""The Kubernetes dev overlay played by `podman kube play` (issue 17, item 3).

`kubectl kustomize deploy/k8s/overlays/dev`, rewritten by deploy/kube_play.py (Services as pod
names, NetworkPolicies and HPAs dropped, Secrets written into the env, the pod IP read at start),
played on a private network next to NATS and PostgreSQL (in a cluster they come from their own
charts in namespace vwmp-data: here containers whose addresses every pod gets for the names the
manifests use). Driven through the gateway pod only, with the overlay's own dev credentials: a
workflow of a core step and the built-in git plugin's step succeeds; then `podman kube down`.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from vwmp_common.ports import free_port

from .conftest import REPO, SHOP_GIT, ULIMITS, Containers, cli, eventually, image, podman, tag_run
from .stack import RESTART, stand_in_images

pytestmark = [pytest.mark.e2e, pytest.mark.containers]
OVERLAY = REPO / "deploy" / "k8s" / "overlays" / "dev"
# podman kube play has no --ulimit: the same limits as `run`, through a containers.conf of its own.
CONTAINERS_CONF = "[containers]\ndefault_ulimits = [{}]\n".format(
    ", ".join(f'"{value}"' for value in ULIMITS[1::2]))


def kube_play() -> ModuleType:
    """deploy/kube_play.py (a script beside the manifests, not an installed package)."""
    if "kube_play" not in sys.modules:
        spec = importlib.util.spec_from_file_location("kube_play", REPO / "deploy" / "kube_play.py")
        assert spec is not None and spec.loader is not None
        sys.modules["kube_play"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules["kube_play"])
    return sys.modules["kube_play"]


def render() -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl") or pytest.fail("kubectl not found (it renders the kustomize overlays)")
    done = subprocess.run([kubectl, "kustomize", str(OVERLAY)], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def secret(docs: list[dict[str, Any]], name: str) -> dict[str, str]:
    found = next(d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"] == name)
    return {key: base64.b64decode("".join(value.split())).decode() for key, value in found["data"].items()}


def config(docs: list[dict[str, Any]]) -> dict[str, str]:
    return dict(next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "vwmp-config")["data"])


class Played:
    """The pods of one `podman kube play`, taken down at the end."""

    def __init__(self, folder: Path, network: str) -> None:
        self.folder, self.network = folder, network
        self.file = folder / "play.yaml"
        (folder / "containers.conf").write_text(CONTAINERS_CONF)
        self.env = {**os.environ, "CONTAINERS_CONF": str(folder / "containers.conf")}

    def podman(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["podman", "--runtime", "runc", *args], capture_output=True, text=True, env=self.env,
                              timeout=timeout, check=False)

    def play(self, text: str) -> None:
        self.file.write_text(text)
        done = self.podman("kube", "play", "--network", self.network, str(self.file))
        assert done.returncode == 0, done.stdout + done.stderr

    def down(self) -> None:
        if self.file.exists():
            self.podman("kube", "down", str(self.file), timeout=120)


def pods(docs: list[dict[str, Any]]) -> list[str]:
    return [d["metadata"]["name"] for d in docs if d["kind"] == "Pod"]


def serving(container: str, port: int) -> bool:
    probe = ("import grpc,sys; from grpc_health.v1 import health_pb2 as h, health_pb2_grpc as g;"
             f"c=g.HealthStub(grpc.insecure_channel('127.0.0.1:{port}'));"
             "sys.exit(c.Check(h.HealthCheckRequest(), timeout=2).status != 1)")
    return cli("exec", container, "/opt/venv/bin/python", "-c", probe, check=False, timeout=30).returncode == 0


@pytest.fixture
def played(containers: Containers, tmp_path: Path) -> Iterator[Played]:
    if not podman() or not shutil.which("podman"):
        pytest.fail("podman kube play needs podman (make containers installs it)")
    made = Played(tmp_path, containers.network())
    try:
        yield made
    finally:
        made.down()


@pytest.mark.timeout(420)
def test_the_dev_overlay_played_by_podman_runs_a_core_and_a_plugin_step(images: dict[str, float],
                                                                        containers: Containers,
                                                                        played: Played) -> None:
    stand_in_images()
    rendered = render()
    settings, secrets, nats_users = config(rendered), secret(rendered, "vwmp-secrets"), secret(rendered,
                                                                                             "vwmp-nats-users")
    database = urlsplit(secrets["database-url"])
    nats = containers.run("nats", "vwmp-test/nats:dev", "--network", played.network, *RESTART, "--read-only",
                          "--user", "10001:10001", "--volume", "/data",
                          "--volume", f"{REPO / 'deploy' / 'nats' / 'nats.conf'}:/etc/nats/nats.conf:ro",
                          env={f"VWMP_NATS_{user.upper().replace('-', '_')}_PASSWORD": password
                               for user, password in nats_users.items()},
                          command=("-c", "/etc/nats/nats.conf", "--jetstream", "--store_dir", "/data"))
    postgres = containers.run("postgres", "vwmp-test/postgres:dev", "--network", played.network,
                              "--tmpfs", "/tmp:rw,mode=1777", env={"POSTGRES_PASSWORD": database.password or ""})

    def address(name: str) -> str:
        return str(containers.inspect(name)["NetworkSettings"]["Networks"][played.network]["IPAddress"])

    adapter = kube_play()
    # vwmp/<name>:dev, as the overlay names them -> the images this session built
    named = {container["image"] for doc in rendered if doc["kind"] == "Deployment"
             for container in doc["spec"]["template"]["spec"]["containers"]}
    local = {ref: f"localhost/{image(ref.split('/', 1)[1].split(':')[0])}" for ref in named}

    def entrypoint(ref: str) -> list[str]:
        inspected = json.loads(cli("image", "inspect", ref).stdout)[0]["Config"]
        return [*(inspected.get("Entrypoint") or []), *(inspected.get("Cmd") or [])]

    port = free_port()
    play = adapter.adapt(
        rendered, images=local, publish={"api-gateway": f"127.0.0.1:{port}"},
        hosts={urlsplit(settings["VWMP_NATS_URL"]).hostname: address(nats), database.hostname: address(postgres)},
        entrypoints={ref: entrypoint(ref) for ref in local.values()})
    notes = "\n".join(map(str, play.notes))
    print(f"\n{notes}")
    assert "NetworkPolicy/default-deny: dropped" in notes and "HorizontalPodAutoscaler/engine: dropped" in notes
    taken = [name for name in pods(play.documents) if cli("pod", "exists", name, check=False).returncode == 0]
    assert not taken, f"pods {taken} exist already: another play of the dev overlay? (podman kube down it)"
    played.play(play.yaml())
    for pod, grpc_port in (("storage", 50051), ("engine", 50052), ("plugin-host", 50053)):
        container = f"{pod}-{pod}"  # podman names a pod's container <pod>-<container>
        assert eventually(lambda c=container, p=grpc_port: serving(c, p), timeout=120, period=1), \
            containers.logs(container)[-3000:]
    url = f"http://127.0.0.1:{port}"
    assert eventually(lambda: httpx.get(f"{url}/api/v1/ready", timeout=2).status_code == 200, timeout=90), \
        containers.logs("api-gateway-api-gateway")[-3000:]
    headers = {"Authorization": f"Bearer {secrets['admin-token']}"}
    assert httpx.get(f"{url}/api/v1/workflows", timeout=10).status_code == 401, "the gateway asks for a token"

    # A repository in the plugin host's workspace (an emptyDir of its pod), made as its user.
    host = "plugin-host-plugin-host"
    finished = tag_run(url, headers, host, "played", [
        {"id": "start", "uses": "core/noop"},
        {"id": "nap", "uses": "core/sleep", "needs": ["start"], "with": {"seconds": 1}}])
    assert finished["state"] == "succeeded", (finished["steps"], containers.logs("engine-engine")[-3000:])
    assert {s["id"]: s["state"] for s in finished["steps"]} == {"start": "succeeded", "nap": "succeeded",
                                                                "tag": "succeeded"}
    assert cli("exec", host, *SHOP_GIT, "cat-file", "-t", "v1.0.0").stdout.strip() == "tag"
    played.down()
    assert all(cli("pod", "exists", name, check=False).returncode != 0 for name in pods(play.documents))
