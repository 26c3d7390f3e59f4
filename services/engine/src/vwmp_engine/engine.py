"""The engine's composition root: one object that builds, starts and stops everything it runs on.

`__main__` and the tests use the same `Engine`, so tests run what production runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from types import TracebackType

import grpc
from grpc_health.v1 import health_pb2_grpc
from nats.aio.client import Client as NatsClient
from vwmp_common.clients import storage_channel, storage_client
from vwmp_common.grpc_server import start_grpc_server
from vwmp_common.nats import connect, ensure_events_stream, plugin_hosts_bucket
from vwmp_proto.engine.v1.engine_pb2_grpc import add_EngineServiceServicer_to_server

from vwmp_engine.controls import Controls
from vwmp_engine.events import EventPublisher
from vwmp_engine.leases import LeaseKeeper
from vwmp_engine.registry import StepTypeRegistry
from vwmp_engine.rpc import EngineService
from vwmp_engine.runtime import EngineRuntime
from vwmp_engine.scratch import sweep_host_scratch
from vwmp_engine.secrets import SecretStore
from vwmp_engine.settings import EngineSettings
from vwmp_engine.store import Store
from vwmp_engine.sub_workflows import SubWorkflows
from vwmp_engine.triggers.completion import CompletionTriggers
from vwmp_engine.triggers.scheduler import TriggerScheduler
from vwmp_engine.triggers.store import TriggerStore
from vwmp_engine.triggers.sweep import CompletionSweep

log = logging.getLogger(__name__)
SERVICE_NAME = "vwmp.engine.v1.EngineService"


class Engine:
    """One engine replica: storage client, NATS, plugin host registry, leases, controls, gRPC server.

    Use it as an async context manager:

    ```python
    async with Engine(EngineSettings()) as engine:
        print(engine.port)
        await stop.wait()
    ```

    Args:
        settings: where storage and NATS are, the ports, the limits and this replica's id.
        secrets: where `${{ secrets.NAME }}` come from; default the environment and `settings.secrets_dir`.
    """

    def __init__(self, settings: EngineSettings, secrets: SecretStore | None = None) -> None:
        self.settings = settings
        self._secrets = secrets or SecretStore(settings.secrets_dir)
        self.port = settings.engine_port
        self._nats: NatsClient | None = None
        self._server: grpc.aio.Server | None = None
        self._runtime: EngineRuntime | None = None
        self._service: EngineService | None = None
        self._schedules: TriggerScheduler | None = None
        self._completions: CompletionTriggers | None = None

    @property
    def runtime(self) -> EngineRuntime:
        """What the executors share (store, registry, publisher, limits); available once started."""
        if self._runtime is None:
            raise RuntimeError("the engine is not started")
        return self._runtime

    @property
    def service(self) -> EngineService:
        """The gRPC servicer (what the gateway calls); available once started."""
        if self._service is None:
            raise RuntimeError("the engine is not started")
        return self._service

    @property
    def store(self) -> Store:
        """The engine's storage client."""
        return self.runtime.store

    @property
    def registry(self) -> StepTypeRegistry:
        """Built-in step types and those of live plugin hosts."""
        return self.runtime.registry

    @property
    def keeper(self) -> LeaseKeeper:
        """The runs this replica holds leases on and executes."""
        return self.service.keeper

    @property
    def controls(self) -> Controls:
        """Run controls, wherever the run executes."""
        return self.service.controls

    async def start(self) -> None:
        """Connect to NATS, watch plugin hosts, serve gRPC, then claim runs."""
        settings = self.settings
        nats = self._nats = await connect(settings.nats_url, name=f"engine-{settings.engine_id}")
        js = nats.jetstream()
        await ensure_events_stream(js)
        channel = storage_channel(settings.storage_target())  # one channel: the health check sees what calls see
        storage = storage_client(settings.storage_target(), channel=channel)
        store = Store(storage, health_pb2_grpc.HealthStub(channel))
        registry = StepTypeRegistry(connected=lambda: nats.is_connected)
        registry.greeted.append(lambda host, client: sweep_host_scratch(store, host, client))
        registry.start(await plugin_hosts_bucket(js))
        publisher = EventPublisher(nats)
        publisher.start()
        self._runtime = EngineRuntime(
            store=store, registry=registry, publisher=publisher,
            owner=settings.engine_id, secrets=self._secrets,
            step_slots=asyncio.Semaphore(settings.engine_max_steps),
        )
        keeper = LeaseKeeper(self._runtime, settings.engine_lease_seconds, settings.engine_max_runs)
        controls = Controls(keeper, nats)
        await controls.start()
        self._runtime.sub_workflows = SubWorkflows(self._runtime, nats, controls, keeper.wake)
        triggers = TriggerStore(storage)
        self._service = EngineService(registry, keeper, controls, triggers)
        self._completions = CompletionTriggers(self._runtime, triggers, keeper.wake)
        publisher.listeners.append(self._completions.observe)
        sweep = CompletionSweep(self._completions, triggers, settings.engine_completion_sweep_seconds,
                                settings.engine_completion_settle_seconds)
        self._schedules = TriggerScheduler(self._runtime, triggers, keeper.wake, sweep=sweep)
        self._server, self.port = await start_grpc_server(
            "engine", [(add_EngineServiceServicer_to_server, self._service, SERVICE_NAME)],
            settings.grpc_host, settings.engine_port,
        )
        keeper.start()
        self._schedules.start()
        log.info("engine started", extra={"fields": {"engine_id": settings.engine_id, "port": self.port}})

    async def stop(self) -> None:
        """Abandon the runs (another replica takes them over), stop serving, publish what is queued."""
        if self._schedules is not None:
            await self._schedules.stop()
        if self._completions is not None:
            await self._completions.stop()
        if self._service is not None:
            await self._service.keeper.stop()
        if self._runtime is not None and self._runtime.sub_workflows is not None:
            await self._runtime.sub_workflows.stop()
        if self._server is not None:
            await self._server.stop(grace=2)
            self._server = None
        if self._runtime is not None:
            await self._runtime.registry.stop()
            await self._runtime.publisher.stop()
        if self._nats is not None:
            with contextlib.suppress(Exception):  # bounded: with NATS gone, drain would wait for a reconnect
                await asyncio.wait_for(self._nats.drain(), 2.0)
            self._nats = None

    async def __aenter__(self) -> Engine:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()
