"""Structured details the services attach to a refused gRPC call, as trailing metadata.

The status text stays readable on its own; these keys carry what a client acts on.
"""

from __future__ import annotations

import grpc

ERRORS = "vwmp-errors-json"  # pointed validation errors: JSON list of {"pointer", "message"}
PLAN_DIGEST = "vwmp-plan-digest"  # an approval refused because the plan changed: the plan's digest now
CONCURRENCY = "vwmp-concurrency-json"  # CreateRun refused by on_conflict fail: {"key", "blocked_by"}
LATEST_VERSION = "vwmp-latest-version"  # CreateRun only_latest refused: the workflow's latest version now


def trailing(error: grpc.aio.AioRpcError, key: str) -> str | None:
    """The text a refused call carries under `key` in its trailing metadata, if any."""
    for name, value in error.trailing_metadata() or ():
        if name == key:
            return value.decode() if isinstance(value, bytes) else str(value)
    return None
