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
from vwmp_common.ports import free_port

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
        instances.append((env, _vwmp_up(env)))
    try:
        for env, process in instances:
            _wait_until_up(env, process)
            listed = httpx.get(f"{_url(env)}/api/v1/step-types", headers=_admin(env))
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


def test_a_second_vwmp_up_on_the_same_data_folder_says_where_the_first_one_runs(tmp_path: Path) -> None:
    env = platform_env(tmp_path, VWMP_PLUGINS="hello")
    first = _vwmp_up(env)
    try:
        _wait_until_up(env, first)
        second = subprocess.run([_vwmp(), "up"], env={**env, "VWMP_HTTP_PORT": str(free_port())},
                                capture_output=True, text=True, timeout=30)
        assert second.returncode == 1
        assert f"VWMP is already running from {Path(env['VWMP_DATA_DIR']).resolve()}" in second.stdout
        assert f"pid {first.pid}, at {_url(env)}" in second.stdout
        assert httpx.get(f"{_url(env)}/api/v1/health").status_code == 200, "the first one was disturbed"
        children = _children(first.pid)
        first.send_signal(signal.SIGHUP)  # the terminal closed
        output = first.communicate(timeout=30)[0]
    finally:
        first.kill()
    assert first.returncode == 0, output
    assert "stopping" in output
    assert not [pid for pid in children if _alive(pid)], "a child process outlived SIGHUP"


def test_a_port_taken_by_another_program_is_named_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = platform_env(tmp_path, VWMP_HTTP_PORT=str(port))
        result = subprocess.run([_vwmp(), "up"], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert f"port {port} (VWMP_HTTP_PORT) is in use by another program" in result.stdout
    assert not (Path(env["VWMP_DATA_DIR"]) / "logs" / "nats.log").exists(), "something was started"


def test_the_services_die_with_a_killed_supervisor_and_ctrl_c_through_a_dead_tee_stops_them(
    tmp_path: Path,
) -> None:
    env = platform_env(tmp_path, VWMP_PLUGINS="hello")
    supervisor = _vwmp_up(env)
    try:
        _wait_until_up(env, supervisor)
        children = _children(supervisor.pid)
        assert len(children) == 5
        supervisor.kill()  # SIGKILL: no handler runs; the kernel tells the children
        supervisor.wait(timeout=10)
        _wait_gone(children, "a service outlived its SIGKILLed supervisor")
    finally:
        supervisor.kill()
        supervisor.communicate(timeout=10)

    supervisor = _vwmp_up(env)  # the same data folder and ports are free again: no stale lock, no orphan
    try:
        _wait_until_up(env, supervisor)
        children = _children(supervisor.pid)
        assert supervisor.stdout is not None
        supervisor.stdout.close()  # `make run | tee log` and Ctrl-C: tee is gone before the supervisor speaks
        supervisor.send_signal(signal.SIGINT)
        assert supervisor.wait(timeout=30) == 0
        _wait_gone(children, "a service outlived Ctrl-C with its output pipe closed")
    finally:
        supervisor.kill()


def _vwmp() -> str:
    return str(Path(sys.executable).parent / "vwmp")


def _vwmp_up(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([_vwmp(), "up"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _url(env: dict[str, str]) -> str:
    return f"http://127.0.0.1:{env['VWMP_HTTP_PORT']}"


def _admin(env: dict[str, str]) -> dict[str, str]:
    token = (Path(env["VWMP_DATA_DIR"]) / "admin-token").read_text().strip()
    return {"Authorization": f"Bearer {token}"}


def _wait_until_up(env: dict[str, str], process: subprocess.Popen[str], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{_url(env)}/api/v1/health").status_code == 200 and \
                    (Path(env["VWMP_DATA_DIR"]) / "admin-token").exists() and len(_children(process.pid)) == 5:
                return
        except httpx.HTTPError:
            pass
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        time.sleep(0.2)
    raise AssertionError(f"vwmp up did not come up within {timeout:.0f}s")


def _wait_gone(pids: list[int], message: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and [pid for pid in pids if _alive(pid)]:
        time.sleep(0.1)
    assert not [pid for pid in pids if _alive(pid)], message


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
