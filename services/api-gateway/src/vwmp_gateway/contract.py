"""The OpenAPI contract in one place: which problem+json answers each route really gives, the bearer
security scheme, the links between operations, the schemas of free JSON, and the 405 with its Allow.

Generated clients (the designer's schema.d.ts among them) and `schemathesis run --checks all` rely on
the document telling the truth, so the error statuses are derived from what the code does to every
request of a route (middleware, authorization, validation, the gRPC mapping in problems.py) rather than
written by hand next to each route, where they drift.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from vwmp_common.schemas import config_schema, workflow_schema

from vwmp_gateway.hardening import MAX_PARAMETER_DEPTH, SAFE_TEXT_PATTERN
from vwmp_gateway.problems import PROBLEM_JSON, RETRY_AFTER_HEADER, Problem, on_http_exception, problem_response
from vwmp_gateway.rbac import Rule, rule_for

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
SAFE_JSON_OBJECT_REF = "#/components/schemas/SafeJsonObject"
BEARER = "bearerAuth"
METHODS = ("get", "put", "post", "delete", "patch", "options", "head", "trace")

# Why each status can be given; which routes give it is decided by `statuses_of`.
DESCRIPTIONS: dict[int, str] = {
    400: "The URL path or query holds a control or bidi character, or the body cannot be parsed",
    401: "No valid token (missing, unknown, revoked or expired)",
    403: "The token's role may not do this",
    404: "No such resource (or the resource the request names does not exist)",
    409: "The resource's state does not allow this now (already exists, not in a state for it, conflict)",
    412: "If-Match names a version that is no longer the latest",
    413: "The request body is larger than the gateway accepts",
    422: "Validation failed: `errors` points at each field (RFC 6901 pointers)",
    429: "Rate limit: try again after Retry-After seconds",
    503: "A backend service (or, to start a run, a plugin host) is unavailable: try again after Retry-After",
}
RETRY_AFTER = RETRY_AFTER_HEADER

# Operations that change state in place (not creations of something new) can meet a state that forbids them.
_NO_CONFLICT = frozenset({"token.revoke", "workflow.validate"})


def _problem(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {"description": DESCRIPTIONS[status], "content": {PROBLEM_JSON: {"schema": PROBLEM_REF}}}
    if status in (429, 503):
        response["headers"] = RETRY_AFTER
    return response


def statuses_of(path: str, method: str, operation: dict[str, Any], rule: Rule) -> list[int]:
    """The problem statuses one operation can answer with, from what the gateway does to its requests."""
    parameters = operation.get("parameters") or []
    has_body = "requestBody" in operation
    authenticated = rule.role is not None
    webhook = rule.action == "webhook.deliver"
    statuses = {400}  # RefuseHostilePaths looks at every URL; a body that is not JSON is 400 too
    if authenticated:
        statuses |= {401, 403, 429}
    if webhook:
        statuses |= {401, 429}  # the forge's signature; a limit per trigger
    if "{" in path:
        statuses.add(404)
    if rule.mutating and rule.action not in _NO_CONFLICT:
        statuses.add(409)
    if any(p.get("in") == "header" and p.get("name", "").lower() == "if-match" for p in parameters):
        statuses.add(412)
    if has_body:
        statuses.add(413)
    if parameters or has_body:
        statuses.add(422)
    if authenticated or webhook:
        statuses.add(503)  # every token is checked with storage; most routes call storage or the engine
    return sorted(statuses)


def _declare_responses(paths: dict[str, Any]) -> None:
    for path, operations in paths.items():
        for method, operation in operations.items():
            if method not in METHODS:
                continue
            rule = rule_for(method, path)
            responses: dict[str, Any] = operation.setdefault("responses", {})
            for status in statuses_of(path, method, operation, rule):
                declared = responses.get(str(status)) or {}
                if PROBLEM_JSON not in declared.get("content", {}):  # FastAPI's 422 says application/json
                    own = {"description": declared["description"]} if "content" not in declared and declared else {}
                    responses[str(status)] = {**_problem(status), **own}  # a route's own description is kept
            operation["responses"] = dict(sorted(responses.items()))
            operation["security"] = [{BEARER: []}] if rule.role is not None else []


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details; some kinds add members (plan, plan_digest, concurrency)",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"}, "instance": {"type": "string"},
        "errors": {"type": "array", "items": {"$ref": "#/components/schemas/ValidationErrorPublic"}},
    },
}
SAFE_STRING: dict[str, Any] = {"type": "string", "pattern": SAFE_TEXT_PATTERN}
SAFE_SCHEMAS: dict[str, Any] = {
    "SafeJsonObject": {
        "type": "object",
        "description": "A JSON object whose keys and strings hold no control or bidi character (tab, line feed and "
                       f"carriage return are fine), nested at most {MAX_PARAMETER_DEPTH} levels",
        "propertyNames": {"pattern": SAFE_TEXT_PATTERN},
        "additionalProperties": {"$ref": "#/components/schemas/SafeJsonValue"},
    },
    "SafeJsonValue": {
        "description": "A JSON value of a SafeJsonObject",
        "anyOf": [
            SAFE_STRING, {"type": "number"}, {"type": "boolean"}, {"type": "null"},
            {"type": "array", "items": {"$ref": "#/components/schemas/SafeJsonValue"}},
            {"$ref": SAFE_JSON_OBJECT_REF},
        ],
    },
}


def safe_schema(schema: Any, name: str) -> Any:
    """A published JSON Schema as an OpenAPI component: strings without a pattern get the safe-text one,
    free objects become SafeJsonObject, `$defs` references point into components (as `{name}_{def}`)."""
    if isinstance(schema, list):
        return [safe_schema(item, name) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: safe_schema(value, name) for key, value in schema.items()
           if key not in ("$schema", "$id", "$defs")}
    ref = out.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        out["$ref"] = f"#/components/schemas/{name}_{ref.removeprefix('#/$defs/')}"
    if out.get("type") == "string" and "pattern" not in out and "enum" not in out and "format" not in out:
        out["pattern"] = SAFE_TEXT_PATTERN
    if out.get("type") == "object" and not ({"properties", "additionalProperties", "$ref", "propertyNames"} & set(out)):
        return {"$ref": SAFE_JSON_OBJECT_REF, **({"description": out["description"]} if "description" in out else {})}
    return out


def published_components(schema: dict[str, Any], name: str) -> dict[str, Any]:
    """The component `name` and one `{name}_{def}` per entry of the schema's `$defs`."""
    components = {name: safe_schema(schema, name)}
    for key, definition in (schema.get("$defs") or {}).items():
        components[f"{name}_{key}"] = safe_schema(definition, name)
    return components


# Links feed schemathesis' stateful phase (and document the API): what a created resource is called next.
_WORKFLOW = {"name": "$response.body#/name"}
_RUN = {"run_id": "$response.body#/id"}
LINKS: dict[tuple[str, str, str], dict[str, tuple[str, dict[str, str]]]] = {
    ("/api/v1/workflows", "post", "201"): {
        "GetWorkflow": ("workflows-get_workflow", _WORKFLOW),
        "ListVersions": ("workflows-list_workflow_versions", _WORKFLOW),
        "ListTriggers": ("triggers-list_triggers", _WORKFLOW),
        "StartRun": ("workflows-start_run", _WORKFLOW),
        "ArchiveWorkflow": ("workflows-archive_workflow", _WORKFLOW),
    },
    ("/api/v1/workflows/{name}/runs", "post", "201"): {
        "GetRun": ("runs-get_run", _RUN),
        "ListRunEvents": ("runs-list_run_events", _RUN),
        "CancelRun": ("runs-cancel_run", _RUN),
        "PauseRun": ("runs-pause_run", _RUN),
        "RetryRun": ("runs-retry_run", _RUN),
    },
    ("/api/v1/tokens", "post", "201"): {
        "RevokeToken": ("tokens-revoke_token", {"token_id": "$response.body#/id"}),
    },
}


def _not_nullable(paths: dict[str, Any]) -> None:
    """A query or header parameter is left out, never sent as null: FastAPI's `str | None` says `anyOf
    [string, null]`, which makes clients (and schemathesis) send the text "null"."""
    for operations in paths.values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []) if isinstance(operation, dict) else []:
                schema = parameter.get("schema", {})
                choices = [choice for choice in schema.get("anyOf", []) if choice.get("type") != "null"]
                if "anyOf" in schema and len(choices) == 1:
                    rest = {key: value for key, value in schema.items() if key != "anyOf"}
                    parameter["schema"] = {**choices[0], **rest}


def _declare_links(paths: dict[str, Any]) -> None:
    for (path, method, status), links in LINKS.items():
        response = paths[path][method]["responses"][status]
        response["links"] = {name: {"operationId": operation, "parameters": parameters}
                             for name, (operation, parameters) in links.items()}


def complete(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the error responses, security, links and shared schemas to FastAPI's document (in place)."""
    paths: dict[str, Any] = schema.get("paths", {})
    _declare_responses(paths)
    _not_nullable(paths)
    _declare_links(paths)
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):  # FastAPI's 422 body, replaced by Problem
        schemas.pop(unused, None)
    schemas.update(SAFE_SCHEMAS)
    schemas.update(published_components(workflow_schema(), "WorkflowDefinition"))
    schemas.update(published_components(config_schema(), "ConfigDocument"))
    schemas["Problem"] = PROBLEM_SCHEMA
    components["securitySchemes"] = {BEARER: {
        "type": "http", "scheme": "bearer",
        "description": "An API token (`vwmp_...`), created with POST /api/v1/tokens or `vwmp token create`",
    }}
    return schema


def _template_pattern(path: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path)) + "$")


class AllowedMethods:
    """The methods the document lists for a concrete path: the `Allow` of a 405 names all of them,
    where Starlette's router names only those of the first route whose path matched."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self._paths = [
            (_template_pattern(path), -path.count("{"), sorted(m.upper() for m in operations if m in METHODS))
            for path, operations in schema.get("paths", {}).items()
        ]

    def of(self, path: str) -> list[str]:
        """The methods of the most specific matching path (`/workflows/validate` before `/workflows/{name}`)."""
        matching = [(specificity, listed) for pattern, specificity, listed in self._paths if pattern.match(path)]
        return max(matching)[1] if matching else []


async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's errors as problem+json; a 405 with the `Allow` the OpenAPI paths give."""
    assert isinstance(exc, StarletteHTTPException)
    allowed: AllowedMethods | None = getattr(request.app.state, "allowed_methods", None)
    if exc.status_code == 405 and allowed is not None:
        methods = allowed.of(request.url.path)
        if methods:
            return problem_response(Problem(
                405, f"{request.method} is not allowed here; use {', '.join(methods)}",
                headers={"Allow": ", ".join(methods)}))
    return await on_http_exception(request, exc)
