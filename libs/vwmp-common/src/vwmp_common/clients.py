"""Typed gRPC clients with deadlines and retries.

Every call to another service goes through a channel built here: transient
UNAVAILABLE errors of idempotent calls are retried by gRPC itself (service config
retry policy; a request that never left the client is retried transparently either
way) and every call has a default deadline, so a dead peer never hangs a caller.
In cluster mode every call carries the service token (`VWMP_SERVICE_TOKEN`, see `service_auth`).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import grpc
from google.protobuf import descriptor_pool
from vwmp_proto.engine.v1.engine_pb2_grpc import EngineServiceStub
from vwmp_proto.plugin.v1.plugin_pb2_grpc import PluginServiceStub
from vwmp_proto.storage.v1.storage_pb2_grpc import StorageServiceStub

from vwmp_common.grpc_server import MAX_MESSAGE_BYTES
from vwmp_common.service_auth import client_interceptors
from vwmp_common.settings import plugin_host_token_from_env, service_token_from_env

# The types of the clients below, for annotations: the `*AsyncStub` classes exist only in the typed
# stubs (mypy-protobuf); at run time one stub class serves both channel kinds.
if TYPE_CHECKING:
    from vwmp_proto.engine.v1.engine_pb2_grpc import EngineServiceAsyncStub as EngineStub
    from vwmp_proto.plugin.v1.plugin_pb2_grpc import PluginServiceAsyncStub as PluginStub
    from vwmp_proto.storage.v1.storage_pb2_grpc import StorageServiceAsyncStub as StorageStub
else:
    EngineStub, PluginStub, StorageStub = EngineServiceStub, PluginServiceStub, StorageServiceStub

__all__ = [
    "EngineStub",
    "PluginStub",
    "StorageStub",
    "engine_client",
    "open_channel",
    "plugin_client",
    "storage_channel",
    "storage_client",
]


# Calls that change nothing (or the same thing again) when repeated: only these are retried on
# UNAVAILABLE, which a peer also answers after it did the work (a connection lost mid-call, a
# server stopping). Any other call fails to its caller, who knows whether repeating it is safe:
# RecordTransitions is, with the idempotency key the engine's transition log gives each batch, and
# that log sends it again itself (on DEADLINE_EXCEEDED too, which a retry policy never repeats).
IDEMPOTENT_PREFIXES = ("Get", "List", "Validate", "Verify")
IDEMPOTENT_METHODS = frozenset({"RenewLeases", "ReleaseLease"})


def idempotent_methods(service: str) -> list[str]:
    """The methods of `service` that gRPC may retry by itself (see IDEMPOTENT_PREFIXES)."""
    methods = descriptor_pool.Default().FindServiceByName(service).methods
    return sorted(m.name for m in methods if m.name.startswith(IDEMPOTENT_PREFIXES) or m.name in IDEMPOTENT_METHODS)


def _service_config(service: str, timeout_seconds: float | None) -> str:
    every_call: dict[str, object] = {"name": [{"service": service}], "waitForReady": True}
    if timeout_seconds:
        every_call["timeout"] = f"{timeout_seconds}s"
    retried = {
        **every_call,
        "name": [{"service": service, "method": method} for method in idempotent_methods(service)],
        "retryPolicy": {
            "maxAttempts": 5,
            "initialBackoff": "0.05s",
            "maxBackoff": "1s",
            "backoffMultiplier": 2,
            "retryableStatusCodes": ["UNAVAILABLE"],
        },
    }
    return json.dumps({"methodConfig": [every_call, retried] if retried["name"] else [every_call]})


def open_channel(
    target: str, service: str, timeout_seconds: float | None = 30.0, service_token: str | None = None
) -> grpc.aio.Channel:
    """An asyncio channel to `target` with the retry/deadline policy for `service`.

    `service_token` is sent with every call; None reads `VWMP_SERVICE_TOKEN`, empty sends nothing.
    """
    options = [
        ("grpc.service_config", _service_config(service, timeout_seconds)),
        ("grpc.enable_retries", 1),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.keepalive_time_ms", 20_000),
    ]
    token = service_token_from_env() if service_token is None else service_token
    return grpc.aio.insecure_channel(target, options=options, interceptors=client_interceptors(token) or None)


def storage_client(target: str, service_token: str | None = None,
                   channel: grpc.aio.Channel | None = None) -> StorageStub:
    """Client of vwmp.storage.v1.StorageService (on `channel`, one of `storage_channel`'s, when given)."""
    return StorageServiceStub(channel or storage_channel(target, service_token))


def storage_channel(target: str, service_token: str | None = None) -> grpc.aio.Channel:
    """The channel `storage_client` uses: a caller that also asks storage's health service shares it."""
    return open_channel(target, "vwmp.storage.v1.StorageService", service_token=service_token)


def engine_client(target: str, service_token: str | None = None) -> EngineStub:
    """Client of vwmp.engine.v1.EngineService."""
    return EngineServiceStub(open_channel(target, "vwmp.engine.v1.EngineService", service_token=service_token))


def plugin_client(target: str, service_token: str | None = None) -> PluginStub:
    """Client of vwmp.plugin.v1.PluginService (no default deadline: steps set their own).

    `service_token` None sends `VWMP_PLUGIN_HOST_TOKEN` (else `VWMP_SERVICE_TOKEN`): a plugin host's own token.
    """
    token = plugin_host_token_from_env() if service_token is None else service_token
    return PluginServiceStub(
        open_channel(target, "vwmp.plugin.v1.PluginService", timeout_seconds=None, service_token=token)
    )
