"""The storage service while its PostgreSQL is stopped and after it is back: UNAVAILABLE, then served again.

A real storage server in this process on a private PostgreSQL cluster (`vwmp_testkit.postgres`) that
the test stops and starts; storage itself is never restarted, so its pool must replace the dead
connections by itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import grpc
import pytest
from vwmp_common.clients import StorageStub, storage_client
from vwmp_common.states import EventType, RunState
from vwmp_proto.storage.v1 import storage_pb2 as pb
from vwmp_storage.server import serve
from vwmp_storage.storage import open_storage
from vwmp_testkit.postgres import PostgresCluster

pytestmark = [pytest.mark.e2e, pytest.mark.faults]


def calls(stub: StorageStub, run_id: str) -> dict[str, Callable[[], Awaitable[object]]]:
    """A read, a run's creation, a transition write and a claim: what the gateway and the engines send."""
    return {
        "GetRun": lambda: stub.GetRun(pb.GetRunRequest(id=run_id)),
        "CreateRun": lambda: stub.CreateRun(pb.CreateRunRequest(
            workflow="wf", steps=[pb.StepRun(id="a", uses="core/noop")], created_by="t")),
        "RecordTransitions": lambda: stub.RecordTransitions(pb.RecordTransitionsRequest(
            run_id=run_id, transitions=[pb.Transition(event_type=EventType.RUN_STARTED.number,
                                                      run_state=RunState.RUNNING.number)])),
        "ClaimRuns": lambda: stub.ClaimRuns(pb.ClaimRunsRequest(owner="e1", limit=1, lease_seconds=30)),
        "VerifyToken": lambda: stub.VerifyToken(pb.VerifyTokenRequest(secret="not-a-token")),
    }


@pytest.mark.parametrize("mode", ["fast", "immediate"])
async def test_a_stopped_database_is_unavailable_and_served_again_once_back_without_a_restart(
        mode: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="vwmp_storage")
    with PostgresCluster() as database:
        storage = open_storage(database.url, pool_size=4)
        server, port = await serve(storage, "127.0.0.1", 0, sync_workers=4)
        stub = storage_client(f"127.0.0.1:{port}")
        try:
            await stub.CreateWorkflow(pb.CreateWorkflowRequest(name="wf", definition_json="{}", created_by="t"))
            run = await stub.CreateRun(pb.CreateRunRequest(workflow="wf", steps=[pb.StepRun(id="a", uses="core/noop")]))
            await asyncio.gather(*(stub.GetRun(pb.GetRunRequest(id=run.id)) for _ in range(8)))  # a full pool

            database.stop(mode)
            for name, call in calls(stub, run.id).items():
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await call()
                assert refused.value.code() == grpc.StatusCode.UNAVAILABLE, (name, refused.value.details())
                assert refused.value.details() == "database unavailable, try again", name
                assert database.url.split("@")[1] not in (refused.value.details() or "")
            away = [r.getMessage() for r in caplog.records if r.name == "vwmp_storage.outage"]
            assert away == ["database unavailable; answering UNAVAILABLE until it is back"], away

            database.start()
            read = await stub.GetRun(pb.GetRunRequest(id=run.id))  # the pool's dead connections are replaced
            assert read.id == run.id
            for name, call in calls(stub, run.id).items():
                if name == "VerifyToken":
                    with pytest.raises(grpc.aio.AioRpcError) as unknown:
                        await call()
                    assert unknown.value.code() == grpc.StatusCode.UNAUTHENTICATED
                else:
                    await call()
            back = [r.getMessage() for r in caplog.records if r.name == "vwmp_storage.outage"]
            assert back[-1] == "database available again"
            assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
        finally:
            await server.stop(None)
            storage.close()
