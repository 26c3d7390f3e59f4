"""PluginServer over real gRPC: Describe, ValidateConfig, Execute streaming, failures, cancellation."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pydantic import BaseModel
from vwmp_proto.plugin.v1 import plugin_pb2, plugin_pb2_grpc
from vwmp_sdk import DeniedError, PlanItem, Plugin, PluginServer, StepContext, Template

pytestmark = pytest.mark.timeout(30)

plugin = Plugin("t", title="Test")
state: dict[str, Any] = {}  # events and messages the handlers share with the tests


class EchoConfig(BaseModel):
    text: str
    times: int = 1


class EchoOutputs(BaseModel):
    text: str
    attempt: int
    key: str
    author: str


@plugin.step("echo", title="Echo")
def echo(ctx: StepContext, config: EchoConfig) -> EchoOutputs:
    for i in range(config.times):
        ctx.log(f"line {i}")
    ctx.log("warned", stream="stderr")
    if ctx.dry_run:
        return {"text": "", "attempt": 0, "key": "", "author": "", "plan": [PlanItem(action="echo", target="x")]}
    return EchoOutputs(
        text=config.text, attempt=ctx.attempt, key=ctx.idempotency_key,
        author=ctx.platform_config.get("git_author", ""),
    )


@plugin.step("denied")
async def denied(ctx: StepContext) -> None:
    ctx.log("checking")
    raise DeniedError("path escapes the workspace")


@plugin.step("boom")
def boom(ctx: StepContext) -> None:
    raise RuntimeError(str(state.get("boom_message", "kaput")))


@plugin.step("wait-async")
async def wait_async(ctx: StepContext) -> None:
    ctx.log("waiting")
    try:
        await asyncio.sleep(30)
    except asyncio.CancelledError:
        state["async_cancelled"].set()
        raise


@plugin.step("poll-sync")
def poll_sync(ctx: StepContext) -> None:
    ctx.log("polling")
    for _ in range(3000):
        if ctx.cancelled:
            state["sync_stopped"].set()
            return
        threading.Event().wait(0.01)


plugin.add_template(Template(name="tpl", workflow_type="release", title="T", definition={"kind": "Workflow"}))


@pytest.fixture
async def stub(tmp_path: Path) -> AsyncIterator[plugin_pb2_grpc.PluginServiceStub]:
    state["async_cancelled"] = asyncio.Event()
    state["sync_stopped"] = threading.Event()
    async with (
        PluginServer(plugin, workspace_root=tmp_path, host_id="test-host") as server,
        grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel,
    ):
        yield plugin_pb2_grpc.PluginServiceStub(channel)


async def collect(stub: plugin_pb2_grpc.PluginServiceStub, **fields: object) -> list[plugin_pb2.ExecuteResponse]:
    request = plugin_pb2.ExecuteRequest(**{"run_id": "run1", "step_id": "s1", "attempt": 1, **fields})
    return [r async for r in stub.Execute(request, timeout=10)]


async def test_describe_lists_step_types_schemas_and_templates(stub: plugin_pb2_grpc.PluginServiceStub) -> None:
    response = await stub.Describe(plugin_pb2.DescribeRequest(), timeout=5)
    assert response.host_id == "test-host"
    assert list(response.plugins) == ["t"]
    types = {s.type: s for s in response.step_types}
    assert set(types) == {"t/echo", "t/denied", "t/boom", "t/wait-async", "t/poll-sync"}
    assert json.loads(types["t/echo"].config_schema_json)["required"] == ["text"]
    assert "plan" in json.loads(types["t/echo"].outputs_schema_json)["properties"]
    assert response.templates[0].plugin == "t"
    assert json.loads(response.templates[0].definition_json) == {"kind": "Workflow"}


async def test_validate_config_returns_pointers(stub: plugin_pb2_grpc.PluginServiceStub) -> None:
    bad = await stub.ValidateConfig(
        plugin_pb2.ValidateConfigRequest(type="t/echo", config_json='{"times": "x"}'), timeout=5
    )
    assert {e.pointer for e in bad.errors} == {"/text", "/times"}
    good = await stub.ValidateConfig(plugin_pb2.ValidateConfigRequest(type="t/echo", config_json='{"text": "a"}'))
    assert list(good.errors) == []
    unknown = await stub.ValidateConfig(plugin_pb2.ValidateConfigRequest(type="t/nope", config_json="{}"))
    assert "unknown step type" in unknown.errors[0].message
    garbage = await stub.ValidateConfig(plugin_pb2.ValidateConfigRequest(type="t/echo", config_json="{"))
    assert garbage.errors[0].pointer == "" and "JSON" in garbage.errors[0].message


async def test_execute_streams_logs_then_one_result(stub: plugin_pb2_grpc.PluginServiceStub) -> None:
    responses = await collect(
        stub, type="t/echo", config_json='{"text": "hi", "times": 3}', attempt=2,
        idempotency_key="run1/s1/2", platform_config_json='{"git_author": "bot"}',
    )
    kinds = [r.WhichOneof("payload") for r in responses]
    assert kinds == ["log", "log", "log", "log", "result"]
    assert [(r.log.stream, r.log.line) for r in responses[:4]] == [
        ("info", "line 0"), ("info", "line 1"), ("info", "line 2"), ("stderr", "warned"),
    ]
    assert json.loads(responses[-1].result.outputs_json) == {
        "text": "hi", "attempt": 2, "key": "run1/s1/2", "author": "bot",
    }


async def test_execute_passes_dry_run(stub: plugin_pb2_grpc.PluginServiceStub) -> None:
    responses = await collect(stub, type="t/echo", config_json='{"text": "hi"}', dry_run=True)
    assert json.loads(responses[-1].result.outputs_json)["plan"] == [{"action": "echo", "target": "x"}]


@pytest.mark.parametrize(
    ("step_type", "config", "kind", "message"),
    [
        ("t/denied", "{}", "denied", "path escapes the workspace"),
        ("t/boom", "{}", "error", "RuntimeError: kaput"),
        ("t/echo", '{"times": 1}', "config", "invalid config: /text: Field required"),
        ("t/nope", "{}", "config", "unknown step type 't/nope'"),
    ],
)
async def test_failure_maps_to_its_kind(
    stub: plugin_pb2_grpc.PluginServiceStub, step_type: str, config: str, kind: str, message: str
) -> None:
    responses = await collect(stub, type=step_type, config_json=config)
    final = responses[-1]
    assert final.WhichOneof("payload") == "failure"
    assert final.failure.kind == kind
    assert final.failure.message.startswith(message)
    assert all(r.WhichOneof("payload") == "log" for r in responses[:-1])


async def test_cancelling_the_call_cancels_an_async_handler(stub: plugin_pb2_grpc.PluginServiceStub) -> None:
    call = stub.Execute(plugin_pb2.ExecuteRequest(type="t/wait-async", run_id="r", step_id="s", attempt=1))
    first = await asyncio.wait_for(call.read(), 5)
    assert first.log.line == "waiting"
    call.cancel()
    await asyncio.wait_for(state["async_cancelled"].wait(), 3)


async def test_cancelling_the_call_stops_a_sync_handler_polling(stub: plugin_pb2_grpc.PluginServiceStub) -> None:
    call = stub.Execute(plugin_pb2.ExecuteRequest(type="t/poll-sync", run_id="r", step_id="s", attempt=1))
    first = await asyncio.wait_for(call.read(), 5)
    assert first.log.line == "polling"
    call.cancel()
    stopped = await asyncio.to_thread(state["sync_stopped"].wait, 3)
    assert stopped


async def test_health_and_reflection_are_served(tmp_path: Path) -> None:
    async with (
        PluginServer(plugin, workspace_root=tmp_path) as server,
        grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel,
    ):
        health = health_pb2_grpc.HealthStub(channel)
        reply = await health.Check(health_pb2.HealthCheckRequest(service="vwmp.plugin.v1.PluginService"), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        assert server.advertise_address == f"127.0.0.1:{server.port}"


def test_duplicate_plugins_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="twice"):
        PluginServer([plugin, plugin], workspace_root=tmp_path)


async def test_redacted_values_never_leave_the_host_nor_reach_its_log(
    stub: plugin_pb2_grpc.PluginServiceStub, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "hunter2-canary"
    logged = await collect(stub, type="t/echo", config_json=json.dumps({"text": f"pw={secret}"}), redact=[secret])
    assert secret not in str(logged) and "pw=***" in logged[-1].result.outputs_json
    state["boom_message"] = f"token {secret} rejected"
    try:
        failed = await collect(stub, type="t/boom", config_json="{}", redact=[secret])
    finally:
        del state["boom_message"]
    assert failed[-1].failure.message == "RuntimeError: token *** rejected"
    host_log = " ".join(f"{r.getMessage()} {getattr(r, 'fields', '')}" for r in caplog.records)
    assert "token *** rejected" in host_log and secret not in host_log
