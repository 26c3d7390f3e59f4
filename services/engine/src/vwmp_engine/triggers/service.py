"""What the engine's gRPC handlers do for triggers, in domain terms (rpc.py only maps the errors)."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import grpc
from vwmp_common.schema_errors import SchemaProblem as Problem
from vwmp_common.timeutil import to_timestamp, utcnow
from vwmp_proto.common.v1 import common_pb2
from vwmp_proto.engine.v1 import engine_pb2

from vwmp_engine.runtime import EngineRuntime
from vwmp_engine.triggers.checks import completion_loop_problems
from vwmp_engine.triggers.records import TriggerState
from vwmp_engine.triggers.spec import ScheduleError, schedule_digest, triggers_of
from vwmp_engine.triggers.store import TriggerStore
from vwmp_engine.triggers.webhooks import SignatureRefused, UnknownWebhook, deliver


class WebhookRefused(Exception):
    """A delivery that is not accepted, with the status it answers."""

    def __init__(self, message: str, code: grpc.StatusCode) -> None:
        super().__init__(message)
        self.code = code


async def loop_problems(store: TriggerStore, definition: Any) -> list[Problem]:
    """Completion-trigger loops the definition would close with the other stored workflows."""
    spec = definition.get("spec") if isinstance(definition, dict) else None
    metadata = definition.get("metadata") if isinstance(definition, dict) else None
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if not isinstance(spec, dict) or not isinstance(name, str) or not spec.get("triggers"):
        return []
    others = {w.name: w.definition.get("spec") or {} for w in await store.workflows() if w.name != name}
    return completion_loop_problems(name, spec, others)


async def list_triggers(runtime: EngineRuntime, store: TriggerStore, name: str) -> engine_pb2.ListTriggersResponse:
    """The triggers of the latest version with their state and, for schedules, the next fire time."""
    workflow = await runtime.store.get_workflow(name)
    states = await store.states(name)
    now = utcnow()
    found = []
    entries = {entry.get("id"): entry for entry in workflow.definition.get("spec", {}).get("triggers") or []}
    for spec in triggers_of(workflow.definition):
        state = states.get((name, spec.id)) or TriggerState.none_yet(name, spec.id)
        trigger = engine_pb2.Trigger(id=spec.id, kind=spec.kind, spec_json=json.dumps(entries.get(spec.id, {})),
                                     state=state.message)
        if spec.schedule is not None and not state.paused:
            current = state.digest == schedule_digest(workflow.version, spec) and state.next_fire_at is not None
            with contextlib.suppress(ScheduleError):
                trigger.next_fire_at.CopyFrom(to_timestamp(
                    state.next_fire_at if current else spec.schedule.next_after(now)))
        found.append(trigger)
    return engine_pb2.ListTriggersResponse(triggers=found)


async def deliver_webhook(runtime: EngineRuntime, store: TriggerStore,
                          request: engine_pb2.DeliverWebhookRequest) -> engine_pb2.DeliverWebhookResponse:
    """Verify and act on one delivery; WebhookRefused for an unknown trigger or a bad signature."""
    workflow = await runtime.store.get_workflow(request.workflow)
    headers = {header.name.lower(): header.value for header in request.headers}
    try:
        delivery = await deliver(runtime, store, workflow, request.trigger_id, headers, request.body)
    except UnknownWebhook as unknown:
        raise WebhookRefused(str(unknown), grpc.StatusCode.NOT_FOUND) from None
    except SignatureRefused as refused:
        raise WebhookRefused(str(refused), grpc.StatusCode.UNAUTHENTICATED) from None
    answer = engine_pb2.DeliverWebhookResponse(filtered=delivery.filtered, replayed=delivery.replayed)
    started = delivery.started
    if started is None:
        return answer
    if started.run is not None:
        answer.run.CopyFrom(started.run.message)
    elif started.conflict is not None:
        answer.conflict.CopyFrom(engine_pb2.ConcurrencyConflict(
            key=started.conflict.key, blocked_by=started.conflict.blocked_by, detail=str(started.conflict)))
    else:
        answer.errors.extend(common_pb2.ValidationError(pointer=p.pointer, message=p.message)
                             for p in started.problems)
    return answer
