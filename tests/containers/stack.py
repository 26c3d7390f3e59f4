"""The whole platform as containers on one private network, the way deploy/compose.yaml runs it.

NATS (deploy/nats/nats.conf, a user per service), PostgreSQL (Debian's `postgres` in an image built
here: the machine's PostgreSQL listens on 127.0.0.1 only, and a server of its own keeps the test
from touching the machine's databases), storage, engine, plugin host(s), the example plugin's host
and the gateway, each hardened (user 10001, read-only root filesystem, no capabilities), the gRPC
services with the cluster-mode service token. Only the gateway is published, on 127.0.0.1.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from vwmp_cli.up import nats_server_binary
from vwmp_common.ports import free_port

from .conftest import HARDENED, REPO, Containers, cli, eventually, image, run_flags

HERE = Path(__file__).resolve().parent
RESTART = ["--restart", "always"]


def stand_in_images() -> None:
    """vwmp-test/nats and vwmp-test/postgres, built once (the layer cache makes a rebuild instant)."""
    local = os.environ.get("VWMP_BASE_IMAGE", "local") == "local"
    base = f"vwmp/local-python:{os.environ.get('VWMP_DEBIAN_SUITE', 'trixie')}" if local else "debian:trixie-slim"
    ulimits = run_flags()  # the same limits for build
    with tempfile.TemporaryDirectory() as context:
        shutil.copy(nats_server_binary(), Path(context) / "nats-server")
        (Path(context) / "data").mkdir()
        cli("build", *ulimits, "--file", str(HERE / "images" / "nats.Dockerfile"), "--tag", "vwmp-test/nats:dev",
            context, timeout=600)
    cli("build", *ulimits, "--build-arg", f"BASE_IMAGE={base}", "--file", str(HERE / "images" / "postgres.Dockerfile"),
        "--tag", "vwmp-test/postgres:dev", str(HERE / "images"), timeout=900)


@dataclass
class Stack:
    containers: Containers
    network: str = ""
    http_port: int = 0
    admin_token: str = field(default_factory=lambda: secrets.token_hex(16))
    service_token: str = field(default_factory=lambda: secrets.token_hex(16))
    plugin_host_token: str = field(default_factory=lambda: secrets.token_hex(16))
    nats_passwords: dict[str, str] = field(default_factory=lambda: {
        user: secrets.token_hex(12) for user in ("ENGINE", "GATEWAY", "PLUGIN_HOST")})
    postgres_password: str = field(default_factory=lambda: secrets.token_hex(12))
    workspace: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="vwmp-ws-")))
    remotes: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="vwmp-remotes-")))  # bare repos
    started: dict[str, float] = field(default_factory=dict)  # seconds from `run` to healthy, by service

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}

    def name(self, service: str) -> str:
        return f"{self.containers.prefix}-{service}"

    def common(self) -> dict[str, str]:
        return {"VWMP_GRPC_HOST": "0.0.0.0", "VWMP_STORAGE_ADDRESS": "storage:50051",
                "VWMP_ENGINE_ADDRESS": "engine:50052", "VWMP_NATS_URL": "nats://nats:4222",
                "VWMP_LOG_LEVEL": "INFO"}

    def service_args(self, alias: str) -> list[str]:
        # /var/lib/vwmp is the data volume of the manifests: an anonymous volume here, removed with the
        # container (podman 4.3 makes a --tmpfs there root's, whatever its mode= says).
        return ["--network", self.network, "--network-alias", alias, *HARDENED, "--volume", "/var/lib/vwmp"]

    def start(self) -> None:
        self.network = self.containers.network()
        for shared in (self.workspace, self.remotes):  # volumes the plugin hosts (user 10001) write
            os.chown(shared, 10001, 10001)
        nats_env = {f"VWMP_NATS_{user}_PASSWORD": password for user, password in self.nats_passwords.items()}
        self.containers.run("nats", "vwmp-test/nats:dev", "--network", self.network, "--network-alias", "nats",
                            *RESTART, "--read-only", "--user", "10001:10001", "--volume", "/data",
                            "--volume", f"{REPO / 'deploy' / 'nats' / 'nats.conf'}:/etc/nats/nats.conf:ro",
                            env=nats_env, command=("-c", "/etc/nats/nats.conf", "--jetstream", "--store_dir", "/data"))
        self.containers.run("postgres", "vwmp-test/postgres:dev", "--network", self.network,
                            "--network-alias", "postgres", "--tmpfs", "/tmp:rw,mode=1777",
                            env={"POSTGRES_PASSWORD": self.postgres_password})
        self.timed("storage", self.storage, 50051)
        self.timed("engine", lambda: self.engine("engine-1"), 50052)
        self.timed("plugin-host", lambda: self.plugin_host("plugin-host-1"), 50053)
        self.timed("plugin-hello", lambda: self.plugin_host("plugin-hello", "plugin-hello"), 50053)
        for host in ("plugin-host-1", "plugin-hello"):
            assert self.reachable(self.name("engine-1"), self.name(host), 50053), f"engine-1 cannot reach {host}"
        self.http_port = free_port()
        self.timed("api-gateway", self.gateway, 0)
        assert eventually(lambda: httpx.get(f"{self.url}/api/v1/ready", timeout=2).status_code == 200, timeout=60), \
            self.containers.logs(self.name("api-gateway")) + self.containers.logs(self.name("storage"))

    def timed(self, service: str, start: Callable[[], str], port: int) -> None:
        began = time.monotonic()
        name = start()
        assert self.healthy(name, port), f"{name} never became healthy:\n{self.containers.logs(name)}"
        self.started[service] = time.monotonic() - began

    def reachable(self, source: str, target: str, port: int, timeout: float = 60) -> bool:
        """gRPC health of `target` by its name, asked from inside `source`: the network's DNS knows it.

        A container just started is not at once in aardvark-dns for the others: gRPC's resolver in the
        engine then fails the plugin call with "DNS query cancelled". Kubernetes has the same gap
        between a pod starting and its Service/DNS entry; the manifests' readiness probes cover it.
        """
        return self.healthy(source, port, timeout, host=target)

    def healthy(self, name: str, port: int, timeout: float = 60, host: str = "127.0.0.1") -> bool:
        """gRPC health from inside the container (what the kubelet's grpc probe asks), or the gateway's /health."""
        if not port:
            return eventually(lambda: httpx.get(f"{self.url}/api/v1/health", timeout=2).status_code == 200, timeout)
        probe = ("import grpc,sys; from grpc_health.v1 import health_pb2 as h, health_pb2_grpc as g;"
                 f"c=g.HealthStub(grpc.insecure_channel('{host}:{port}'));"
                 "sys.exit(c.Check(h.HealthCheckRequest(), timeout=2).status != 1)")

        def serving() -> bool:
            done = cli("exec", name, "/opt/venv/bin/python", "-c", probe, check=False, timeout=30)
            return done.returncode == 0
        return eventually(serving, timeout, period=0.5)

    def storage(self) -> str:
        url = f"postgresql+psycopg://vwmp:{self.postgres_password}@postgres:5432/vwmp"
        return self.containers.run("storage", image("storage"), *self.service_args("storage"), *RESTART,
                                   env={**self.common(), "VWMP_SERVICE_TOKEN": self.service_token,
                                        "VWMP_DATABASE_URL": url})

    def engine(self, instance: str) -> str:
        return self.containers.run(instance, image("engine"), *self.service_args("engine"), *RESTART,
                                   env={**self.common(), "VWMP_SERVICE_TOKEN": self.service_token,
                                        "VWMP_PLUGIN_HOST_TOKEN": self.plugin_host_token,
                                        "VWMP_NATS_USER": "engine",
                                        "VWMP_NATS_PASSWORD": self.nats_passwords["ENGINE"],
                                        "VWMP_ENGINE_LEASE_SECONDS": "3"})

    def plugin_host(self, instance: str, image_name: str = "plugin-host") -> str:
        # It announces its own IP, as a pod does with the downward API's $(POD_IP):50053. Announced by
        # container name, the engine's first calls to a host just started failed with gRPC's
        # "DNS query cancelled" (aardvark-dns does not know the name yet when the engine dials it).
        return self.containers.run(instance, image(image_name), *self.service_args(instance), *RESTART,
                                   "--volume", f"{self.workspace}:/workspace", "--volume", f"{self.remotes}:/remotes",
                                   "--entrypoint", "/bin/sh",
                                   env={**self.common(), "VWMP_PLUGIN_HOST_TOKEN": self.plugin_host_token,
                                        "VWMP_NATS_USER": "plugin-host",
                                        "VWMP_NATS_PASSWORD": self.nats_passwords["PLUGIN_HOST"],
                                        "VWMP_WORKSPACE_ROOT": "/workspace"},
                                   command=("-c", "VWMP_PLUGIN_HOST_ADVERTISE_ADDRESS=$(hostname -i | cut -d' ' -f1)"
                                                  ":50053 exec vwmp-plugin-host"))

    def gateway(self) -> str:
        return self.containers.run("api-gateway", image("api-gateway"), *self.service_args("api-gateway"), *RESTART,
                                   "--publish", f"127.0.0.1:{self.http_port}:8080",
                                   env={**self.common(), "VWMP_HTTP_HOST": "0.0.0.0", "VWMP_HTTP_PORT": "8080",
                                        "VWMP_SERVICE_TOKEN": self.service_token, "VWMP_NATS_USER": "gateway",
                                        "VWMP_NATS_PASSWORD": self.nats_passwords["GATEWAY"],
                                        "VWMP_ADMIN_TOKEN": self.admin_token})

    def main_pid(self, name: str) -> int:
        return int(cli("inspect", "--format", "{{.State.Pid}}", name).stdout.strip())

    def crash(self, name: str) -> None:
        """SIGKILL the container's main process from outside, as the kernel's OOM killer would.

        (`podman kill` marks the container as stopped by the user, and no restart policy restarts that.)
        """
        subprocess.run(["kill", "-KILL", str(self.main_pid(name))], check=True)
