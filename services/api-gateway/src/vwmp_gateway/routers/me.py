"""Who the caller is: the designer needs it to tell a run's starter that they cannot approve it."""

from __future__ import annotations

from fastapi import APIRouter

from vwmp_gateway.deps import CurrentUser
from vwmp_gateway.models import Me

router = APIRouter(tags=["tokens"])


@router.get("/me")
async def who_am_i(user: CurrentUser) -> Me:
    """The signed-in token's name (the actor runs record as `created_by`) and its role."""
    return Me(name=user.name, role=user.role)
