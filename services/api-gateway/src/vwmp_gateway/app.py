"""The FastAPI application: routers under /api/v1, problem+json errors, middleware, lifespan."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import grpc
from fastapi import APIRouter, Depends, FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from vwmp_common.clients import open_channel
from vwmp_common.states import TERMINAL_RUN_STATES, TERMINAL_STEP_STATES, RunState, StepState

from vwmp_gateway.api_docs import mount_api_docs
from vwmp_gateway.audit import AuditMiddleware, Auditor
from vwmp_gateway.auth import RateLimiter, TokenVerifier
from vwmp_gateway.contract import AllowedMethods, complete, on_http_error
from vwmp_gateway.deps import Backends, authorize, engine_stub, storage_stub
from vwmp_gateway.events import EventFeed
from vwmp_gateway.frontend import mount_frontend
from vwmp_gateway.hardening import RefuseHostilePaths
from vwmp_gateway.middleware import BodyLimit, ErrorGuard, Metrics
from vwmp_gateway.problems import (
    Problem,
    on_problem,
    on_request_validation,
    on_rpc_error,
)
from vwmp_gateway.rbac import API, rules_by_operation
from vwmp_gateway.routers import (
    audit,
    catalog,
    config,
    health,
    hooks,
    me,
    runs,
    stream,
    tokens,
    triggers,
    workflows,
)
from vwmp_gateway.settings import GatewaySettings


def operation_id(route: APIRoute) -> str:
    """Stable `{tag}-{name}` operation ids, so a typed client can be generated."""
    tag = route.tags[0] if route.tags else "default"
    return f"{tag}-{route.name}"


class GatewayApp(FastAPI):
    """The FastAPI app whose OpenAPI document also declares every problem+json answer of each route
    (contract.py) and which states are terminal (`x-terminal`), so clients learn the meaning with the
    vocabulary."""

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema:
            return self.openapi_schema
        schema = super().openapi()
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        for vocabulary, terminal in ((RunState, TERMINAL_RUN_STATES), (StepState, TERMINAL_STEP_STATES)):
            if vocabulary.__name__ in schemas:
                schemas[vocabulary.__name__]["x-terminal"] = [state.value for state in vocabulary if state in terminal]
        complete(schema)
        self.openapi_schema = schema
        return schema


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    """Build the gateway app; backends (gRPC channels, NATS) are opened in the lifespan."""
    settings = settings or GatewaySettings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        token = settings.service_token
        storage_channel = open_channel(settings.storage_target(), "vwmp.storage.v1.StorageService", 10.0, token)
        engine_channel = open_channel(settings.engine_target(), "vwmp.engine.v1.EngineService", 10.0, token)
        storage = storage_stub(storage_channel)
        engine = engine_stub(engine_channel)
        feed = EventFeed(settings.nats_url)
        feed.start()
        app.state.backends = Backends(
            settings=settings,
            storage=storage,
            engine=engine,
            verifier=TokenVerifier(storage, settings.token_cache_seconds, settings.admin_token),
            limiter=RateLimiter(settings.rate_limit, settings.rate_burst),
            auditor=Auditor(storage),
            feed=feed,
        )
        try:
            yield
        finally:
            await feed.close()
            await storage_channel.close()
            await engine_channel.close()

    app = GatewayApp(
        title="VWMP API",
        version="1",
        description="Workflows, runs, live events, tokens, configuration and audit of VWMP.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        generate_unique_id_function=operation_id,
    )
    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(grpc.aio.AioRpcError, on_rpc_error)
    app.add_exception_handler(RequestValidationError, on_request_validation)
    app.add_exception_handler(StarletteHTTPException, on_http_error)

    api = APIRouter(prefix=API, dependencies=[Depends(authorize)])
    for module in (health, me, catalog, workflows, triggers, hooks, runs, tokens, config, audit):
        api.include_router(module.router)
    app.include_router(api)
    app.include_router(stream.router, prefix=API)
    mount_api_docs(app)

    app.state.operation_rules = rules_by_operation(app.openapi())
    app.state.allowed_methods = AllowedMethods(app.openapi())

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    if settings.frontend_dir is not None and settings.frontend_dir.is_dir():
        mount_frontend(app, settings.frontend_dir)

    # Added last = outermost: the audit sees the final status, even of an unexpected error.
    app.add_middleware(RefuseHostilePaths)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(ErrorGuard)
    app.add_middleware(AuditMiddleware)
    app.add_middleware(Metrics)
    if settings.allowed_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.allowed_origins, allow_credentials=False,
            allow_methods=["*"], allow_headers=["Authorization", "Content-Type", "If-Match"],
            expose_headers=["ETag", "Location", "Retry-After"],
        )
    return app
