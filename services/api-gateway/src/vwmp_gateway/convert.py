"""Proto messages → API models: JSON text decoded, unset timestamps and empty ids become null.

States and event types travel as proto enum numbers and become their `StrEnum` members here (a
number outside the vocabulary fails loudly instead of reaching a client); roles travel as text.
Timestamps travel as `google.protobuf.Timestamp` and become RFC 3339 text here, with `iso`'s
millisecond precision and "Z": the one place the API's time format is made.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from typing import Any, Literal

from google.protobuf.timestamp_pb2 import Timestamp
from vwmp_common.states import EventType, RunState, StepState
from vwmp_common.timeutil import from_timestamp, iso
from vwmp_common.triggers import TriggerKind
from vwmp_proto.common.v1 import common_pb2, states_pb2
from vwmp_proto.engine.v1 import engine_pb2
from vwmp_proto.events.v1 import events_pb2
from vwmp_proto.storage.v1 import storage_pb2

from vwmp_gateway.models import (
    AuditPublic,
    ConcurrencyPublic,
    ConfigPublic,
    EventPublic,
    LogLinePublic,
    PluginHostPublic,
    RunParentPublic,
    RunPublic,
    RunTriggerPublic,
    StepRunPublic,
    StepTypePublic,
    TemplatePublic,
    TokenPublic,
    ValidationErrorPublic,
    WorkflowPublic,
)
from vwmp_gateway.rbac import Role


def _obj(text: str) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {"value": value}


def _opt(text: str) -> str | None:
    return text or None


def _time(stamp: Timestamp) -> str | None:
    return iso(from_timestamp(stamp)) or None


def workflow(message: storage_pb2.Workflow, definition: dict[str, Any] | None = None) -> WorkflowPublic:
    """A stored workflow; `definition` is its definition already parsed (the text storage kept is the one sent)."""
    return WorkflowPublic(
        name=message.name,
        version=message.version,
        definition=definition if definition is not None else _obj(message.definition_json),
        created_at=_time(message.created_at),
        created_by=message.created_by,
    )


def step_run(message: storage_pb2.StepRun) -> StepRunPublic:
    return StepRunPublic(
        id=message.id,
        uses=message.uses,
        state=StepState.from_number(message.state),
        attempt=message.attempt,
        outputs=_obj(message.outputs_json),
        error=_opt(message.error),
        started_at=_time(message.started_at),
        finished_at=_time(message.finished_at),
        parent=message.parent or None,
        item_index=message.item_index if message.parent else None,
        compensation=_compensation(message),
    )


COMPENSATION_FAILED = "compensation failed: "  # the engine's prefix of a failed compensation's error


def _compensation(message: storage_pb2.StepRun) -> Literal["compensated", "failed"] | None:
    if message.state == states_pb2.STEP_STATE_COMPENSATED:
        return "compensated"
    if message.state == states_pb2.STEP_STATE_SUCCEEDED and message.error.startswith(COMPENSATION_FAILED):
        return "failed"
    return None


def _compensated(value: str) -> bool | Literal["partial"] | None:
    return True if value == "true" else "partial" if value == "partial" else None


def run(message: storage_pb2.Run) -> RunPublic:
    return RunPublic(
        id=message.id,
        workflow=message.workflow,
        version=message.version,
        state=RunState.from_number(message.state),
        parameters=_obj(message.parameters_json),
        dry_run=message.dry_run,
        created_by=message.created_by,
        created_at=_time(message.created_at),
        started_at=_time(message.started_at),
        finished_at=_time(message.finished_at),
        steps=[step_run(step) for step in message.steps],
        step_counts=dict(message.step_counts) if message.step_counts else _counts(message.steps),
        concurrency=concurrency(message.concurrency) if message.HasField("concurrency") else None,
        outputs=_obj(message.outputs_json),
        parent=RunParentPublic(run_id=message.parent.run_id, step_id=message.parent.step_id)
        if message.HasField("parent") else None,
        finalizing=RunState.from_number(message.finalizing) if message.finalizing else None,
        compensated=_compensated(message.compensated),
        trigger=run_trigger(message),
    )


def _counts(steps: Iterable[storage_pb2.StepRun]) -> dict[str, int]:
    """Steps per state, from the steps themselves (storage counts them when it does not send them all)."""
    counted = Counter(step.state for step in steps)
    return {StepState.from_number(state).value: count for state, count in counted.items()}


def run_trigger(message: storage_pb2.Run) -> RunTriggerPublic:
    """How a run was started; a run stored before triggers existed is manual, at its creation."""
    trigger = message.trigger
    if not message.HasField("trigger") or not trigger.kind:
        return RunTriggerPublic(id=None, kind=TriggerKind.MANUAL, at=_time(message.created_at))
    return RunTriggerPublic(id=trigger.id or None, kind=TriggerKind(trigger.kind), at=_time(trigger.at),
                            delivery=trigger.delivery or None, run_id=trigger.run_id or None)


def concurrency(message: storage_pb2.RunConcurrency) -> ConcurrencyPublic:
    return ConcurrencyPublic(
        key=message.key,
        limit=message.limit,
        on_conflict=message.on_conflict or "queue",  # storage checks the vocabulary
        position=message.position,
        blocked_by=list(message.blocked_by),
    )


def event(message: events_pb2.Event) -> EventPublic:
    return EventPublic(
        seq=message.seq,
        run_id=message.run_id,
        type=EventType.from_number(message.type),
        step_id=_opt(message.step_id),
        attempt=message.attempt,
        at=_time(message.at),
        data=_obj(message.data_json),
    )


def log_line(message: storage_pb2.LogLine) -> LogLinePublic:
    return LogLinePublic(
        step_id=message.step_id,
        attempt=message.attempt,
        at=_time(message.at),
        stream=message.stream,
        line=message.line,
    )


def validation_error(message: common_pb2.ValidationError) -> ValidationErrorPublic:
    return ValidationErrorPublic(pointer=message.pointer, message=message.message)


def step_type(message: common_pb2.StepType) -> StepTypePublic:
    return StepTypePublic(
        type=message.type,
        plugin=message.plugin,
        title=message.title,
        description=message.description,
        config_schema=_obj(message.config_schema_json),
        outputs_schema=_obj(message.outputs_schema_json),
        icon=message.icon or None,
        effects=message.effects or "remote",
    )


def plugin_host(message: engine_pb2.PluginHost) -> PluginHostPublic:
    return PluginHostPublic(id=message.host_id, address=message.address, plugins=list(message.plugins),
                            step_types=list(message.step_types), last_seen=_time(message.last_seen))


def template(message: common_pb2.Template) -> TemplatePublic:
    return TemplatePublic(
        name=message.name,
        plugin=message.plugin,
        workflow_type=message.workflow_type,
        title=message.title,
        description=message.description,
        definition=_obj(message.definition_json),
    )


def token(message: storage_pb2.Token) -> TokenPublic:
    return TokenPublic(
        id=message.id,
        name=message.name,
        role=Role(message.role),
        created_at=_time(message.created_at),
        expires_at=_time(message.expires_at),
        revoked_at=_time(message.revoked_at),
        created_by=message.created_by,
    )


def config(message: storage_pb2.ConfigDocument) -> ConfigPublic:
    return ConfigPublic(
        version=message.version,
        document=_obj(message.document_json),
        updated_at=_time(message.updated_at),
        updated_by=message.updated_by,
    )


def audit(message: storage_pb2.AuditEntry) -> AuditPublic:
    return AuditPublic(
        at=_time(message.at),
        actor=message.actor,
        action=message.action,
        target=message.target,
        outcome=message.outcome,
    )
