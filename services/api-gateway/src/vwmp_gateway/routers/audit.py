"""The audit trail (admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from vwmp_proto.storage.v1 import storage_pb2

from vwmp_gateway import convert
from vwmp_gateway.deps import StorageClient
from vwmp_gateway.models import AuditPublic, Page

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("")
async def list_audit(
    storage: StorageClient,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> Page[AuditPublic]:
    """Audit entries, newest first."""
    response = await storage.ListAudit(storage_pb2.ListAuditRequest(limit=limit, offset=offset))
    items = [convert.audit(item) for item in response.entries]
    return Page(items=items, total=len(items))
