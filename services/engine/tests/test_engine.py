"""`Engine`, the composition root, as `__main__` runs it: gRPC with health, runs started over the wire."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.request

from grpc_health.v1 import health_pb2, health_pb2_grpc
from nats.aio.msg import Msg
from vwmp_common.clients import engine_client, open_channel
from vwmp_common.nats import connect
from vwmp_common.ports import free_port
from vwmp_common.states import EventType
from vwmp_common.subjects import EVENTS_WILDCARD
from vwmp_common.timeutil import iso
from vwmp_proto.engine.v1 import engine_pb2
from vwmp_proto.events.v1.events_pb2 import Event

from .conftest import Replica, Services, event_view, replica
from .test_runs import workflow


async def storage_calls(services: Services, method: str) -> float:
    """How often storage has served `method` so far (its own RPC metrics)."""
    text = await asyncio.to_thread(lambda: urllib.request.urlopen(services.storage_metrics).read().decode())
    pattern = rf'vwmp_rpc_latency_seconds_count{{method="{method}",service="storage"}} (\S+)'
    found = re.search(pattern, text) or re.search(
        rf'vwmp_rpc_latency_seconds_count{{service="storage",method="{method}"}} (\S+)', text)
    return float(found.group(1)) if found else 0.0


async def test_the_engine_serves_health_and_its_service_on_its_port(services: Services, nats_server: str) -> None:
    async with replica(services, nats_server, owner=f"served-{free_port()}") as engine:
        target = f"127.0.0.1:{engine.engine.port}"
        health = health_pb2_grpc.HealthStub(open_channel(target, "grpc.health.v1.Health"))
        for name in ("", "vwmp.engine.v1.EngineService"):
            answer = await health.Check(health_pb2.HealthCheckRequest(service=name))
            assert answer.status == health_pb2.HealthCheckResponse.SERVING
        palette = await engine_client(target).ListStepTypes(engine_pb2.ListStepTypesRequest())
        assert {"core/approval", "core/noop", "core/sleep", "hello/greet"} <= {t.type for t in palette.step_types}


async def test_start_run_publishes_the_queued_event_it_was_given_without_reading_it_back(
    engine: Replica, services: Services, nats_server: str
) -> None:
    definition = workflow({"id": "gate", "uses": "core/approval"})
    await engine.apply(definition)
    nats = await connect(nats_server, name="watcher")
    published: asyncio.Queue[Event] = asyncio.Queue()

    async def received(msg: Msg) -> None:
        published.put_nowait(Event.FromString(msg.data))

    subscription = await nats.subscribe(EVENTS_WILDCARD, cb=received)
    try:
        reads_before = await storage_calls(services, "ListEvents")
        response = await engine_client(f"127.0.0.1:{engine.engine.port}").StartRun(engine_pb2.StartRunRequest(
            workflow=definition["metadata"]["name"], parameters_json="{}", actor="tester"))
        run_id = response.run.id
        async with asyncio.timeout(10):
            first = await published.get()
            while first.run_id != run_id:
                first = await published.get()
        await engine.wait_step(run_id, "gate", "awaiting_approval")
        assert await storage_calls(services, "ListEvents") == reads_before  # neither StartRun nor the run read events
        [stored, *_] = await engine.events(run_id)
        assert await storage_calls(services, "ListEvents") == reads_before + 1  # the metric does count reads
        assert (first.seq, first.type) == (1, EventType.RUN_QUEUED.number) and event_view(first) == stored
        assert json.loads(first.data_json) == {"trigger": {"id": None, "kind": "manual", "at": iso(stored.at)}}
    finally:
        await subscription.unsubscribe()
        await nats.close()
