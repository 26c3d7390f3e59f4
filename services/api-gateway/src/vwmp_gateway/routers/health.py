"""Liveness."""

from __future__ import annotations

from fastapi import APIRouter

from vwmp_gateway.models import Health

router = APIRouter(tags=["health"])


@router.get("/health")
async def health() -> Health:
    """Liveness probe; needs no token."""
    return Health(status="ok")
