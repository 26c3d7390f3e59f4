"""Liveness and readiness.

`/health` says the gateway process answers (a liveness probe: restarting it cures nothing else).
`/ready` says requests can be served now: storage answers and its database too. While the database
is away it is 503 with `Retry-After`, like every route that needs storage, and 200 again by itself.
"""

from __future__ import annotations

from fastapi import APIRouter
from vwmp_proto.storage.v1 import storage_pb2

from vwmp_gateway.deps import StorageClient
from vwmp_gateway.models import Health
from vwmp_gateway.problems import STORAGE_UNAVAILABLE_RESPONSE

router = APIRouter(tags=["health"])

READY_TIMEOUT_SECONDS = 3.0  # a readiness probe wants an answer, not a wait


@router.get("/health")
async def health() -> Health:
    """Liveness probe; needs no token."""
    return Health(status="ok")


@router.get("/ready", responses={503: STORAGE_UNAVAILABLE_RESPONSE})
async def ready(storage: StorageClient) -> Health:
    """Readiness probe; needs no token. 200 when storage and its database answer, else 503 with Retry-After."""
    # A read of the database (the platform configuration): storage's own health says only that it runs.
    await storage.GetConfig(storage_pb2.GetConfigRequest(), timeout=READY_TIMEOUT_SECONDS)
    return Health(status="ready")
