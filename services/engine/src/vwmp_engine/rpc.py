"""EngineService: thin gRPC handlers that check the request, delegate, and map errors to status codes."""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from typing import Any, NoReturn

import grpc
from vwmp_common import rpc_metadata
from vwmp_common.schema_errors import SchemaProblem as Problem
from vwmp_common.states import ControlAction
from vwmp_common.timeutil import to_timestamp, utcnow
from vwmp_proto.common.v1 import common_pb2
from vwmp_proto.engine.v1 import engine_pb2, engine_pb2_grpc
from vwmp_proto.storage.v1 import storage_pb2

from vwmp_engine.approval import Decision
from vwmp_engine.controls import Controls, OwnerUnreachable, RunNotFound
from vwmp_engine.leases import LeaseKeeper
from vwmp_engine.plugin_rules import plugin_rule_problems
from vwmp_engine.registry import StepTypeRegistry
from vwmp_engine.run_state import ControlRefused, DecisionDenied, InputsInvalid, PlanChanged
from vwmp_engine.starting import start_run
from vwmp_engine.step_types import StepTypeInfo
from vwmp_engine.store import StorageError
from vwmp_engine.sub_workflows import step_type_info
from vwmp_engine.triggers import service as triggers_service
from vwmp_engine.triggers.store import TriggerStore
from vwmp_engine.validation import validate_definition
from vwmp_engine.workflow_calls import CallGraph

log = logging.getLogger(__name__)


def _errors(problems: list[Problem]) -> list[common_pb2.ValidationError]:
    return [common_pb2.ValidationError(pointer=p.pointer, message=p.message) for p in problems]


class EngineService(engine_pb2_grpc.EngineServiceServicer):
    """The engine's gRPC surface, used by the gateway."""

    def __init__(self, registry: StepTypeRegistry, keeper: LeaseKeeper, controls: Controls,
                 triggers: TriggerStore) -> None:
        self.registry = registry
        self.keeper = keeper
        self.controls = controls
        self.triggers = triggers

    async def ValidateWorkflow(self, request: engine_pb2.ValidateWorkflowRequest,
                               context: grpc.aio.ServicerContext[Any, Any]) -> engine_pb2.ValidateWorkflowResponse:
        try:
            definition = json.loads(request.definition_json)
        except ValueError as error:
            return engine_pb2.ValidateWorkflowResponse(
                valid=False, errors=_errors([Problem("", f"not valid JSON: {error}")]))
        store = self.keeper.runtime.store
        defaults = (await store.platform_config()).get("step_defaults") or {}
        calls = await CallGraph.load(store, definition)
        problems = validate_definition(definition, calls.step_type(self.registry.get), defaults)
        problems += [problem for problem in calls.problems() if problem not in problems]
        problems += await triggers_service.loop_problems(self.triggers, definition)
        problems += await plugin_rule_problems(definition, self.registry.hosts_for, defaults, problems)
        return engine_pb2.ValidateWorkflowResponse(valid=not problems, errors=_errors(problems))

    async def ListTriggers(self, request: engine_pb2.ListTriggersRequest,
                           context: grpc.aio.ServicerContext[Any, Any]) -> engine_pb2.ListTriggersResponse:
        try:
            return await triggers_service.list_triggers(self.keeper.runtime, self.triggers, request.workflow)
        except StorageError as error:
            await _abort(context, error.code, str(error) or "workflow not found")

    async def DeliverWebhook(self, request: engine_pb2.DeliverWebhookRequest,
                             context: grpc.aio.ServicerContext[Any, Any]) -> engine_pb2.DeliverWebhookResponse:
        try:
            answer = await triggers_service.deliver_webhook(self.keeper.runtime, self.triggers, request)
        except triggers_service.WebhookRefused as refused:
            await _abort(context, refused.code, str(refused))
        except StorageError as error:
            await _abort(context, error.code, str(error) or "workflow not found")
        if answer.HasField("run") and not answer.replayed:
            self.keeper.wake()
        return answer

    async def ListStepTypes(self, request: engine_pb2.ListStepTypesRequest,
                            context: grpc.aio.ServicerContext[Any, Any]) -> engine_pb2.ListStepTypesResponse:
        return engine_pb2.ListStepTypesResponse(step_types=[
            common_pb2.StepType(type=info.type, plugin=info.plugin, title=info.title, description=info.description,
                                config_schema_json=json.dumps(info.config_schema),
                                outputs_schema_json=json.dumps(info.outputs_schema), icon=info.icon,
                                effects=info.effects)
            for info in [*self.registry.all(), *await self._sub_workflow_types()]
        ])

    async def ListPluginHosts(self, request: engine_pb2.ListPluginHostsRequest,
                              context: grpc.aio.ServicerContext[Any, Any]) -> engine_pb2.ListPluginHostsResponse:
        now, wall = time.monotonic(), utcnow()
        return engine_pb2.ListPluginHostsResponse(hosts=[
            engine_pb2.PluginHost(
                host_id=host.host_id, address=host.address,
                plugins=sorted({info.plugin for info in host.step_types.values()}),
                step_types=sorted(host.step_types),
                last_seen=to_timestamp(wall - dt.timedelta(seconds=now - host.seen_at)))
            for host in sorted(self.registry.live_hosts(), key=lambda host: host.host_id)
        ])

    async def _sub_workflow_types(self) -> list[StepTypeInfo]:
        """`workflow/<name>` for every stored workflow, so the designer offers it as a step."""
        try:
            workflows = await self.keeper.runtime.store.list_workflows()
        except StorageError as error:
            log.warning("could not list workflows for the palette", extra={"fields": {"error": str(error)}})
            return []
        return [step_type_info(workflow.name, workflow.definition) for workflow in workflows]

    async def ListTemplates(self, request: engine_pb2.ListTemplatesRequest,
                            context: grpc.aio.ServicerContext[Any, Any]) -> engine_pb2.ListTemplatesResponse:
        return engine_pb2.ListTemplatesResponse(templates=[
            common_pb2.Template(name=t.get("name", ""), plugin=t.get("plugin", ""),
                                workflow_type=t.get("workflow_type", ""), title=t.get("title", ""),
                                description=t.get("description", ""),
                                definition_json=json.dumps(t.get("definition", {})))
            for t in self.registry.templates()
        ])

    async def StartRun(self, request: engine_pb2.StartRunRequest,
                       context: grpc.aio.ServicerContext[Any, Any]) -> engine_pb2.StartRunResponse:
        try:
            started = await start_run(self.keeper.runtime, request.workflow, request.version,
                                      request.parameters_json, request.dry_run, request.actor,
                                      idempotency=(request.idempotency_key, request.request_digest))
        except StorageError as error:
            await _abort(context, error.code, str(error) or "workflow not found")
        if started.conflict is not None:
            return engine_pb2.StartRunResponse(conflict=engine_pb2.ConcurrencyConflict(
                key=started.conflict.key, blocked_by=started.conflict.blocked_by, detail=str(started.conflict)))
        if started.run is None:
            return engine_pb2.StartRunResponse(
                errors=_errors([p for p in started.problems if p not in started.unavailable]),
                unavailable=_errors(started.unavailable))
        self.keeper.wake()
        return engine_pb2.StartRunResponse(run=started.run.message)

    async def ControlRun(self, request: engine_pb2.ControlRunRequest,
                         context: grpc.aio.ServicerContext[Any, Any]) -> storage_pb2.Run:
        try:
            action = ControlAction.from_number(request.action)
        except ValueError:
            await _abort(context, grpc.StatusCode.INVALID_ARGUMENT, f"action: unknown ControlAction {request.action}")
        return await self._control(context, request.run_id, action, request.actor, request.step_id,
                                   compensate=request.compensate)

    async def DecideApproval(self, request: engine_pb2.DecideApprovalRequest,
                             context: grpc.aio.ServicerContext[Any, Any]) -> storage_pb2.Run:
        action = ControlAction.APPROVE if request.approve else ControlAction.REJECT
        inputs: dict[str, Any] | None = None
        if request.inputs_json:
            try:
                inputs = json.loads(request.inputs_json)
            except ValueError as error:
                await _abort(context, grpc.StatusCode.INVALID_ARGUMENT, f"inputs_json: not valid JSON: {error}")
            if not isinstance(inputs, dict):
                await _abort_with_errors(context, [Problem("/inputs", "must be an object")], "inputs not valid")
        decision = Decision(request.approve, request.actor, request.comment, role=request.actor_role,
                            plan_digest=request.plan_digest, inputs=inputs)
        return await self._control(context, request.run_id, action, request.actor, request.step_id, decision)

    async def _control(self, context: grpc.aio.ServicerContext[Any, Any], run_id: str, action: ControlAction,
                       actor: str, step_id: str = "", decision: Decision | None = None,
                       compensate: bool = False) -> storage_pb2.Run:
        try:
            await self.controls.apply(run_id, action, actor, step_id, decision=decision, compensate=compensate)
            return (await self.controls.get_run(run_id)).message
        except RunNotFound:
            await _abort(context, grpc.StatusCode.NOT_FOUND, f"no run {run_id!r}")
        except DecisionDenied as denied:
            await _abort(context, grpc.StatusCode.PERMISSION_DENIED, str(denied))
        except InputsInvalid as invalid:
            await _abort_with_errors(context, invalid.problems, str(invalid))
        except PlanChanged as changed:
            context.set_trailing_metadata(((rpc_metadata.PLAN_DIGEST, changed.plan_digest),))
            await _abort(context, grpc.StatusCode.ABORTED, str(changed))
        except ControlRefused as refusal:
            await _abort(context, grpc.StatusCode.FAILED_PRECONDITION, str(refusal))
        except OwnerUnreachable as busy:
            await _abort(context, grpc.StatusCode.UNAVAILABLE, str(busy))


async def _abort_with_errors(context: grpc.aio.ServicerContext[Any, Any], problems: list[Problem],
                             details: str) -> NoReturn:
    """INVALID_ARGUMENT with the pointed problems in trailing metadata, as the gateway reads them."""
    errors = [{"pointer": problem.pointer, "message": problem.message} for problem in problems]
    context.set_trailing_metadata(((rpc_metadata.ERRORS, json.dumps(errors)),))
    await _abort(context, grpc.StatusCode.INVALID_ARGUMENT, details)


async def _abort(context: grpc.aio.ServicerContext[Any, Any], code: grpc.StatusCode, details: str) -> NoReturn:
    await context.abort(code, details)
    raise AssertionError("context.abort raises")  # grpc's stubs do not say abort never returns
