"""Starting a run of a workflow's latest version: one storage call while the engine's copy is the latest,
and never a run of an older version once a newer one is saved (docs/engine.md, "Durability and delivery
guarantees"). A real proxy between the engine and storage counts the calls."""

from __future__ import annotations

import json
from typing import Any

import pytest
from vwmp_proto.engine.v1 import engine_pb2
from vwmp_proto.storage.v1 import storage_pb2
from vwmp_testkit.grpc_proxy import GrpcProxy

from .conftest import Services
from .test_storage_faults import replica_through


def needing(name: str, required: list[str]) -> dict[str, Any]:
    """A 1-step workflow whose parameters must include `required`."""
    return {"apiVersion": "vwmp/v1", "kind": "Workflow", "metadata": {"name": name},
            "spec": {"parameters": {"type": "object", "required": required,
                                    "properties": {key: {"type": "string"} for key in required}},
                     "steps": [{"id": "only", "uses": "core/noop"}]}}


@pytest.mark.timeout(120)
async def test_a_run_of_the_latest_version_reads_the_workflow_once_and_follows_every_newer_version(
        services: Services, nats_server: str) -> None:
    proxy = GrpcProxy(services.storage_target)
    async with proxy, replica_through(services, nats_server, proxy.target) as engine:
        await engine.apply(needing("latest-wins", ["ticket"]))

        async def start(parameters: dict[str, str]) -> engine_pb2.StartRunResponse:
            return await engine.service.StartRun(engine_pb2.StartRunRequest(
                workflow="latest-wins", parameters_json=json.dumps(parameters), actor="tester"), None)

        def reads() -> int:
            return len(proxy.requests.get("GetWorkflow", []))

        first = await start({"ticket": "T-1"})
        assert first.run.version == 1 and reads() == 1
        second = await start({"ticket": "T-2"})
        assert second.run.version == 1 and reads() == 1, "the engine's copy is the latest: one call, CreateRun"

        await engine.apply(needing("latest-wins", ["release"]))  # saved past this engine (the gateway, a replica)
        third = await start({"release": "1.2.0"})  # version 1 would refuse it: no ticket
        assert not third.errors, list(third.errors)
        assert third.run.version == 2 and reads() == 2
        refused = await start({"ticket": "T-3"})  # version 2 refuses what version 1 took
        assert [(e.pointer, e.message) for e in refused.errors] == [("/release", "release is required")]
        assert not refused.HasField("run")

        for response in (first, second, third):
            run = await engine.storage.GetRun(storage_pb2.GetRunRequest(id=response.run.id))
            assert json.loads(run.parameters_json) == json.loads(response.run.parameters_json)
