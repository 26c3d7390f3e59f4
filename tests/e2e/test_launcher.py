"""`vwmp up` (behind `make run`): restarts a service that dies, stops everything on Ctrl-C, runs side by side."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from vwmp_cli.up import Platform, grpc_serving

from .conftest import platform_env

pytestmark = pytest.mark.e2e


def test_a_service_that_dies_is_restarted(grpc_platform: Platform) -> None:
    engine = grpc_platform.services["engine"]
    first_pid = engine.process.pid
    grpc_platform.kill("engine")
    engine.process.wait(timeout=5)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (engine.alive() and engine.process.pid != first_pid):
        grpc_platform.supervise_once()
        time.sleep(0.1)
    assert engine.alive() and engine.process.pid != first_pid
    grpc_platform.wait_ready(20)
    assert grpc_serving(f"127.0.0.1:{grpc_platform.env['VWMP_ENGINE_PORT']}")


def test_a_hung_service_is_killed_and_restarted_and_a_healthy_spell_resets_the_backoff(
    grpc_platform: Platform,
) -> None:
    grpc_platform.startup_grace, grpc_platform.liveness_period, grpc_platform.liveness_failures = 0.0, 0.2, 3
    engine = grpc_platform.services["engine"]
    engine.restarts = 5  # crashed often before: its next restart would wait 16 s
    grpc_platform.healthy_spell = 0.0
    grpc_platform.supervise_once()  # it answers: the backoff starts again from 0.5 s
    assert engine.restarts == 0
    grpc_platform.healthy_spell = 3600.0
    first_pid = engine.process.pid
    grpc_platform.kill("engine", signal.SIGSTOP)  # alive, but answering nothing
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (engine.alive() and engine.process.pid != first_pid):
        grpc_platform.supervise_once()
        time.sleep(0.1)
    assert engine.alive() and engine.process.pid != first_pid
    assert engine.restarts == 1
    grpc_platform.wait_ready(20)
    assert grpc_serving(f"127.0.0.1:{grpc_platform.env['VWMP_ENGINE_PORT']}")


def test_two_instances_run_side_by_side_and_ctrl_c_stops_every_process(tmp_path: Path) -> None:
    instances = []
    for name in ("one", "two"):
        env = platform_env(tmp_path / name, VWMP_PLUGINS="hello")
        process = subprocess.Popen([str(Path(sys.executable).parent / "vwmp"), "up"], env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        instances.append((env, process))
    try:
        for env, process in instances:
            url = f"http://127.0.0.1:{env['VWMP_HTTP_PORT']}"
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{url}/api/v1/health").status_code == 200 and \
                            (Path(env["VWMP_DATA_DIR"]) / "admin-token").exists():
                        break
                except httpx.HTTPError:
                    pass
                assert process.poll() is None, process.stdout.read()
                time.sleep(0.2)
            token = (Path(env["VWMP_DATA_DIR"]) / "admin-token").read_text().strip()
            listed = httpx.get(f"{url}/api/v1/step-types", headers={"Authorization": f"Bearer {token}"})
            assert listed.status_code == 200
        children = {env["VWMP_DATA_DIR"]: _children(process.pid) for env, process in instances}
        assert all(len(pids) == 5 for pids in children.values()), children  # nats + 4 services each
    finally:
        for _, process in instances:
            process.send_signal(signal.SIGINT)
        outputs = [process.communicate(timeout=30)[0] for _, process in instances]
    for (_, process), output in zip(instances, outputs, strict=True):
        assert process.returncode == 0, output
        assert "VWMP is running at http://127.0.0.1:" in output and "admin token:" in output
    for pids in children.values():
        assert not [pid for pid in pids if _alive(pid)], "a child process outlived Ctrl-C"


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


def test_a_service_that_cannot_start_stops_the_ones_already_started(tmp_path: Path) -> None:
    with socket.socket() as taken:  # storage's port is busy: storage exits at start-up
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        env = platform_env(tmp_path, VWMP_STORAGE_PORT=str(taken.getsockname()[1]))
        platform = Platform(env=env)
        with pytest.raises(RuntimeError, match="storage exited at start-up"):
            platform.start(timeout=20)
    assert not [name for name, service in platform.services.items() if service.alive()]
    nats_port = int(env["VWMP_NATS_PORT"])
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", nats_port)) != 0, "the embedded NATS was left running"
