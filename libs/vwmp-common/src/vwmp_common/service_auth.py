"""The shared service token between VWMP services (cluster mode, issue 6).

When `VWMP_SERVICE_TOKEN` is set, every gRPC server built by `start_grpc_server` refuses calls that do
not carry `authorization: Bearer <token>` with UNAUTHENTICATED; only the standard health service
stays open (Kubernetes gRPC probes cannot send metadata). Reflection is protected too: `grpcurl`
needs `-H "authorization: Bearer $VWMP_SERVICE_TOKEN"`. Every channel from `vwmp_common.clients`
attaches the token with client interceptors, so service code never handles it.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, TypeVar

import grpc

log = logging.getLogger(__name__)

METADATA_KEY = "authorization"
OPEN_PREFIXES = ("/grpc.health.v1.Health/",)
Request = TypeVar("Request")
Response = TypeVar("Response")


def bearer(token: str) -> str:
    """The metadata value for `token`."""
    return f"Bearer {token}"


def _presented(metadata: Any) -> str:
    for key, value in metadata or ():
        if key.lower() == METADATA_KEY:
            return value.decode("latin-1") if isinstance(value, bytes) else str(value)
    return ""


async def _deny_unary(request: object, context: grpc.aio.ServicerContext[Any, Any]) -> NoReturn:
    await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong service token (VWMP_SERVICE_TOKEN)")


def _deny_handler(handler: grpc.RpcMethodHandler[Any, Any] | None) -> grpc.RpcMethodHandler[Any, Any]:
    """A handler of the same kind as `handler` that aborts with UNAUTHENTICATED."""
    if handler is None or handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(_deny_unary)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(_deny_unary)
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(_deny_unary)
    return grpc.stream_stream_rpc_method_handler(_deny_unary)


class ServiceTokenInterceptor(grpc.aio.ServerInterceptor):
    """Refuses every call but health without the service token (constant-time comparison)."""

    def __init__(self, service: str, token: str) -> None:
        if not token:
            raise ValueError("ServiceTokenInterceptor needs a non-empty token")
        self.service = service
        self._expected = bearer(token).encode()

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Request, Response] | None]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Request, Response] | None:
        if details.method.startswith(OPEN_PREFIXES):
            return await continuation(details)
        presented = _presented(details.invocation_metadata).encode("latin-1", "replace")
        if hmac.compare_digest(presented, self._expected):
            return await continuation(details)
        log.warning(
            "gRPC call refused: missing or wrong service token",
            extra={"fields": {"service": self.service, "method": details.method, "presented": bool(presented)}},
        )
        return _deny_handler(await continuation(details))


def _with_token(details: grpc.aio.ClientCallDetails, value: str) -> grpc.aio.ClientCallDetails:
    metadata = grpc.aio.Metadata(*[(k, v) for k, v in (details.metadata or ()) if k.lower() != METADATA_KEY])
    metadata.add(METADATA_KEY, value)
    return grpc.aio.ClientCallDetails(
        method=details.method, timeout=details.timeout, metadata=metadata,
        credentials=details.credentials, wait_for_ready=details.wait_for_ready,
    )


class _TokenUnaryUnary(grpc.aio.UnaryUnaryClientInterceptor):
    def __init__(self, value: str) -> None:
        self.value = value

    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(_with_token(details, self.value), request)


class _TokenUnaryStream(grpc.aio.UnaryStreamClientInterceptor):
    def __init__(self, value: str) -> None:
        self.value = value

    async def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(_with_token(details, self.value), request)


class _TokenStreamUnary(grpc.aio.StreamUnaryClientInterceptor):
    def __init__(self, value: str) -> None:
        self.value = value

    async def intercept_stream_unary(self, continuation: Any, details: Any, request_iterator: Any) -> Any:
        return await continuation(_with_token(details, self.value), request_iterator)


class _TokenStreamStream(grpc.aio.StreamStreamClientInterceptor):
    def __init__(self, value: str) -> None:
        self.value = value

    async def intercept_stream_stream(self, continuation: Any, details: Any, request_iterator: Any) -> Any:
        return await continuation(_with_token(details, self.value), request_iterator)


def client_interceptors(token: str) -> list[grpc.aio.ClientInterceptor]:
    """Interceptors that attach `authorization: Bearer <token>` to every call kind (none when empty)."""
    if not token:
        return []
    value = bearer(token)
    return [_TokenUnaryUnary(value), _TokenUnaryStream(value), _TokenStreamUnary(value), _TokenStreamStream(value)]
