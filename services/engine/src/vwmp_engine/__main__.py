"""Start-up of the engine service: connect, watch plugin hosts, claim runs, serve gRPC."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from vwmp_common.clients import storage_client
from vwmp_common.grpc_server import start_grpc_server
from vwmp_common.logging import configure_logging
from vwmp_common.metrics import serve_metrics
from vwmp_common.nats import connect, ensure_events_stream, plugin_hosts_bucket
from vwmp_proto.engine.v1.engine_pb2_grpc import add_EngineServiceServicer_to_server

from vwmp_engine.controls import Controls
from vwmp_engine.events import EventPublisher
from vwmp_engine.leases import LeaseKeeper
from vwmp_engine.registry import StepTypeRegistry
from vwmp_engine.rpc import EngineService
from vwmp_engine.runtime import EngineRuntime
from vwmp_engine.secrets import SecretStore
from vwmp_engine.settings import EngineSettings

log = logging.getLogger("vwmp_engine")


async def serve(settings: EngineSettings) -> None:
    nats = await connect(settings.nats_url, name=f"engine-{settings.engine_id}")
    js = nats.jetstream()
    await ensure_events_stream(js)
    registry = StepTypeRegistry(connected=lambda: nats.is_connected)
    registry.start(await plugin_hosts_bucket(js))
    publisher = EventPublisher(nats)
    publisher.start()
    runtime = EngineRuntime(
        storage=storage_client(settings.storage_target()), registry=registry, publisher=publisher,
        owner=settings.engine_id, secrets=SecretStore(settings.secrets_dir),
        step_slots=asyncio.Semaphore(settings.engine_max_steps),
    )
    keeper = LeaseKeeper(runtime, settings.engine_lease_seconds, settings.engine_max_runs)
    controls = Controls(keeper, nats)
    await controls.start()
    service = EngineService(registry, keeper, controls)
    server, _ = await start_grpc_server(
        "engine", [(add_EngineServiceServicer_to_server, service, "vwmp.engine.v1.EngineService")],
        settings.grpc_host, settings.engine_port,
    )
    serve_metrics(settings.metrics_port)
    keeper.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("engine stopping")
    await keeper.stop()
    await server.stop(grace=2)
    await registry.stop()
    await publisher.stop()
    with contextlib.suppress(Exception):  # bounded: with NATS gone, drain would wait for a reconnect
        await asyncio.wait_for(nats.drain(), 2.0)


def main() -> None:
    settings = EngineSettings()
    configure_logging("engine", settings.log_level)
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
