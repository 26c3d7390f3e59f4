"""API tokens (admin): create (secret shown once), list, revoke at once."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status
from vwmp_proto.storage.v1 import storage_pb2

from vwmp_gateway import convert
from vwmp_gateway.deps import BackendsDep, CurrentUser, StorageClient
from vwmp_gateway.lifetimes import lifetime_seconds
from vwmp_gateway.models import Page, TokenCreate, TokenCreated, TokenPublic
from vwmp_gateway.problems import validation_problem

router = APIRouter(prefix="/tokens", tags=["tokens"])

def parse_lifetime(value: object) -> float:
    """Seconds from 3600 (or 3600.0) or "90d"/"12h"/"30m"/"45s"; 0 = never expires."""
    if value is None:
        return 0.0
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # JSON Schema's integer
    seconds = lifetime_seconds(value) if isinstance(value, int | str) and not isinstance(value, bool) else None
    if seconds is None:
        raise validation_problem([{"pointer": "/expires_in", "message": (
            "use seconds or e.g. 30m, 12h, 90d, between 1 second and 10 years")}])
    return float(seconds)


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_token(
    body: TokenCreate, request: Request, response: Response, user: CurrentUser, storage: StorageClient
) -> TokenCreated:
    """Create a token; the secret is in the answer once and never again."""
    lifetime = parse_lifetime(body.expires_in)
    created = await storage.CreateToken(
        storage_pb2.CreateTokenRequest(
            name=body.name, role=body.role, expires_in_seconds=lifetime, created_by=user.name
        )
    )
    request.state.audit_target = f"tokens/{created.token.id}"
    response.headers["Cache-Control"] = "no-store"
    return TokenCreated(**convert.token(created.token).model_dump(), token=created.secret)


@router.get("")
async def list_tokens(storage: StorageClient) -> Page[TokenPublic]:
    """Every token (without secrets)."""
    response = await storage.ListTokens(storage_pb2.ListTokensRequest())
    items = [convert.token(item) for item in response.tokens]
    return Page(items=items, total=len(items))


@router.delete("/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_token(
    token_id: Annotated[str, Path(min_length=1, max_length=100)], storage: StorageClient, backends: BackendsDep
) -> None:
    """Revoke a token at once: REST calls get 401 and open streams close."""
    await storage.RevokeToken(storage_pb2.RevokeTokenRequest(id=token_id))
    backends.verifier.forget(token_id)
