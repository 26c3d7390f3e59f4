"""What a designer needs before drawing: step types, templates, the workflow JSON Schema."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from vwmp_common.schemas import workflow_schema
from vwmp_proto.engine.v1 import engine_pb2

from vwmp_gateway import convert
from vwmp_gateway.deps import EngineClient
from vwmp_gateway.models import Page, PluginHostPublic, StepTypePublic, TemplatePublic

router = APIRouter(tags=["catalog"])


@router.get("/step-types")
async def list_step_types(engine: EngineClient) -> Page[StepTypePublic]:
    """The palette: built-in step types and those announced by live plugin hosts."""
    response = await engine.ListStepTypes(engine_pb2.ListStepTypesRequest())
    items = [convert.step_type(item) for item in response.step_types]
    return Page(items=items, total=len(items))


@router.get("/plugin-hosts")
async def list_plugin_hosts(engine: EngineClient) -> Page[PluginHostPublic]:
    """The plugin hosts the platform sees, with the step types each offers: a host that is missing here
    announced itself to another NATS, or its heartbeat stopped."""
    response = await engine.ListPluginHosts(engine_pb2.ListPluginHostsRequest())
    items = [convert.plugin_host(item) for item in response.hosts]
    return Page(items=items, total=len(items))


@router.get("/templates")
async def list_templates(engine: EngineClient) -> Page[TemplatePublic]:
    """Workflow templates offered by workflow-type plugins."""
    response = await engine.ListTemplates(engine_pb2.ListTemplatesRequest())
    items = [convert.template(item) for item in response.templates]
    return Page(items=items, total=len(items))


@router.get("/schemas/workflow")
async def get_workflow_schema() -> dict[str, Any]:
    """The published JSON Schema of a workflow definition."""
    return workflow_schema()
