"""EngineService: thin gRPC handlers over validation, run start and controls."""

from __future__ import annotations

import json
import logging
from typing import Any

import grpc
from vwmp_common.json_pointer import pointer
from vwmp_common.schema_errors import SchemaProblem as Problem
from vwmp_proto.common.v1 import common_pb2
from vwmp_proto.engine.v1 import engine_pb2, engine_pb2_grpc
from vwmp_proto.storage.v1 import storage_pb2

from vwmp_engine.controls import Controls, OwnerUnreachable, RunNotFound
from vwmp_engine.executor import ControlRefused
from vwmp_engine.leases import LeaseKeeper
from vwmp_engine.registry import StepTypeRegistry
from vwmp_engine.validation import apply_parameter_defaults, validate_definition, validate_parameters

log = logging.getLogger(__name__)


def _errors(problems: list[Problem]) -> list[common_pb2.ValidationError]:
    return [common_pb2.ValidationError(pointer=p.pointer, message=p.message) for p in problems]


class EngineService(engine_pb2_grpc.EngineServiceServicer):
    """The engine's gRPC surface, used by the gateway."""

    def __init__(self, registry: StepTypeRegistry, keeper: LeaseKeeper, controls: Controls) -> None:
        self.registry = registry
        self.keeper = keeper
        self.controls = controls
        self.storage = keeper.runtime.storage

    async def ValidateWorkflow(self, request: engine_pb2.ValidateWorkflowRequest,
                               context: grpc.aio.ServicerContext) -> engine_pb2.ValidateWorkflowResponse:
        try:
            definition = json.loads(request.definition_json)
        except ValueError as error:
            return engine_pb2.ValidateWorkflowResponse(
                valid=False, errors=_errors([Problem("", f"not valid JSON: {error}")]))
        defaults = (await self.keeper.runtime.platform_config()).get("step_defaults") or {}
        problems = validate_definition(definition, self.registry.get, defaults)
        return engine_pb2.ValidateWorkflowResponse(valid=not problems, errors=_errors(problems))

    async def ListStepTypes(self, request: engine_pb2.ListStepTypesRequest,
                            context: grpc.aio.ServicerContext) -> engine_pb2.ListStepTypesResponse:
        return engine_pb2.ListStepTypesResponse(step_types=[
            common_pb2.StepType(type=info.type, plugin=info.plugin, title=info.title, description=info.description,
                                config_schema_json=json.dumps(info.config_schema),
                                outputs_schema_json=json.dumps(info.outputs_schema))
            for info in self.registry.all()
        ])

    async def ListTemplates(self, request: engine_pb2.ListTemplatesRequest,
                            context: grpc.aio.ServicerContext) -> engine_pb2.ListTemplatesResponse:
        return engine_pb2.ListTemplatesResponse(templates=[
            common_pb2.Template(name=t.get("name", ""), plugin=t.get("plugin", ""),
                                workflow_type=t.get("workflow_type", ""), title=t.get("title", ""),
                                description=t.get("description", ""),
                                definition_json=json.dumps(t.get("definition", {})))
            for t in self.registry.templates()
        ])

    async def StartRun(self, request: engine_pb2.StartRunRequest,
                       context: grpc.aio.ServicerContext) -> engine_pb2.StartRunResponse:
        try:
            workflow = await self.storage.GetWorkflow(
                storage_pb2.GetWorkflowRequest(name=request.workflow, version=request.version))
        except grpc.aio.AioRpcError as error:
            await context.abort(error.code(), error.details() or "workflow not found")
        definition: dict[str, Any] = json.loads(workflow.definition_json)
        try:
            parameters = json.loads(request.parameters_json or "{}")
        except ValueError as error:
            return engine_pb2.StartRunResponse(errors=_errors([Problem("", f"parameters are not valid JSON: {error}")]))
        schema = (definition.get("spec") or {}).get("parameters") or {"type": "object"}
        if isinstance(parameters, dict):
            parameters = apply_parameter_defaults(schema, parameters)
        problems = validate_parameters(schema, parameters)
        problems += [
            Problem(pointer("spec", "steps", index, "uses"), f"no live plugin host offers {step['uses']!r} now")
            for index, step in enumerate(definition["spec"]["steps"]) if self.registry.get(step["uses"]) is None
        ]
        if problems:
            return engine_pb2.StartRunResponse(errors=_errors(problems))
        run = await self.storage.CreateRun(storage_pb2.CreateRunRequest(
            workflow=workflow.name, version=workflow.version, parameters_json=json.dumps(parameters),
            dry_run=request.dry_run, created_by=request.actor,
            steps=[storage_pb2.StepRun(id=step["id"], uses=step["uses"]) for step in definition["spec"]["steps"]],
        ))
        # Storage wrote the run.queued event (seq 1); publish it like every other event, so live
        # subscribers of all runs see a run appear before it starts.
        queued = await self.storage.ListEvents(storage_pb2.ListEventsRequest(run_id=run.id, after=0, limit=1))
        self.keeper.runtime.publisher.publish(list(queued.events))
        self.keeper.wake()
        log.info("run created", extra={"fields": {"run_id": run.id, "workflow": workflow.name}})
        return engine_pb2.StartRunResponse(run=run)

    async def ControlRun(self, request: engine_pb2.ControlRunRequest,
                         context: grpc.aio.ServicerContext) -> storage_pb2.Run:
        return await self._control(context, request.run_id, request.action, request.actor, request.step_id)

    async def DecideApproval(self, request: engine_pb2.DecideApprovalRequest,
                             context: grpc.aio.ServicerContext) -> storage_pb2.Run:
        action = "approve" if request.approve else "reject"
        return await self._control(context, request.run_id, action, request.actor, request.step_id, request.comment)

    async def _control(self, context: grpc.aio.ServicerContext, run_id: str, action: str, actor: str,
                       step_id: str = "", comment: str = "") -> storage_pb2.Run:
        try:
            await self.controls.apply(run_id, action, actor, step_id, comment)
            return await self.controls.get_run(run_id)
        except RunNotFound:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no run {run_id!r}")
        except ControlRefused as refusal:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(refusal))
        except OwnerUnreachable as busy:
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(busy))
        raise AssertionError("unreachable")
