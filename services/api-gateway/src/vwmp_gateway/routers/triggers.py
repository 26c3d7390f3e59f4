"""The triggers of a workflow: their next fire time, last fire and error; pause and resume."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Path, Request
from vwmp_common.timeutil import from_timestamp, iso
from vwmp_common.triggers import TriggerKind
from vwmp_proto.engine.v1 import engine_pb2
from vwmp_proto.storage.v1 import storage_pb2

from vwmp_gateway.deps import CurrentUser, EngineClient, StorageClient
from vwmp_gateway.models import Page, TriggerPublic
from vwmp_gateway.problems import Problem
from vwmp_gateway.rbac import API
from vwmp_gateway.routers.workflows import WorkflowName

router = APIRouter(prefix="/workflows", tags=["triggers"])

TRIGGER_ID_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]{0,63}$"  # as in the published workflow schema
TriggerId = Annotated[str, Path(pattern=TRIGGER_ID_PATTERN, description="The trigger's id in spec.triggers")]


def _trigger(workflow: str, message: engine_pb2.Trigger) -> TriggerPublic:
    state = message.state
    return TriggerPublic(
        id=message.id, kind=TriggerKind(message.kind), definition=json.loads(message.spec_json or "{}"),
        next_fire_at=iso(from_timestamp(message.next_fire_at)) or None,
        last_fire_at=iso(from_timestamp(state.last_fire_at)) or None,
        last_run_id=state.last_run_id or None, last_error=state.last_error or None,
        paused=state.paused, paused_by=state.paused_by or None,
        webhook_url=f"{API}/hooks/{workflow}/{message.id}" if message.kind == TriggerKind.WEBHOOK else None,
    )


async def _listed(engine: EngineClient, name: str) -> list[TriggerPublic]:
    found = await engine.ListTriggers(engine_pb2.ListTriggersRequest(workflow=name))
    return [_trigger(name, trigger) for trigger in found.triggers]


@router.get("/{name}/triggers")
async def list_triggers(name: WorkflowName, engine: EngineClient) -> Page[TriggerPublic]:
    """The triggers of the latest version, each with its next fire time, last fire and last error."""
    items = await _listed(engine, name)
    return Page(items=items, total=len(items))


async def _set_paused(request: Request, name: str, trigger_id: str, paused: bool, actor: str,
                      engine: EngineClient, storage: StorageClient) -> TriggerPublic:
    request.state.audit_target = f"workflows/{name}/triggers/{trigger_id}"
    if not any(t.id == trigger_id for t in await _listed(engine, name)):
        raise Problem(404, f"workflow {name!r} has no trigger {trigger_id!r}")
    await storage.PauseTrigger(storage_pb2.PauseTriggerRequest(workflow=name, trigger_id=trigger_id, paused=paused,
                                                               actor=actor))
    return next(t for t in await _listed(engine, name) if t.id == trigger_id)


@router.post("/{name}/triggers/{trigger_id}/pause")
async def pause_trigger(name: WorkflowName, trigger_id: TriggerId, request: Request, user: CurrentUser,
                        engine: EngineClient, storage: StorageClient) -> TriggerPublic:
    """Pause a trigger: no tick, delivery or run end starts a run until it is resumed."""
    return await _set_paused(request, name, trigger_id, True, user.name, engine, storage)


@router.post("/{name}/triggers/{trigger_id}/resume")
async def resume_trigger(name: WorkflowName, trigger_id: TriggerId, request: Request, user: CurrentUser,
                         engine: EngineClient, storage: StorageClient) -> TriggerPublic:
    """Resume a trigger; a schedule starts again from its next tick (the paused ticks are not caught up)."""
    return await _set_paused(request, name, trigger_id, False, user.name, engine, storage)
