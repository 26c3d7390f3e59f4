"""The plugin server: serves `vwmp.plugin.v1.PluginService` for a set of plugins and announces it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import traceback
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any

import grpc
from vwmp_common.grpc_server import start_grpc_server
from vwmp_common.logging import log_context
from vwmp_common.nats_auth import credentials_from_env
from vwmp_common.redaction import Redactor
from vwmp_common.settings import plugin_host_token_from_env
from vwmp_common.subjects import PLUGIN_HOST_HEARTBEAT_SECONDS
from vwmp_proto.common.v1 import common_pb2
from vwmp_proto.plugin.v1 import plugin_pb2, plugin_pb2_grpc

from vwmp_sdk._announce import Announcer, announcement_key
from vwmp_sdk._context import StepContext
from vwmp_sdk._errors import StepError, failure_of
from vwmp_sdk._execution import execute_step
from vwmp_sdk._outcomes import OutcomeJournal
from vwmp_sdk._plugin import Plugin, StepDefinition, step_index
from vwmp_sdk._scratch import Scratch, discard, discard_all_but

log = logging.getLogger(__name__)

SERVICE_NAME = "vwmp.plugin.v1.PluginService"
_DONE = object()


UNSEEN_HEARTBEATS = 3
"""Heartbeats after the first announcement within which an engine is expected to have called."""


def default_host_id() -> str:
    """`<hostname>-<pid>`: unique per process, readable in the KV bucket."""
    return f"{socket.gethostname()}-{os.getpid()}"


class _PluginService(plugin_pb2_grpc.PluginServiceServicer):
    """Thin gRPC layer over the step definitions."""

    def __init__(self, server: PluginServer) -> None:
        self.server = server

    async def Describe(
        self, request: plugin_pb2.DescribeRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> plugin_pb2.DescribeResponse:
        self.server.contacted()
        document = self.server.describe()
        return plugin_pb2.DescribeResponse(
            host_id=document["host_id"],
            plugins=document["plugins"],
            step_types=[
                common_pb2.StepType(
                    type=s["type"], plugin=s["plugin"], title=s["title"], description=s["description"],
                    config_schema_json=json.dumps(s["config_schema"]),
                    outputs_schema_json=json.dumps(s["outputs_schema"]), icon=s.get("icon", ""),
                    effects=s["effects"],
                )
                for s in document["step_types"]
            ],
            templates=[
                common_pb2.Template(
                    name=t["name"], plugin=t["plugin"], workflow_type=t["workflow_type"], title=t["title"],
                    description=t["description"], definition_json=json.dumps(t["definition"]),
                )
                for t in document["templates"]
            ],
        )

    async def ValidateConfig(
        self, request: plugin_pb2.ValidateConfigRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> plugin_pb2.ValidateConfigResponse:
        self.server.contacted()
        definition = self.server.steps.get(request.type)
        if definition is None:
            problems = [(
                "", f"unknown step type {request.type!r}; this host offers {sorted(self.server.steps)}"
            )]
        else:
            try:
                config = json.loads(request.config_json or "{}")
            except ValueError as exc:
                problems = [("", f"config is not valid JSON: {exc}")]
            else:
                problems = [(p.pointer, p.message) for p in definition.check_config(config)]
        return plugin_pb2.ValidateConfigResponse(
            errors=[common_pb2.ValidationError(pointer=p, message=m) for p, m in problems]
        )

    async def DiscardScratch(
        self, request: plugin_pb2.DiscardScratchRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> plugin_pb2.DiscardScratchResponse:
        self.server.contacted()
        root = self.server.workspace_root
        if request.keep_others:
            removed = await asyncio.to_thread(discard_all_but, root, list(request.keep_run_ids))
        else:
            removed = await asyncio.to_thread(discard, root, list(request.run_ids))
        if removed:
            log.info("discarded dry runs' scratch copies", extra={"fields": {"runs": removed}})
        return plugin_pb2.DiscardScratchResponse(discarded=removed)

    async def Execute(
        self, request: plugin_pb2.ExecuteRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[plugin_pb2.ExecuteResponse]:
        self.server.contacted()
        async for response in self.server.execute(request):
            yield response


class PluginServer:
    """Serves plugins over gRPC (with health and reflection) and announces them in NATS KV.

    Use it as an async context manager:

    ```python
    async with PluginServer([plugin], nats_url="nats://127.0.0.1:4222", workspace_root=root) as server:
        print(server.port)
        await server.wait_stopped()
    ```

    Args:
        plugins: a `Plugin` or a list of them (step types must be unique across them).
        host: address to bind.
        port: port to bind; 0 picks a free one (see `port` after start).
        nats_url: NATS URL to announce on; None serves without announcing.
        advertise_address: `host:port` the engine should dial; default `<host>:<port>` (127.0.0.1 for
            wildcard binds).
        host_id: unique id of this host (the KV key); default `<hostname>-<pid>`.
        workspace_root: the folder handlers resolve repo paths in.
        heartbeat_seconds: seconds between announcements.
        max_sync_workers: threads for sync handlers (steps running at once).
        service_token: cluster mode: calls other than health must carry `authorization: Bearer <it>`
            (the engine's clients send it); None reads `VWMP_PLUGIN_HOST_TOKEN`, else `VWMP_SERVICE_TOKEN`;
            empty turns it off.
        nats_user: the NATS user to announce as (its entries are `<user>.<host id>`); None reads
            `VWMP_NATS_USER`. `nats_password`: its password; None reads `VWMP_NATS_PASSWORD`.
    """

    def __init__(
        self,
        plugins: Plugin | list[Plugin],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        nats_url: str | None = None,
        advertise_address: str | None = None,
        host_id: str | None = None,
        workspace_root: Path | str = Path("workspace"),
        heartbeat_seconds: float = PLUGIN_HOST_HEARTBEAT_SECONDS,
        max_sync_workers: int = 64,
        service_token: str | None = None,
        nats_user: str | None = None,
        nats_password: str | None = None,
    ) -> None:
        self.plugins, self.steps = step_index(plugins)
        env_user, env_password = credentials_from_env()
        self._nats_user = env_user if nats_user is None else (nats_user or None)
        self._nats_password = env_password if nats_password is None else (nats_password or None)
        self.host = host
        self.port = port
        self.nats_url = nats_url
        self._advertise_address = advertise_address
        self.host_id = host_id or default_host_id()
        self.workspace_root = Path(workspace_root)
        self.outcomes = OutcomeJournal(self.workspace_root)
        self.heartbeat_seconds = heartbeat_seconds
        self._service_token = service_token
        self._executor = ThreadPoolExecutor(max_workers=max_sync_workers, thread_name_prefix="step")
        self._server: grpc.aio.Server | None = None
        self._announcer: Announcer | None = None
        self._stopped = asyncio.Event()
        self._contact = asyncio.Event()
        self._lonely_task: asyncio.Task[None] | None = None

    @property
    def advertise_address(self) -> str:
        """The `host:port` announced to the engine."""
        if self._advertise_address:
            return self._advertise_address
        host = "127.0.0.1" if self.host in ("", "0.0.0.0", "::", "[::]") else self.host
        return f"{host}:{self.port}"

    @property
    def announcement_key(self) -> str:
        """The key of this host in the plugin-hosts KV bucket."""
        return announcement_key(self.host_id, self._nats_user)

    def describe(self) -> dict[str, Any]:
        """The announcement document (without `heartbeat_at`): plugins, step types, templates."""
        return {
            "host_id": self.host_id,
            "address": self.advertise_address,
            "plugins": [p.name for p in self.plugins],
            "step_types": [
                {
                    "type": d.type, "plugin": d.plugin, "title": d.title, "description": d.description,
                    "config_schema": d.config_schema(), "outputs_schema": d.outputs_schema(),
                    "effects": d.effects,
                    **({"icon": d.icon} if d.icon else {}),
                }
                for d in self.steps.values()
            ],
            "templates": [
                {
                    "name": t.name, "plugin": p.name, "workflow_type": t.workflow_type,
                    "title": t.title, "description": t.description, "definition": t.definition,
                }
                for p in self.plugins
                for t in p.templates
            ],
        }

    async def start(self) -> None:
        """Start serving gRPC, then announce in the background (NATS being down does not block)."""
        self._server, self.port = await start_grpc_server(
            "plugin-host",
            [(plugin_pb2_grpc.add_PluginServiceServicer_to_server, _PluginService(self), SERVICE_NAME)],
            self.host,
            self.port,
            service_token=plugin_host_token_from_env() if self._service_token is None else self._service_token,
        )
        if self.nats_url:
            self._announcer = Announcer(
                self.nats_url, self.announcement_key, self.describe, interval=self.heartbeat_seconds,
                user=self._nats_user, password=self._nats_password,
            )
            self._announcer.start()
            self._lonely_task = asyncio.create_task(self._warn_while_unseen(), name="plugin-host-unseen")
        log.info(
            "plugin host serving",
            extra={"fields": {
                "host_id": self.host_id, "address": self.advertise_address, "step_types": sorted(self.steps),
            }},
        )

    @property
    def seen_by_platform(self) -> bool:
        """True once an engine has called this host (it greets every host it discovers)."""
        return self._contact.is_set()

    def contacted(self) -> None:
        """An engine called this host: the platform sees it."""
        if not self._contact.is_set():
            self._contact.set()
            if self._lonely_task is not None and self._lonely_task.done():  # it had warned
                log.info("a platform engine reached this plugin host", extra={"fields": {"host_id": self.host_id}})

    async def _warn_while_unseen(self) -> None:
        """Say so when announcements go out but no engine calls: the author is on the wrong NATS or address.

        An engine greets every host it discovers (Describe) at once, so a host that has been announced
        for a few heartbeats without a single call is invisible to any platform.
        """
        assert self._announcer is not None
        await self._announcer.announced.wait()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._contact.wait(), self.heartbeat_seconds * UNSEEN_HEARTBEATS)
            return
        log.warning(
            "no platform has contacted this plugin host since it announced itself: check that VWMP_NATS_URL "
            "is the NATS of the platform (`make run` prints it and the line that joins), and that the engine "
            "can reach this host at its advertised address (VWMP_PLUGIN_HOST_ADVERTISE_ADDRESS)",
            extra={"fields": {"nats_url": self.nats_url, "address": self.advertise_address,
                              "waited_seconds": self.heartbeat_seconds * UNSEEN_HEARTBEATS}},
        )

    async def stop(self, grace: float = 5.0) -> None:
        """Withdraw the announcement, then stop gRPC (in-flight steps get `grace` seconds)."""
        if self._lonely_task is not None:
            self._lonely_task.cancel()
        if self._announcer is not None:
            await self._announcer.stop()
            self._announcer = None
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._stopped.set()

    async def wait_announced(self) -> None:
        """Wait until the first announcement reached NATS (wrap it in a timeout)."""
        if self._announcer is None:
            raise RuntimeError("no nats_url: this server does not announce itself")
        await self._announcer.announced.wait()

    async def wait_stopped(self) -> None:
        """Wait until `stop` completed."""
        await self._stopped.wait()

    async def __aenter__(self) -> PluginServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def execute(self, request: plugin_pb2.ExecuteRequest) -> AsyncIterator[plugin_pb2.ExecuteResponse]:
        """Run one step attempt: yields log records as they happen, then one result or failure.

        Closing the iterator (the client cancelled the call) cancels the handler.
        """
        definition = self.steps.get(request.type)
        if definition is None:
            offered = sorted(self.steps)
            yield _failure("config", f"unknown step type {request.type!r}; this host offers {offered}")
            return
        try:
            config = json.loads(request.config_json or "{}")
            platform_config = json.loads(request.platform_config_json or "{}")
        except ValueError as exc:
            yield _failure("config", f"config is not valid JSON: {exc}")
            return
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        mask = Redactor(list(request.redact)).scrub

        def sink(line: str, stream: str) -> None:
            record = plugin_pb2.ExecuteResponse(log=plugin_pb2.LogRecord(stream=stream, line=mask(line)))
            loop.call_soon_threadsafe(queue.put_nowait, record)

        attempt = request.attempt or 1
        ctx = StepContext(
            run_id=request.run_id, step_id=request.step_id, attempt=attempt,
            idempotency_key=request.idempotency_key or f"{request.run_id}/{request.step_id}/{attempt}",
            dry_run=request.dry_run, workspace_root=self.workspace_root,
            scratch=Scratch(self.workspace_root, request.run_id) if request.scratch else None,
            platform_config=platform_config if isinstance(platform_config, dict) else {}, log_sink=sink,
        )
        with log_context(run_id=request.run_id, step_id=request.step_id, step_type=definition.type):
            # Only a key the caller sent can come again: without one there is nothing to remember.
            journal = self.outcomes if request.idempotency_key else None
            task = asyncio.create_task(self._attempt(definition, config, ctx, queue, mask, journal))
            try:
                while True:
                    item = await queue.get()
                    if item is _DONE:
                        return
                    yield item
            finally:
                if not task.done():
                    ctx.cancel()
                    task.cancel()
                    log.info("step cancelled by the caller", extra={"fields": {"attempt": attempt}})

    async def _attempt(
        self, definition: StepDefinition, config: Any, ctx: StepContext, queue: asyncio.Queue[Any],
        mask: Callable[[str], str], journal: OutcomeJournal | None,
    ) -> None:
        loop = asyncio.get_running_loop()
        try:
            outputs = await execute_step(definition, config, ctx, self._executor, journal, mask)
            final = plugin_pb2.ExecuteResponse(result=plugin_pb2.StepResult(outputs_json=mask(json.dumps(outputs))))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not isinstance(exc, StepError):
                trace = "".join(traceback.format_exception(exc))
                log.error("step handler raised", extra={"fields": {"attempt": ctx.attempt, "exception": mask(trace)}})
            info = failure_of(exc)
            final = _failure(info.kind, mask(info.message))
        # Through the same thread-safe path as the logs, so every log line is sent before the result.
        loop.call_soon_threadsafe(queue.put_nowait, final)
        loop.call_soon_threadsafe(queue.put_nowait, _DONE)


def _failure(kind: str, message: str) -> plugin_pb2.ExecuteResponse:
    return plugin_pb2.ExecuteResponse(failure=plugin_pb2.StepFailure(kind=kind, message=message))


async def serve_until_signal(plugins: Plugin | list[Plugin], **options: Any) -> None:
    """Run a `PluginServer` until SIGTERM or SIGINT, then stop it gracefully.

    Args:
        plugins: the plugins to serve.
        **options: `PluginServer` keyword arguments.
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with PluginServer(plugins, **options):
        await stop.wait()
        log.info("plugin host stopping")


def serve(plugins: Plugin | list[Plugin], **options: Any) -> None:
    """Serve plugins until SIGTERM/SIGINT (blocking); the simplest way to run your own host.

    Args:
        plugins: the plugins to serve.
        **options: `PluginServer` keyword arguments (`port`, `nats_url`, `workspace_root`, ...).
    """
    asyncio.run(serve_until_signal(plugins, **options))
