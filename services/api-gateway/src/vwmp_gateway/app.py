"""The FastAPI application: routers under /api/v1, problem+json errors, middleware, lifespan."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import grpc
from fastapi import APIRouter, Depends, FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from vwmp_common.clients import open_channel
from vwmp_proto.engine.v1.engine_pb2_grpc import EngineServiceStub
from vwmp_proto.storage.v1.storage_pb2_grpc import StorageServiceStub

from vwmp_gateway.audit import AuditMiddleware, Auditor
from vwmp_gateway.auth import RateLimiter, TokenVerifier
from vwmp_gateway.deps import Backends, authorize
from vwmp_gateway.events import EventFeed
from vwmp_gateway.frontend import mount_frontend
from vwmp_gateway.hardening import RefuseHostilePaths
from vwmp_gateway.middleware import BodyLimit, ErrorGuard, Metrics
from vwmp_gateway.problems import (
    Problem,
    on_http_exception,
    on_problem,
    on_request_validation,
    on_rpc_error,
)
from vwmp_gateway.rbac import API, rules_by_operation
from vwmp_gateway.routers import audit, catalog, config, health, runs, stream, tokens, workflows
from vwmp_gateway.settings import GatewaySettings

PROBLEM_RESPONSE = {"content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}


def operation_id(route: APIRoute) -> str:
    """Stable `{tag}-{name}` operation ids, so a typed client can be generated."""
    tag = route.tags[0] if route.tags else "default"
    return f"{tag}-{route.name}"


def _problem_schema(app: FastAPI) -> None:
    original = app.openapi

    def openapi() -> dict[str, object]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        components = schema.setdefault("components", {})
        assert isinstance(components, dict)
        components.setdefault("schemas", {})["Problem"] = {
            "type": "object",
            "description": "RFC 9457 problem details",
            "required": ["type", "title", "status", "detail"],
            "properties": {
                "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                "detail": {"type": "string"},
                "errors": {"type": "array", "items": {"type": "object", "properties": {
                    "pointer": {"type": "string"}, "message": {"type": "string"}}}},
            },
        }
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    """Build the gateway app; backends (gRPC channels, NATS) are opened in the lifespan."""
    settings = settings or GatewaySettings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        token = settings.service_token
        storage_channel = open_channel(settings.storage_target(), "vwmp.storage.v1.StorageService", 10.0, token)
        engine_channel = open_channel(settings.engine_target(), "vwmp.engine.v1.EngineService", 10.0, token)
        storage = StorageServiceStub(storage_channel)
        engine = EngineServiceStub(engine_channel)
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

    app = FastAPI(
        title="VWMP API",
        version="1",
        description="Workflows, runs, live events, tokens, configuration and audit of VWMP.",
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
        responses={
            401: {"description": "No valid token", **PROBLEM_RESPONSE},
            403: {"description": "The token's role may not do this", **PROBLEM_RESPONSE},
            422: {"description": "Validation failed", **PROBLEM_RESPONSE},
            429: {"description": "Rate limit", **PROBLEM_RESPONSE},
        },
    )
    _problem_schema(app)
    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(grpc.aio.AioRpcError, on_rpc_error)
    app.add_exception_handler(RequestValidationError, on_request_validation)
    app.add_exception_handler(StarletteHTTPException, on_http_exception)

    api = APIRouter(prefix=API, dependencies=[Depends(authorize)])
    for module in (health, catalog, workflows, runs, tokens, config, audit):
        api.include_router(module.router)
    app.include_router(api)
    app.include_router(stream.router, prefix=API)

    app.state.operation_rules = rules_by_operation(app.openapi())

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
