"""Running one step attempt on a live plugin host over gRPC."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
from vwmp_common.clients import PluginStub
from vwmp_proto.plugin.v1 import plugin_pb2

from vwmp_engine.registry import StepTypeRegistry

log = logging.getLogger(__name__)
HOST_WAIT_SECONDS = 10.0  # a plugin host restarting re-announces itself within its heartbeat
MAX_REDELIVERIES = 3  # deliveries of one request (one idempotency key) after its answer was lost


@dataclass
class StepFailed(Exception):
    """A step attempt failed; `kind` decides whether it may be retried."""

    kind: str  # config | denied | error | timeout | cancelled
    message: str
    by: str = ""  # who decided it, when a person did (an approval rejected)

    def __str__(self) -> str:
        return self.message

    @property
    def retryable(self) -> bool:
        """Whether another attempt may succeed (config, denied and cancelled never do)."""
        return self.kind in ("error", "timeout")


def execute_request(uses: str, config: dict[str, Any], *, run_id: str, step_id: str, attempt: int,
                    idempotency_key: str, dry_run: bool, platform_config: dict[str, Any],
                    redact: list[str], scratch: bool = False) -> plugin_pb2.ExecuteRequest:
    """The plugin call for one step attempt (or, in dry-run mode, for its plan)."""
    return plugin_pb2.ExecuteRequest(
        type=uses, config_json=json.dumps(config), run_id=run_id, step_id=step_id, attempt=attempt,
        idempotency_key=idempotency_key, dry_run=dry_run, platform_config_json=json.dumps(platform_config),
        redact=redact, scratch=scratch,
    )


async def execute_on_host(
    registry: StepTypeRegistry,
    request: plugin_pb2.ExecuteRequest,
    on_log: Callable[[str, str], None],
) -> dict[str, Any]:
    """Run the request on a live host offering its type; returns the outputs.

    A host that cannot be reached before the call starts is skipped for the next one. A call whose
    connection breaks after the host had the request may have done the step there (only its answer
    was lost): the same request, with the same idempotency key, is delivered again, to that host
    first, and the host answers with the outcome of the first delivery (or finishes it). After
    MAX_REDELIVERIES, or when no host offering the type comes back within HOST_WAIT_SECONDS, the
    attempt fails as an error (retried as the step's policy says, under a new key).
    """
    if not await registry.wait_for_host(request.type, HOST_WAIT_SECONDS):
        raise StepFailed("error", f"no live plugin host offers {request.type!r}")
    lost: _AnswerLost | None = None
    redeliveries = 0
    while True:
        hosts = registry.hosts_for(request.type)
        if lost is not None:  # the host that had the request first holds its outcome
            first = lost.host_id
            hosts.sort(key=lambda host: host[0] != first)
        for host_id, client in hosts:
            try:
                return await _deliver(host_id, client, request, on_log)
            except _NotConnected as error:
                log.warning("plugin host unreachable; trying another",
                            extra={"fields": {"host": host_id, "error": error.details}})
                registry.mark_unreachable(host_id)
            except _AnswerLost as error:
                if redeliveries >= MAX_REDELIVERIES:
                    registry.mark_unreachable(host_id)
                    raise StepFailed("error", f"{error.message}; delivered {redeliveries + 1} times with "
                                              f"idempotency key {request.idempotency_key}") from None
                lost, redeliveries = error, redeliveries + 1
                log.warning("plugin host went away during the step; delivering it again with the same "
                            "idempotency key", extra={"fields": {"host": host_id, "error": error.details,
                                                                 "key": request.idempotency_key}})
                break
        else:
            if lost is None:
                raise StepFailed("error", f"no reachable plugin host offers {request.type!r}")
            if not await registry.wait_for_host(request.type, HOST_WAIT_SECONDS):
                raise StepFailed("error", f"{lost.message}, and no host offering {request.type!r} came back within "
                                          f"{HOST_WAIT_SECONDS:g}s to take the step again")


class _NotConnected(Exception):
    """The call never reached the host: another host may run the step instead."""

    def __init__(self, details: str) -> None:
        self.details = details


class _AnswerLost(Exception):
    """The host had the request and the connection broke: the step may have run there."""

    def __init__(self, host_id: str, details: str) -> None:
        self.host_id, self.details = host_id, details
        self.message = f"plugin host {host_id} went away during the step (connection lost: {details})"


async def _deliver(host_id: str, client: PluginStub, request: plugin_pb2.ExecuteRequest,
                   on_log: Callable[[str, str], None]) -> dict[str, Any]:
    """One delivery of the request to one host."""
    started = False
    try:
        async for response in client.Execute(request, wait_for_ready=False):
            started = True
            kind = response.WhichOneof("payload")
            if kind == "log":
                on_log(response.log.stream or "info", response.log.line)
            elif kind == "result":
                outputs = json.loads(response.result.outputs_json or "{}")
                if not isinstance(outputs, dict):
                    raise StepFailed("error", "plugin returned outputs that are not an object")
                return outputs
            elif kind == "failure":
                raise StepFailed(response.failure.kind or "error", response.failure.message)
        raise StepFailed("error", f"plugin host {host_id} ended the call without a result")
    except grpc.aio.AioRpcError as error:
        details = error.details() or ""
        if error.code() == grpc.StatusCode.UNAVAILABLE and not started and _never_connected(error):
            raise _NotConnected(details) from None
        if error.code() == grpc.StatusCode.UNAVAILABLE:  # it had the request: the step may have run there
            raise _AnswerLost(host_id, details) from None
        raise StepFailed("error", f"plugin host {host_id} failed: {error.code().name}: {details}") from None


def _never_connected(error: grpc.aio.AioRpcError) -> bool:
    """Whether the call failed before reaching the host (so another host may run the step instead).

    A host that dies mid-call fails it with UNAVAILABLE too ("Socket closed", "Connection reset");
    only a failed connection means the request was never delivered.
    """
    return "failed to connect" in (error.details() or "").lower()
