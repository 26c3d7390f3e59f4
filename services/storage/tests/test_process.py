"""`python -m vwmp_storage` as a real OS process configured only by environment variables."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from vwmp_common.ports import free_port
from vwmp_common.states import RunState
from vwmp_proto.common.v1 import states_pb2
from vwmp_proto.storage.v1 import storage_pb2 as pb
from vwmp_proto.storage.v1.storage_pb2_grpc import StorageServiceStub

# The storage service as a real OS process (on PostgreSQL too).
pytestmark = pytest.mark.integration


def _wait_serving(target: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            assert process.poll() is None, "storage exited during start-up"
            try:
                reply = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                time.sleep(0.1)
    raise AssertionError(f"storage at {target} never became SERVING")


def _start(env_extra: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VWMP_")}
    env.update(env_extra, VWMP_STORAGE_PORT=str(port))
    with open(log, "wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "vwmp_storage"], env=env, stdout=subprocess.DEVNULL, stderr=stderr
        )
    return process, f"127.0.0.1:{port}"


def _stop(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        raise


def test_process_serves_health_and_stores_definitions_as_files(tmp_path: Path) -> None:
    definitions = tmp_path / "definitions"
    log = tmp_path / "storage.log"
    process, target = _start({"VWMP_DATA_DIR": str(tmp_path / "data"), "VWMP_DEFINITIONS_DIR": str(definitions)}, log)
    try:
        _wait_serving(target, process)
        with grpc.insecure_channel(target) as channel:
            stub = StorageServiceStub(channel)
            stub.CreateWorkflow(pb.CreateWorkflowRequest(name="wf", definition_json='{"kind": "Workflow"}'), timeout=5)
            run = stub.CreateRun(pb.CreateRunRequest(workflow="wf"), timeout=5)
            assert stub.GetRun(pb.GetRunRequest(id=run.id), timeout=5).state == RunState.QUEUED.number
    finally:
        code = _stop(process)
    assert code == 0
    assert (definitions / "wf" / "v0001.yaml").exists()
    assert (tmp_path / "data" / "vwmp.db").exists()
    records = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert any(r["message"] == "storage ready" and r["service"] == "storage" for r in records)
    assert any(r.get("run_id") == run.id for r in records)


def test_process_runs_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    process, target = _start({"VWMP_DATABASE_URL": postgres_url, "VWMP_DATA_DIR": str(tmp_path)}, tmp_path / "log")
    try:
        _wait_serving(target, process)
        with grpc.insecure_channel(target) as channel:
            config = StorageServiceStub(channel).GetConfig(pb.GetConfigRequest(), timeout=5)
            assert config.document_json
    finally:
        assert _stop(process) == 0
    assert not (tmp_path / "vwmp.db").exists()


def test_writes_wait_for_a_sqlite_writer_held_by_another_process_while_health_keeps_answering(
        tmp_path: Path) -> None:
    """Engines fence themselves only when storage is silent (docs/engine.md, "Network partition"): a
    write waiting for the database must not silence the health service."""
    process, target = _start({"VWMP_DATA_DIR": str(tmp_path / "data")}, tmp_path / "storage.log")
    try:
        _wait_serving(target, process)
        with grpc.insecure_channel(target) as channel:
            stub, health = StorageServiceStub(channel), health_pb2_grpc.HealthStub(channel)
            stub.CreateWorkflow(pb.CreateWorkflowRequest(name="wf", definition_json='{"kind": "Workflow"}'), timeout=5)
            holder = sqlite3.connect(tmp_path / "data" / "vwmp.db", timeout=5)
            holder.execute("BEGIN IMMEDIATE")  # what a backup or a second process would do
            try:
                waiting = stub.CreateRun.future(pb.CreateRunRequest(workflow="wf"), timeout=30)
                time.sleep(0.5)
                assert not waiting.done(), "the write did not wait for the database"
                began = time.monotonic()
                reply = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
                assert reply.status == health_pb2.HealthCheckResponse.SERVING
                assert time.monotonic() - began < 1.0, "health waited behind the write"
            finally:
                holder.rollback()
                holder.close()
            run = waiting.result(timeout=30)
            events = stub.RecordTransitions(pb.RecordTransitionsRequest(run_id=run.id, transitions=[
                pb.Transition(event_type=states_pb2.EVENT_TYPE_RUN_CANCELLED,
                              run_state=states_pb2.RUN_STATE_CANCELLED)]), timeout=5).events
            assert [event.seq for event in events] == [2]
    finally:
        assert _stop(process) == 0
