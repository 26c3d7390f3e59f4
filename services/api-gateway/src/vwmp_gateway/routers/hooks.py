"""Webhook deliveries from git forges: no bearer token, the forge's own signature instead.

The gateway limits the body and the rate per trigger and hands the raw body and the forge's
headers to the engine, which holds the secret, verifies the signature in constant time, evaluates
the filter and starts the run. Every delivery is audited (a bad signature as denied).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import grpc
from fastapi import APIRouter, Path, Request, Response, status
from vwmp_proto.engine.v1 import engine_pb2

from vwmp_gateway import convert
from vwmp_gateway.auth import Principal, RateLimiter
from vwmp_gateway.deps import BackendsDep, EngineClient
from vwmp_gateway.models import RunPublic
from vwmp_gateway.problems import Problem, validation_problem
from vwmp_gateway.routers.triggers import TriggerId
from vwmp_gateway.routers.workflows import NAME_PATTERN

router = APIRouter(prefix="/hooks", tags=["hooks"])

# What a forge sends that the engine may read: signatures, delivery ids and event names.
FORWARDED_PREFIXES = ("x-hub-", "x-github-", "x-gitea-", "x-gogs-", "x-gitlab-", "x-vwmp-")
FORWARDED_HEADERS = frozenset({"idempotency-key", "content-type", "user-agent"})
HOOK_BODY: dict[str, Any] = {
    "requestBody": {"required": True, "content": {"application/json": {
        "schema": {"type": "object", "additionalProperties": True, "description": "The forge's event payload"}}}},
    "responses": {"202": {"description": "The run the delivery started (or, for a known delivery id, started before)"},
                  "204": {"description": "The filter was false (or overlap skip): no run"},
                  "401": {"description": "Missing or bad signature"},
                  "413": {"description": "The delivery is too large"}},
}


WEBHOOK = Principal(id="", name="webhook", role="")


def _limiter(backends: BackendsDep) -> RateLimiter:
    limiter = backends.extra.get("hook_limiter")
    if not isinstance(limiter, RateLimiter):
        limiter = RateLimiter(backends.settings.hook_rate_limit, backends.settings.hook_rate_burst)
        backends.extra["hook_limiter"] = limiter
    return limiter


@router.post("/{workflow}/{trigger_id}", status_code=status.HTTP_202_ACCEPTED, openapi_extra=HOOK_BODY,
             response_model=RunPublic)
async def deliver_webhook(
    workflow: Annotated[str, Path(pattern=NAME_PATTERN, description="Workflow name")],
    trigger_id: TriggerId,
    request: Request,
    backends: BackendsDep,
    engine: EngineClient,
) -> Any:
    """Receive a webhook delivery (signed by the forge; no bearer token) and start the trigger's run."""
    request.state.user = WEBHOOK  # the audit trail's actor
    limit = backends.settings.hook_max_body_bytes
    body = await request.body()
    if len(body) > limit:
        raise Problem(413, f"The delivery is larger than {limit} bytes")
    try:
        _limiter(backends).check(f"hook:{workflow}/{trigger_id}")
    except Problem as limited:
        raise Problem(429, "Too many deliveries for this trigger; slow down", headers=limited.headers) from None
    headers = [engine_pb2.WebhookHeader(name=name.lower(), value=value) for name, value in request.headers.items()
               if name.lower().startswith(FORWARDED_PREFIXES) or name.lower() in FORWARDED_HEADERS]
    try:
        answer = await engine.DeliverWebhook(engine_pb2.DeliverWebhookRequest(
            workflow=workflow, trigger_id=trigger_id, headers=headers, body=body))
    except grpc.aio.AioRpcError as error:
        if error.code() == grpc.StatusCode.UNAUTHENTICATED:
            raise Problem(401, error.details() or "missing or bad signature", title="Unauthorized",
                          kind="bad-signature") from None
        raise
    if answer.HasField("conflict"):
        conflict = answer.conflict
        raise Problem(409, conflict.detail, title="Concurrency conflict", kind="concurrency-conflict",
                      extra={"concurrency": {"key": conflict.key, "blocked_by": list(conflict.blocked_by)}})
    if answer.errors:
        raise validation_problem([{"pointer": _in_parameters(e.pointer), "message": e.message}
                                  for e in answer.errors], "The trigger's parameters are not valid")
    if not answer.HasField("run"):
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    run = convert.run(answer.run)
    headers_out = {"Location": f"/api/v1/runs/{run.id}"}
    if answer.replayed:
        headers_out["X-VWMP-Replayed"] = "true"
    return Response(json.dumps(run.model_dump(mode="json")), status_code=status.HTTP_202_ACCEPTED,
                    media_type="application/json", headers=headers_out)


def _in_parameters(pointer: str) -> str:
    """Engine pointers are into the rendered parameters; say so."""
    return pointer if pointer.startswith("/parameters") else "/parameters" + pointer
