"""Test doubles for whoever tests against the gateway (its own tests, the CLI's, the e2e suite).

The REAL storage service (needs the `vwmp-storage` package, a dev dependency) and a small fake
engine serve gRPC on free ports from a background event loop; `LiveGateway` runs the app on
uvicorn on a free port. Not used by the running service.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import uvicorn
from jsonschema import Draft202012Validator
from vwmp_common.embedded_nats import free_port, wait_for_port
from vwmp_common.grpc_server import start_grpc_server
from vwmp_common.schema_errors import schema_problems
from vwmp_common.schemas import workflow_schema
from vwmp_proto.common.v1 import common_pb2
from vwmp_proto.engine.v1 import engine_pb2, engine_pb2_grpc
from vwmp_proto.storage.v1 import storage_pb2, storage_pb2_grpc

from vwmp_gateway.app import create_app
from vwmp_gateway.settings import GatewaySettings

ROLES = ("viewer", "editor", "operator", "admin")
TERMINAL = {"succeeded", "succeeded_with_warnings", "failed", "cancelled"}


class FakeEngine(engine_pb2_grpc.EngineServiceServicer):
    """Just enough engine for the gateway: validation, runs created in the real storage, controls."""

    def __init__(self, storage_target: str) -> None:
        self.storage = storage_pb2_grpc.StorageServiceStub(grpc.aio.insecure_channel(storage_target))
        self.calls: list[tuple[str, Any]] = []

    async def ValidateWorkflow(self, request: Any, context: Any) -> Any:
        definition = json.loads(request.definition_json)
        validator = Draft202012Validator(workflow_schema())
        errors = [
            common_pb2.ValidationError(pointer=p.pointer, message=p.message)
            for p in schema_problems(validator, definition)
        ]
        if not errors:
            ids = [s["id"] for s in definition["spec"]["steps"]]
            for index, step in enumerate(definition["spec"]["steps"]):
                for n, need in enumerate(step.get("needs", [])):
                    if need not in ids:
                        errors.append(common_pb2.ValidationError(
                            pointer=f"/spec/steps/{index}/needs/{n}", message=f"unknown step {need!r}"))
        return engine_pb2.ValidateWorkflowResponse(valid=not errors, errors=errors)

    async def ListStepTypes(self, request: Any, context: Any) -> Any:
        return engine_pb2.ListStepTypesResponse(step_types=[
            common_pb2.StepType(type="core/noop", plugin="core", title="No-op", description="Does nothing",
                                config_schema_json='{"type": "object"}', outputs_schema_json=""),
            common_pb2.StepType(type="core/approval", plugin="core", title="Approval", description="Manual gate",
                                config_schema_json='{"type": "object", "properties": {"message": {"type": "string"}}}',
                                outputs_schema_json='{"type": "object"}'),
        ])

    async def ListTemplates(self, request: Any, context: Any) -> Any:
        return engine_pb2.ListTemplatesResponse(templates=[common_pb2.Template(
            name="hello", plugin="core", workflow_type="demo", title="Hello", description="One step",
            definition_json=json.dumps(definition("hello")))])

    async def StartRun(self, request: Any, context: Any) -> Any:
        self.calls.append(("StartRun", request))
        try:
            workflow = await self.storage.GetWorkflow(
                storage_pb2.GetWorkflowRequest(name=request.workflow, version=request.version))
        except grpc.aio.AioRpcError as exc:
            await context.abort(exc.code(), exc.details())
        spec = json.loads(workflow.definition_json)["spec"]
        parameters = json.loads(request.parameters_json or "{}")
        schema = spec.get("parameters") or {"type": "object"}
        errors = [common_pb2.ValidationError(pointer=p.pointer, message=p.message)
                  for p in schema_problems(Draft202012Validator(schema), parameters)]
        if errors:
            return engine_pb2.StartRunResponse(errors=errors)
        run = await self.storage.CreateRun(storage_pb2.CreateRunRequest(
            workflow=workflow.name, version=workflow.version, parameters_json=request.parameters_json,
            dry_run=request.dry_run, created_by=request.actor,
            steps=[storage_pb2.StepRun(id=s["id"], uses=s["uses"]) for s in spec["steps"]]))
        return engine_pb2.StartRunResponse(run=run)

    async def ControlRun(self, request: Any, context: Any) -> Any:
        self.calls.append(("ControlRun", request))
        try:
            run = await self.storage.GetRun(storage_pb2.GetRunRequest(id=request.run_id))
        except grpc.aio.AioRpcError as exc:
            await context.abort(exc.code(), exc.details())
        allowed = {"cancel": run.state not in TERMINAL, "pause": run.state in ("queued", "running"),
                   "resume": run.state == "paused", "retry": run.state == "failed",
                   "rerun": any(s.id == request.step_id for s in run.steps)}
        if not allowed.get(request.action, False):
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                                f"cannot {request.action} a run that is {run.state}")
        new_state = {"cancel": "cancelled", "pause": "paused", "resume": "running", "retry": "running",
                     "rerun": "running"}[request.action]
        event = {"cancel": "run.cancelled", "pause": "run.paused", "resume": "run.resumed",
                 "retry": "run.started", "rerun": "run.started"}[request.action]
        await self.storage.RecordTransitions(storage_pb2.RecordTransitionsRequest(
            run_id=run.id, transitions=[storage_pb2.Transition(
                event_type=event, run_state=new_state, reopen=request.action in ("retry", "rerun"),
                data_json=json.dumps({"actor": request.actor}))]))
        return await self.storage.GetRun(storage_pb2.GetRunRequest(id=run.id))

    async def DecideApproval(self, request: Any, context: Any) -> Any:
        self.calls.append(("DecideApproval", request))
        try:
            run = await self.storage.GetRun(storage_pb2.GetRunRequest(id=request.run_id))
        except grpc.aio.AioRpcError as exc:
            await context.abort(exc.code(), exc.details())
        step = next((s for s in run.steps if s.id == request.step_id), None)
        if step is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no step {request.step_id!r}")
        if step.state != "awaiting_approval":
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"step {step.id!r} is {step.state}")
        outputs = json.dumps({"approved_by": request.actor, "comment": request.comment})
        await self.storage.RecordTransitions(storage_pb2.RecordTransitionsRequest(
            run_id=run.id, transitions=[storage_pb2.Transition(
                event_type="step.succeeded" if request.approve else "step.failed", step_id=step.id, attempt=1,
                step_state="succeeded" if request.approve else "failed", outputs_json=outputs,
                error="" if request.approve else "rejected")]))
        return await self.storage.GetRun(storage_pb2.GetRunRequest(id=run.id))


def definition(name: str, steps: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A valid workflow definition."""
    return {
        "apiVersion": "vwmp/v1",
        "kind": "Workflow",
        "metadata": {"name": name, "description": "test"},
        "spec": {
            "parameters": {"type": "object", "required": ["part"],
                           "properties": {"part": {"enum": ["major", "minor", "patch"]}}},
            "steps": steps or [
                {"id": "build", "uses": "core/noop"},
                {"id": "approve", "uses": "core/approval", "needs": ["build"]},
            ],
        },
    }


@dataclass
class Backend:
    """Storage (real) and engine (fake) on free ports, served from their own event loop."""

    storage_port: int = 0
    engine_port: int = 0
    storage: Any = None
    engine: FakeEngine | None = None
    tokens: dict[str, str] = field(default_factory=dict)
    token_ids: dict[str, str] = field(default_factory=dict)
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)

    def start(self, db_path: Path) -> None:
        threading.Thread(target=self.loop.run_forever, daemon=True, name="backends").start()
        asyncio.run_coroutine_threadsafe(self._start(db_path), self.loop).result(60)
        assert self.storage is not None
        for role in ROLES:
            token, secret = self.storage.tokens.create(f"{role}-bot", role, 0, "tests")
            self.tokens[role] = secret
            self.token_ids[role] = token.id

    async def _start(self, db_path: Path) -> None:
        from vwmp_storage.server import serve as serve_storage
        from vwmp_storage.storage import open_storage

        self.storage = open_storage(f"sqlite:///{db_path}")
        self._storage_server, self.storage_port = await serve_storage(self.storage, "127.0.0.1", 0, 8)
        self.engine = FakeEngine(f"127.0.0.1:{self.storage_port}")
        self._engine_server, self.engine_port = await start_grpc_server(
            "fake-engine", [(engine_pb2_grpc.add_EngineServiceServicer_to_server, self.engine,
                             "vwmp.engine.v1.EngineService")], "127.0.0.1", 0)

    def settings(self, nats_url: str, data_dir: Path, **changes: Any) -> GatewaySettings:
        """Gateway settings pointing at these backends (no rate limit, no bootstrap, no UI)."""
        base = GatewaySettings(
            storage_address=f"127.0.0.1:{self.storage_port}", engine_address=f"127.0.0.1:{self.engine_port}",
            nats_url=nats_url, data_dir=data_dir, frontend_dir=None, rate_limit=0, bootstrap_admin=False,
        )
        return base.model_copy(update=changes)

    def stop(self) -> None:
        async def _stop() -> None:
            await self._engine_server.stop(0)
            await self._storage_server.stop(0)

        asyncio.run_coroutine_threadsafe(_stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        assert self.storage is not None
        self.storage.close()

    def audit(self, action: str | None = None) -> list[Any]:
        """Audit entries (newest first), optionally of one action."""
        assert self.storage is not None
        entries = self.storage.audit.list(1000, 0)
        return [e for e in entries if action is None or e.action == action]


class LiveGateway:
    """The gateway on uvicorn, on a free port, in its own thread."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.port = free_port()
        self.settings = settings.model_copy(update={"http_port": self.port})
        config = uvicorn.Config(create_app(self.settings), host="127.0.0.1", port=self.port,
                                log_config=None, ws_ping_interval=None)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True, name="uvicorn")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveGateway:
        self.thread.start()
        wait_for_port(self.port, timeout=20)
        deadline = time.monotonic() + 20
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)
