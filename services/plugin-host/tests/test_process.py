"""`python -m vwmp_plugin_host` as a real OS process: announces, executes, reports healthy, leaves."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import grpc
import nats
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from nats.js.errors import KeyNotFoundError
from vwmp_common.nats import plugin_hosts_bucket
from vwmp_common.ports import free_port
from vwmp_proto.plugin.v1 import plugin_pb2, plugin_pb2_grpc

# The plugin host as a real OS process, announcing itself over a real NATS.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]


async def test_host_process_announces_executes_and_is_healthy(nats_server: str, tmp_path: Path) -> None:
    port = free_port()
    host_id = f"proc-test-{port}"
    env = {
        **os.environ,
        "VWMP_NATS_URL": nats_server,
        "VWMP_PLUGIN_HOST_PORT": str(port),
        "VWMP_PLUGIN_HOST_ID": host_id,
        "VWMP_PLUGINS": "hello",
        "VWMP_WORKSPACE_ROOT": str(tmp_path),
    }
    log_file = tmp_path / "host.log"
    with log_file.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "vwmp_plugin_host"], env=env, stderr=log, stdout=log)
    nc = await nats.connect(nats_server)
    try:
        kv = await plugin_hosts_bucket(nc.jetstream())
        async with asyncio.timeout(20):
            while True:
                assert process.poll() is None, log_file.read_text()
                try:
                    announced = json.loads((await kv.get(host_id)).value)
                    break
                except KeyNotFoundError:
                    await asyncio.sleep(0.1)
        assert announced["address"] == f"127.0.0.1:{port}"
        assert {s["type"] for s in announced["step_types"]} == {"hello/greet", "hello/noop"}

        async with grpc.aio.insecure_channel(announced["address"]) as channel:
            request = plugin_pb2.ExecuteRequest(
                type="hello/greet", config_json='{"name": "Ada"}', run_id="r1", step_id="greet", attempt=1
            )
            responses = [r async for r in plugin_pb2_grpc.PluginServiceStub(channel).Execute(request, timeout=10)]
            assert [r.WhichOneof("payload") for r in responses] == ["log", "result"]
            assert responses[0].log.line == "greeting Ada"
            assert json.loads(responses[1].result.outputs_json) == {"greeting": "Hello, Ada!"}

            health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert health.status == health_pb2.HealthCheckResponse.SERVING

        process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(process.wait, 15) == 0
        try:
            await kv.get(host_id)
            raise AssertionError("announcement still present after SIGTERM")
        except KeyNotFoundError:
            pass
        logged = [json.loads(line) for line in log_file.read_text().splitlines() if line.startswith("{")]
        assert any(entry.get("service") == "plugin-host" for entry in logged)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        await nc.close()
