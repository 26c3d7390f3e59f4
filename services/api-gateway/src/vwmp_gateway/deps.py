"""FastAPI dependencies: the backends, and the caller checked against the route table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

import grpc
from fastapi import Depends, Request
from vwmp_common.clients import EngineStub, StorageStub
from vwmp_proto.engine.v1.engine_pb2_grpc import EngineServiceStub
from vwmp_proto.storage.v1.storage_pb2_grpc import StorageServiceStub

from vwmp_gateway.audit import Auditor
from vwmp_gateway.auth import ANONYMOUS, Principal, RateLimiter, TokenVerifier, bearer_secret, unauthenticated
from vwmp_gateway.events import EventFeed
from vwmp_gateway.problems import Problem
from vwmp_gateway.rbac import DENY_ALL, allows, rule_of_scope
from vwmp_gateway.settings import GatewaySettings

# grpc_tools writes no annotations on the stub constructors; these names give them their real type.
storage_stub: Callable[[grpc.aio.Channel], StorageStub] = StorageServiceStub
engine_stub: Callable[[grpc.aio.Channel], EngineStub] = EngineServiceStub


@dataclass
class Backends:
    """Everything a request handler may need, built once per app in the lifespan."""

    settings: GatewaySettings
    storage: StorageStub
    engine: EngineStub
    verifier: TokenVerifier
    limiter: RateLimiter
    auditor: Auditor
    feed: EventFeed
    extra: dict[str, object] = field(default_factory=dict)


def get_backends(request: Request) -> Backends:
    backends: Backends = request.app.state.backends
    return backends


def get_storage(request: Request) -> StorageStub:
    return get_backends(request).storage


def get_engine(request: Request) -> EngineStub:
    return get_backends(request).engine


async def authorize(request: Request) -> Principal:
    """Resolve the bearer token and check its role against the route table (fail closed)."""
    backends = get_backends(request)
    rule = rule_of_scope(request.scope) or DENY_ALL
    if rule.role is None:
        request.state.user = ANONYMOUS
        return ANONYMOUS
    secret = bearer_secret(request.headers.get("authorization"))
    if secret is None:
        backends.limiter.check(f"ip:{request.client.host if request.client else '-'}")
        raise unauthenticated()
    try:
        principal = await backends.verifier.verify(secret)
    except Problem:
        backends.limiter.check(f"ip:{request.client.host if request.client else '-'}")
        raise
    request.state.user = principal
    backends.limiter.check(f"token:{principal.id}")
    if not allows(principal.role, rule.role):
        raise Problem(403, f"Role {principal.role!r} may not do this; it needs {rule.role!r} or higher")
    return principal


CurrentUser = Annotated[Principal, Depends(authorize)]
StorageClient = Annotated[StorageStub, Depends(get_storage)]
EngineClient = Annotated[EngineStub, Depends(get_engine)]
BackendsDep = Annotated[Backends, Depends(get_backends)]
