"""RFC 9457 problem details, and the one place where gRPC status codes become HTTP statuses."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

import grpc
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from vwmp_common import rpc_metadata
from vwmp_common.json_pointer import pointer

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE_BASE = "https://vwmp.dev/problems/"
RETRY_AFTER_SECONDS = 1  # a backend or its database away: the client asks again this soon (clients back off)
# The OpenAPI of an error answered as problem+json, and of the 503 every route may answer.
PROBLEM_CONTENT = {"content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
RETRY_AFTER_HEADER = {"Retry-After": {"description": "Seconds to wait before trying again",
                                      "schema": {"type": "integer", "minimum": 1}}}
UNAVAILABLE_RESPONSE = {
    "description": "A backend service or the database is unavailable for now (nothing was done); try again "
                   "after Retry-After seconds",
    "headers": RETRY_AFTER_HEADER, **PROBLEM_CONTENT,
}
STORAGE_UNAVAILABLE_RESPONSE = {
    "description": "Not ready: storage or its database does not answer; ask again after Retry-After seconds",
    "headers": RETRY_AFTER_HEADER, **PROBLEM_CONTENT,
}
_POINTED_LINE = re.compile(r"^\s*(/\S*)?: (.+)$")


class Problem(Exception):
    """An error the API answers with a problem+json body."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        kind: str | None = None,
        errors: Sequence[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or HTTPStatus(status).phrase
        self.kind = kind or self.title.lower().replace(" ", "-")
        self.errors = list(errors) if errors is not None else None
        self.headers = headers or {}
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        """The problem document."""
        document: dict[str, Any] = {
            "type": PROBLEM_TYPE_BASE + self.kind,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.errors is not None:
            document["errors"] = self.errors
        document.update(self.extra)
        return document


def problem_response(problem: Problem, instance: str | None = None) -> JSONResponse:
    """A problem+json response."""
    body = problem.body()
    if instance:
        body["instance"] = instance
    return JSONResponse(body, status_code=problem.status, media_type=PROBLEM_JSON, headers=problem.headers)


def validation_problem(errors: Sequence[dict[str, str]], detail: str = "The request is not valid") -> Problem:
    """422 with pointed errors."""
    return Problem(422, detail, title="Validation failed", kind="validation", errors=errors)


def _errors_from_rpc(error: grpc.aio.AioRpcError) -> list[dict[str, str]]:
    # Structured errors from the trailing metadata; the status details text is the fallback.
    raw = rpc_metadata.trailing(error, rpc_metadata.ERRORS)
    if raw is None:
        text = (error.details() or "").strip()
        if text.startswith("["):
            raw = text
        else:  # storage's text form: a headline, then one "<pointer>: <message>" per line
            lines = [_POINTED_LINE.match(line) for line in text.splitlines()[1:]]
            return [{"pointer": m.group(1) or "", "message": m.group(2)} for m in lines if m]
    try:
        parsed = json.loads(raw)
    except ValueError:
        return []
    if not isinstance(parsed, list):
        return []
    return [
        {"pointer": str(item.get("pointer", "")), "message": str(item.get("message", ""))}
        for item in parsed
        if isinstance(item, dict)
    ]


def plan_digest_of(error: grpc.aio.AioRpcError) -> str | None:
    """The new plan digest of an approval refused because the plan changed, else None."""
    if error.code() != grpc.StatusCode.ABORTED:
        return None
    return rpc_metadata.trailing(error, rpc_metadata.PLAN_DIGEST)


def unavailable_problem() -> Problem:
    """503 with Retry-After: a peer (storage, its database, the engine) is away for now; nothing was done.

    The peer's own message is not passed on: it names internal addresses.
    """
    return Problem(503, "A backend service is unavailable; try again",
                   headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def problem_from_rpc(error: grpc.aio.AioRpcError, *, precondition_status: int = 409) -> Problem:
    """Map a gRPC failure of a peer service to the HTTP problem the client should see.

    `precondition_status` is 412 when the request carried If-Match (a stale version), else 409.
    """
    code = error.code()
    detail = error.details() or code.name.lower()
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        errors = _errors_from_rpc(error)
        if errors:
            return validation_problem(errors, detail.splitlines()[0] if not detail.startswith("[") else "Not valid")
        return Problem(400, detail)
    if code == grpc.StatusCode.NOT_FOUND:
        return Problem(404, detail)
    if code == grpc.StatusCode.ALREADY_EXISTS:
        return Problem(409, detail, kind="already-exists")
    if code == grpc.StatusCode.FAILED_PRECONDITION:
        if precondition_status == 412:
            return Problem(412, detail)
        return Problem(409, detail, kind="invalid-state")
    if code == grpc.StatusCode.ABORTED:
        return Problem(409, detail, kind="aborted")
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return Problem(401, "The token is missing, unknown, revoked or expired")
    if code == grpc.StatusCode.PERMISSION_DENIED:
        return Problem(403, detail)
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return Problem(429, detail)
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return unavailable_problem()
    log.error("backend call failed", extra={"fields": {"grpc_code": code.name, "detail": detail}})
    return Problem(502, "A backend service failed", kind="backend-error")


async def on_problem(request: Request, exc: Exception) -> JSONResponse:
    """Problem raised by a route or a dependency."""
    assert isinstance(exc, Problem)
    return problem_response(exc)


async def on_rpc_error(request: Request, exc: Exception) -> JSONResponse:
    """A peer service failed: one mapping for every route."""
    assert isinstance(exc, grpc.aio.AioRpcError)
    precondition = 412 if getattr(request.state, "if_match", False) else 409
    return problem_response(problem_from_rpc(exc, precondition_status=precondition))


async def on_request_validation(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's own request validation, as problem+json with pointers like /body/parameters."""
    assert isinstance(exc, RequestValidationError)
    errors = [{"pointer": pointer(*item.get("loc", ())), "message": str(item.get("msg", ""))} for item in exc.errors()]
    return problem_response(validation_problem(errors))


async def on_http_exception(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's 404/405/... as problem+json."""
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(status).phrase
    return problem_response(Problem(status, detail, headers=dict(exc.headers or {})))
