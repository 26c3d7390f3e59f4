"""Workflow definitions: immutable versions, created from JSON or YAML."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Path, Request, Response, status
from starlette.concurrency import run_in_threadpool
from vwmp_proto.engine.v1 import engine_pb2
from vwmp_proto.storage.v1 import storage_pb2

from vwmp_gateway import convert
from vwmp_gateway.deps import CurrentUser, EngineClient, StorageClient
from vwmp_gateway.documents import load_document
from vwmp_gateway.hardening import check_definition, check_values, definition_problems
from vwmp_gateway.models import Page, RunCreate, RunPublic, ValidationPublic, WorkflowPublic
from vwmp_gateway.problems import Problem, validation_problem

router = APIRouter(prefix="/workflows", tags=["workflows"])

NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,62}$"  # as in the published workflow schema
NAME_RULE = "required: lower-case letters, digits, '.', '_' and '-'; at most 63"
WorkflowName = Annotated[str, Path(pattern=NAME_PATTERN, description="Workflow name (metadata.name)")]
# 1-255 visible ASCII characters but '"' and '\\', bare (Stripe) or as a structured-field string (IETF draft).
IDEMPOTENCY_KEY_PATTERN = r'^(?:"[!#-\[\]-~]{1,255}"|[!#-\[\]-~]{1,255})$'
IDEMPOTENCY_KEY_POINTER = "/header/Idempotency-Key"
IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", pattern=IDEMPOTENCY_KEY_PATTERN,
    description="A key of the client's choice: a retry with it within 24 h returns the run it started "
                "(Idempotent-Replayed: true) instead of starting another; with a different body it is a 422",
)]

# The body is read raw (JSON or YAML, by Content-Type); this tells OpenAPI what it may be. Either way it
# is the published workflow schema (contract.py turns it into the WorkflowDefinition components).
EXAMPLE_DEFINITION: dict[str, Any] = {
    "apiVersion": "vwmp/v1", "kind": "Workflow", "metadata": {"name": "hello"},
    "spec": {"steps": [{"id": "start", "uses": "core/noop"}]},
}


def _document_body(schema: dict[str, Any], example: dict[str, Any] | None = None) -> dict[str, Any]:
    media = {"schema": schema, **({"example": example} if example else {})}
    return {"requestBody": {"required": True, "content": {"application/json": media, "application/yaml": media}}}


DEFINITION_BODY = _document_body({"$ref": "#/components/schemas/WorkflowDefinition"}, EXAMPLE_DEFINITION)
# Validation reports what is wrong with any object (200, valid: false), so any object is a valid request.
ANY_DOCUMENT_BODY = _document_body({"type": "object", "additionalProperties": True,
                                    "description": "A workflow definition to check, however wrong"},
                                   EXAMPLE_DEFINITION)
IF_MATCH_VERSION = r'^(?:W/)?"?[1-9][0-9]{0,8}"?$'
IfMatchVersion = Annotated[str | None, Header(
    json_schema_extra={"pattern": IF_MATCH_VERSION}, description='Expected latest version, e.g. "3"; 412 when stale')]


async def _definition(request: Request) -> dict[str, Any]:
    """The body as a definition, parsed off the event loop: a large YAML body takes seconds to parse and
    must not hold up every other request meanwhile."""
    return await run_in_threadpool(load_document, await request.body(), request.headers.get("content-type"))


async def _checked_definition(request: Request) -> dict[str, Any]:
    definition = await _definition(request)
    check_definition(definition)
    return definition


def _name_of(definition: dict[str, Any]) -> str:
    metadata = definition.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if not isinstance(name, str) or not re.match(NAME_PATTERN, name):
        raise validation_problem(
            [{"pointer": "/metadata/name", "message": NAME_RULE}],
            "The definition has no valid metadata.name",
        )
    return name


async def _check(engine: EngineClient, definition: dict[str, Any]) -> str:
    """Validate with the engine; 422 with pointers when invalid. Returns the JSON text (compact, as storage
    keeps it, so the stored text can be recognised as the definition in hand)."""
    text = json.dumps(definition, ensure_ascii=False, separators=(",", ":"))
    result = await engine.ValidateWorkflow(engine_pb2.ValidateWorkflowRequest(definition_json=text))
    if not result.valid:
        raise validation_problem(
            [{"pointer": e.pointer, "message": e.message} for e in result.errors], "The definition is not valid"
        )
    return text


def _in_parameters(pointer: str) -> str:
    """Engine pointers are into the parameters; clients see pointers into the request body."""
    if pointer == "/parameters" or pointer.startswith("/parameters/"):
        return pointer
    return "/parameters" + pointer


def _start_problem(started: engine_pb2.StartRunResponse) -> Problem:
    """Why a start was refused: the parameters (422, pointers into the body), or the workflow itself.

    A workflow whose plugin step types no live host offers right now cannot start, however good the
    parameters: a 503 naming the steps, to retry when the host is back.
    """
    if started.unavailable:
        return Problem(503, "No live plugin host offers a step type this workflow uses; start it again once "
                            "the plugin host is back (GET /api/v1/step-types lists what is live)",
                       title="Plugin host unavailable", kind="plugin-host-unavailable",
                       errors=[{"pointer": e.pointer, "message": e.message} for e in started.unavailable],
                       headers={"Retry-After": "5"})
    definition = [e for e in started.errors if e.pointer.startswith("/spec/")]
    if definition:
        return validation_problem([{"pointer": e.pointer, "message": e.message} for e in definition],
                                  "The workflow cannot start")
    return validation_problem([{"pointer": _in_parameters(e.pointer), "message": e.message} for e in started.errors],
                              "The parameters are not valid")


def version_from_if_match(value: str, pattern: str = IF_MATCH_VERSION, what: str = "a workflow version") -> int:
    """The version in If-Match ("3", 3 or W/"3"); anything else is a 422 naming the header."""
    if not re.match(pattern, value):
        raise validation_problem([{"pointer": "/header/If-Match", "message": f'must be {what} number, e.g. "3"'}],
                                 "If-Match is not a version")
    return int(value.removeprefix("W/").strip('"'))


@router.post("/validate", openapi_extra=ANY_DOCUMENT_BODY)
async def validate_workflow(request: Request, engine: EngineClient) -> ValidationPublic:
    """Validate a definition (JSON or YAML) and list its errors with JSON pointers."""
    definition = await _definition(request)
    refused = definition_problems(definition)
    if refused:
        return ValidationPublic.model_validate({"valid": False, "errors": refused})
    result = await engine.ValidateWorkflow(engine_pb2.ValidateWorkflowRequest(definition_json=json.dumps(definition)))
    return ValidationPublic(valid=result.valid, errors=[convert.validation_error(e) for e in result.errors])


@router.get("")
async def list_workflows(storage: StorageClient) -> Page[WorkflowPublic]:
    """The latest version of every workflow that is not archived."""
    response = await storage.ListWorkflows(storage_pb2.ListWorkflowsRequest())
    items = [convert.workflow(item) for item in response.workflows]
    return Page(items=items, total=len(items))


@router.post("", status_code=status.HTTP_201_CREATED, openapi_extra=DEFINITION_BODY)
async def create_workflow(
    request: Request, response: Response, user: CurrentUser, storage: StorageClient, engine: EngineClient
) -> WorkflowPublic:
    """Create a workflow at version 1 (JSON, or YAML with Content-Type: application/yaml)."""
    definition = await _checked_definition(request)
    name = _name_of(definition)
    request.state.audit_target = f"workflows/{name}"
    text = await _check(engine, definition)
    created = await storage.CreateWorkflow(
        storage_pb2.CreateWorkflowRequest(name=name, definition_json=text, created_by=user.name)
    )
    response.headers["Location"] = f"/api/v1/workflows/{name}"
    response.headers["ETag"] = f'"{created.version}"'
    return convert.workflow(created, definition if created.definition_json == text else None)


@router.get("/{name}")
async def get_workflow(name: WorkflowName, response: Response, storage: StorageClient) -> WorkflowPublic:
    """The latest version of a workflow (its ETag is the version)."""
    found = await storage.GetWorkflow(storage_pb2.GetWorkflowRequest(name=name))
    response.headers["ETag"] = f'"{found.version}"'
    return convert.workflow(found)


@router.put("/{name}", openapi_extra=DEFINITION_BODY)
async def update_workflow(
    name: WorkflowName,
    request: Request,
    response: Response,
    user: CurrentUser,
    storage: StorageClient,
    engine: EngineClient,
    if_match: IfMatchVersion = None,
) -> WorkflowPublic:
    """Save a new immutable version (If-Match: <version> → 412 when someone saved in between)."""
    expected = version_from_if_match(if_match) if if_match is not None else 0
    request.state.if_match = bool(expected)
    definition = await _checked_definition(request)
    if _name_of(definition) != name:
        raise validation_problem([{"pointer": "/metadata/name", "message": f"must be {name!r} (the URL's name)"}])
    text = await _check(engine, definition)
    saved = await storage.PutWorkflow(
        storage_pb2.PutWorkflowRequest(name=name, definition_json=text, created_by=user.name, expected_version=expected)
    )
    response.headers["ETag"] = f'"{saved.version}"'
    return convert.workflow(saved, definition if saved.definition_json == text else None)


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
async def archive_workflow(name: WorkflowName, user: CurrentUser, storage: StorageClient) -> None:
    """Archive a workflow: hidden from the list; versions and runs are kept."""
    await storage.ArchiveWorkflow(storage_pb2.ArchiveWorkflowRequest(name=name, actor=user.name))


@router.get("/{name}/versions")
async def list_workflow_versions(name: WorkflowName, storage: StorageClient) -> Page[WorkflowPublic]:
    """Every version of a workflow, oldest first."""
    response = await storage.ListWorkflowVersions(storage_pb2.ListWorkflowVersionsRequest(name=name))
    items = [convert.workflow(item) for item in response.workflows]
    return Page(items=items, total=len(items))


@router.get("/{name}/versions/{version}")
async def get_workflow_version(
    name: WorkflowName, version: Annotated[int, Path(ge=1, le=2**31 - 1)], storage: StorageClient
) -> WorkflowPublic:
    """One version of a workflow."""
    found = await storage.GetWorkflow(storage_pb2.GetWorkflowRequest(name=name, version=version))
    return convert.workflow(found)


def _request_digest(body: RunCreate) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


@router.post(
    "/{name}/runs", status_code=status.HTTP_201_CREATED,
    responses={201: {"headers": {"Idempotent-Replayed": {
        "description": "true when an Idempotency-Key retry returned the run the first request started",
        "schema": {"type": "string", "enum": ["true"]}}}}},
)
async def start_run(
    name: WorkflowName,
    body: Annotated[RunCreate, Body()],
    response: Response,
    user: CurrentUser,
    engine: EngineClient,
    idempotency_key: IdempotencyKey = None,
) -> RunPublic:
    """Start a run; parameters are checked against the workflow's parameter schema (422 with pointers)."""
    check_values(body.parameters, "/parameters", "parameters")
    key = (idempotency_key or "").strip('"')
    digest = _request_digest(body) if key else ""
    started = await engine.StartRun(
        engine_pb2.StartRunRequest(
            workflow=name, version=body.version or 0, parameters_json=json.dumps(body.parameters),
            dry_run=body.dry_run, actor=user.name, idempotency_key=key, request_digest=digest,
        )
    )
    if started.run.replayed:
        if started.run.request_digest != digest:
            raise Problem(422, "This Idempotency-Key started a run with a different request; use a new key",
                          title="Idempotency key reused", kind="idempotency-key-reused",
                          errors=[{"pointer": IDEMPOTENCY_KEY_POINTER,
                                   "message": f"already used for run {started.run.id} with another body"}])
        response.headers["Idempotent-Replayed"] = "true"
    if started.HasField("conflict"):
        conflict = started.conflict
        raise Problem(409, conflict.detail, title="Concurrency conflict", kind="concurrency-conflict",
                      extra={"concurrency": {"key": conflict.key, "blocked_by": list(conflict.blocked_by)}})
    if started.errors or started.unavailable:
        raise _start_problem(started)
    response.headers["Location"] = f"/api/v1/runs/{started.run.id}"
    return convert.run(started.run)
