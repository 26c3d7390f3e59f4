"""gRPC server bootstrap: every VWMP server serves health and reflection.

`grpcurl` and Kubernetes gRPC probes work against every service because of it. In cluster mode
(`VWMP_SERVICE_TOKEN` set) every call but health needs the service token (see `service_auth`).
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from vwmp_common.metrics import RPC_LATENCY
from vwmp_common.service_auth import ServiceTokenInterceptor
from vwmp_common.settings import service_token_from_env

log = logging.getLogger(__name__)

Registrar = Callable[[Any, grpc.aio.Server], None]
Request = TypeVar("Request")
Response = TypeVar("Response")
MAX_MESSAGE_BYTES = 32 * 1024 * 1024


class _LatencyInterceptor(grpc.aio.ServerInterceptor):
    """Records the latency of every unary RPC in the `vwmp_rpc_latency_seconds` histogram."""

    def __init__(self, service: str) -> None:
        self.service = service

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Request, Response] | None]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Request, Response] | None:
        handler = await continuation(details)
        if handler is None or handler.unary_unary is None:
            return handler
        method = details.method.rsplit("/", 1)[-1]
        inner = handler.unary_unary
        histogram = RPC_LATENCY.labels(self.service, method)
        timed: Callable[[Request, grpc.ServicerContext], Any]

        # grpc.aio runs servicers written either way: coroutine functions and plain ones (on sync_workers).
        if inspect.iscoroutinefunction(inner):
            async_inner = inner

            async def timed_coroutine(request: Request, context: grpc.ServicerContext) -> Response:
                started = time.perf_counter()
                try:
                    response: Response = await async_inner(request, context)
                    return response
                finally:
                    histogram.observe(time.perf_counter() - started)

            timed = timed_coroutine
        else:
            sync_inner = inner

            def timed_function(request: Request, context: grpc.ServicerContext) -> Response:
                started = time.perf_counter()
                try:
                    return sync_inner(request, context)
                finally:
                    histogram.observe(time.perf_counter() - started)

            timed = timed_function

        return grpc.unary_unary_rpc_method_handler(
            timed,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


async def start_grpc_server(
    service: str,
    registrations: Iterable[tuple[Registrar, Any, str]],
    host: str,
    port: int,
    sync_workers: int = 0,
    service_token: str | None = None,
) -> tuple[grpc.aio.Server, int]:
    """Start a grpc.aio server with health, reflection and RPC metrics.

    Args:
        service: name used in metrics and logs.
        registrations: `(add_XServicer_to_server, servicer, full_service_name)` triples.
        host: bind address (loopback by default, see settings).
        port: port to bind; 0 picks a free one.
        sync_workers: threads for servicers written as plain functions (e.g. SQL work).
        service_token: calls other than health must carry `authorization: Bearer <it>`; None reads
            `VWMP_SERVICE_TOKEN`, empty turns the check off (single-host default, loopback only).

    Returns:
        The started server and the port it listens on.
    """
    options = [
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.so_reuseport", 0),
    ]
    pool = ThreadPoolExecutor(max_workers=sync_workers, thread_name_prefix=service) if sync_workers else None
    token = service_token_from_env() if service_token is None else service_token
    interceptors: list[grpc.aio.ServerInterceptor] = [_LatencyInterceptor(service)]
    if token:
        interceptors.insert(0, ServiceTokenInterceptor(service, token))
    server = grpc.aio.server(interceptors=interceptors, options=options, migration_thread_pool=pool)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = [health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME]
    for add, servicer, name in registrations:
        add(servicer, server)
        names.append(name)
    reflection.enable_server_reflection(names, server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise RuntimeError(f"{service}: cannot bind gRPC port {host}:{port}")
    await server.start()
    for name in [*names[2:], ""]:
        status = health_pb2.HealthCheckResponse.SERVING
        await health_servicer.set(name, status)
    log.info(
        "gRPC server listening",
        extra={"fields": {"address": f"{host}:{bound}", "service": service, "service_token": bool(token)}},
    )
    return server, bound
