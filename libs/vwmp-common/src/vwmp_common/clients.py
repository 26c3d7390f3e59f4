"""Typed gRPC clients with deadlines and retries.

Every call to another service goes through a channel built here: transient
UNAVAILABLE errors are retried by gRPC itself (service config retry policy)
and every call has a default deadline, so a dead peer never hangs a caller.
"""

from __future__ import annotations

import json

import grpc
from vwmp_proto.engine.v1.engine_pb2_grpc import EngineServiceStub
from vwmp_proto.plugin.v1.plugin_pb2_grpc import PluginServiceStub
from vwmp_proto.storage.v1.storage_pb2_grpc import StorageServiceStub

from vwmp_common.grpc_server import MAX_MESSAGE_BYTES


def _service_config(service: str, timeout_seconds: float | None) -> str:
    method_config: dict[str, object] = {
        "name": [{"service": service}],
        "retryPolicy": {
            "maxAttempts": 5,
            "initialBackoff": "0.05s",
            "maxBackoff": "1s",
            "backoffMultiplier": 2,
            "retryableStatusCodes": ["UNAVAILABLE"],
        },
        "waitForReady": True,
    }
    if timeout_seconds:
        method_config["timeout"] = f"{timeout_seconds}s"
    return json.dumps({"methodConfig": [method_config]})


def open_channel(target: str, service: str, timeout_seconds: float | None = 30.0) -> grpc.aio.Channel:
    """An asyncio channel to `target` with the retry/deadline policy for `service`."""
    options = [
        ("grpc.service_config", _service_config(service, timeout_seconds)),
        ("grpc.enable_retries", 1),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.keepalive_time_ms", 20_000),
    ]
    return grpc.aio.insecure_channel(target, options=options)


def storage_client(target: str) -> StorageServiceStub:
    """Client of vwmp.storage.v1.StorageService."""
    return StorageServiceStub(open_channel(target, "vwmp.storage.v1.StorageService"))


def engine_client(target: str) -> EngineServiceStub:
    """Client of vwmp.engine.v1.EngineService."""
    return EngineServiceStub(open_channel(target, "vwmp.engine.v1.EngineService"))


def plugin_client(target: str) -> PluginServiceStub:
    """Client of vwmp.plugin.v1.PluginService (no default deadline: steps set their own)."""
    return PluginServiceStub(open_channel(target, "vwmp.plugin.v1.PluginService", timeout_seconds=None))
