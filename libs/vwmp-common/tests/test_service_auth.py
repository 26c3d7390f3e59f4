"""Cluster mode: with a service token every gRPC server refuses calls without it, except health."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from vwmp_common.clients import open_channel, plugin_client
from vwmp_common.grpc_server import start_grpc_server
from vwmp_common.settings import ServiceSettings
from vwmp_proto.plugin.v1 import plugin_pb2, plugin_pb2_grpc

TOKEN = "s3rvice-token-for-tests"
PLUGIN = "vwmp.plugin.v1.PluginService"


class _Plugin(plugin_pb2_grpc.PluginServiceServicer):
    """Answers one unary and one server-streaming method, so both call kinds are covered."""

    async def Describe(self, request: plugin_pb2.DescribeRequest, context: grpc.aio.ServicerContext) -> object:
        return plugin_pb2.DescribeResponse(host_id="h1")

    async def Execute(self, request: plugin_pb2.ExecuteRequest, context: grpc.aio.ServicerContext) -> AsyncIterator:
        yield plugin_pb2.ExecuteResponse(log=plugin_pb2.LogRecord(stream="stdout", line="hi"))


@pytest.fixture
async def server(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    token = getattr(request, "param", TOKEN)
    srv, port = await start_grpc_server(
        "test", [(plugin_pb2_grpc.add_PluginServiceServicer_to_server, _Plugin(), PLUGIN)], "127.0.0.1", 0,
        service_token=token,
    )
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await srv.stop(None)


async def _both_kinds(stub: plugin_pb2_grpc.PluginServiceStub) -> tuple[str, list[str]]:
    described = await stub.Describe(plugin_pb2.DescribeRequest(), timeout=5)
    lines = [r.log.line async for r in stub.Execute(plugin_pb2.ExecuteRequest(type="x"), timeout=5)]
    return described.host_id, lines


async def test_calls_without_the_token_are_unauthenticated(server: str) -> None:
    async with grpc.aio.insecure_channel(server) as channel:
        stub = plugin_pb2_grpc.PluginServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as unary:
            await stub.Describe(plugin_pb2.DescribeRequest(), timeout=5)
        assert unary.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert TOKEN not in (unary.value.details() or "")
        with pytest.raises(grpc.aio.AioRpcError) as streaming:
            _ = [r async for r in stub.Execute(plugin_pb2.ExecuteRequest(type="x"), timeout=5)]
        assert streaming.value.code() == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize("presented", ["Bearer wrong", f"Bearer {TOKEN}x", TOKEN, f"Basic {TOKEN}", "Bearer "])
async def test_a_wrong_token_is_unauthenticated(server: str, presented: str) -> None:
    async with grpc.aio.insecure_channel(server) as channel:
        stub = plugin_pb2_grpc.PluginServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.Describe(plugin_pb2.DescribeRequest(), metadata=(("authorization", presented),), timeout=5)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_an_unknown_method_does_not_reveal_itself_before_authentication(server: str) -> None:
    async with grpc.aio.insecure_channel(server) as channel:
        call = channel.unary_unary("/vwmp.nothing.v1.Nope/Call")
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call(b"", timeout=5)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_health_stays_open_for_kubernetes_probes(server: str) -> None:
    async with grpc.aio.insecure_channel(server) as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        reply = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=PLUGIN), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def _list_services(channel: grpc.aio.Channel) -> list[str]:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    replies = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5)
    return [s.name async for r in replies for s in r.list_services_response.service]


async def test_reflection_is_protected_and_works_with_the_token(server: str) -> None:
    async with grpc.aio.insecure_channel(server) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await _list_services(channel)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    channel = open_channel(server, "grpc.reflection.v1alpha.ServerReflection", service_token=TOKEN)
    try:
        assert PLUGIN in await _list_services(channel)  # a stream-stream call through the interceptor
    finally:
        await channel.close()


async def test_clients_attach_the_explicit_token(server: str) -> None:
    assert await _both_kinds(plugin_client(server, service_token=TOKEN)) == ("h1", ["hi"])


async def test_clients_read_the_token_from_the_environment(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VWMP_SERVICE_TOKEN", f" {TOKEN}\n")  # a Secret mounted with a newline still works
    assert ServiceSettings().service_token == TOKEN
    assert await _both_kinds(plugin_client(server)) == ("h1", ["hi"])


async def test_servers_read_the_token_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VWMP_SERVICE_TOKEN", TOKEN)
    srv, port = await start_grpc_server(
        "test", [(plugin_pb2_grpc.add_PluginServiceServicer_to_server, _Plugin(), PLUGIN)], "127.0.0.1", 0)
    try:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await _both_kinds(plugin_client(f"127.0.0.1:{port}", service_token=""))
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert await _both_kinds(plugin_client(f"127.0.0.1:{port}")) == ("h1", ["hi"])
    finally:
        await srv.stop(None)


@pytest.mark.parametrize("server", [""], indirect=True)
async def test_without_a_token_calls_need_no_metadata(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VWMP_SERVICE_TOKEN", raising=False)
    assert await _both_kinds(plugin_client(server)) == ("h1", ["hi"])
    assert await _both_kinds(plugin_client(server, service_token="unused")) == ("h1", ["hi"])


async def test_a_cancelled_streaming_call_still_cancels_through_the_interceptor(server: str) -> None:
    stub = plugin_client(server, service_token=TOKEN)
    call = stub.Execute(plugin_pb2.ExecuteRequest(type="x"), timeout=5)
    first = await call.read()
    assert first.log.line == "hi"
    call.cancel()
    assert call.cancelled()


def test_the_default_bind_address_is_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VWMP_GRPC_HOST", raising=False)
    assert ServiceSettings().grpc_host == "127.0.0.1"
