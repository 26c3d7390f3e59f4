"""Platform configuration: a schema-validated, versioned document of defaults."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response
from vwmp_common import schemas
from vwmp_proto.storage.v1 import storage_pb2

from vwmp_gateway import convert
from vwmp_gateway.deps import CurrentUser, StorageClient
from vwmp_gateway.hardening import check_values
from vwmp_gateway.models import ConfigPublic, ConfigUpdate
from vwmp_gateway.routers.workflows import version_from_if_match

router = APIRouter(prefix="/config", tags=["config"])
CONFIG_IF_MATCH = r'^(?:W/)?"?[0-9]{1,9}"?$'  # version 0: the built-in defaults


def config_schema() -> dict[str, Any]:
    """The configuration JSON Schema, published by vwmp_common (storage validates with the same one)."""
    return schemas.config_schema()


@router.get("")
async def get_config(response: Response, storage: StorageClient) -> ConfigPublic:
    """The current configuration (version 0: built-in defaults)."""
    document = await storage.GetConfig(storage_pb2.GetConfigRequest())
    response.headers["ETag"] = f'"{document.version}"'
    return convert.config(document)


@router.get("/schema")
async def get_config_schema() -> dict[str, Any]:
    """The JSON Schema the configuration document must match."""
    return config_schema()


@router.put("")
async def update_config(
    body: ConfigUpdate,
    request: Request,
    response: Response,
    user: CurrentUser,
    storage: StorageClient,
    if_match: Annotated[str | None, Header(json_schema_extra={"pattern": CONFIG_IF_MATCH},
                                           description='Expected current version, e.g. "3"; 412 when stale')] = None,
) -> ConfigPublic:
    """Store a new version of the configuration (admin)."""
    check_values(body.document, "/document", "configuration")
    expected = 0
    if if_match is not None:
        expected = version_from_if_match(if_match, CONFIG_IF_MATCH, "a configuration version")
        request.state.if_match = True
    saved = await storage.PutConfig(
        storage_pb2.PutConfigRequest(document_json=json.dumps(body.document), actor=user.name,
                                     expected_version=expected)
    )
    response.headers["ETag"] = f'"{saved.version}"'
    return convert.config(saved)
