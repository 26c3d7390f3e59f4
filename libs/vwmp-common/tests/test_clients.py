"""The typed clients' retry policy: gRPC repeats only the calls that are safe to repeat."""

from __future__ import annotations

from collections import Counter
from typing import Any

import grpc
import pytest
from vwmp_common.clients import storage_client
from vwmp_proto.storage.v1 import storage_pb2, storage_pb2_grpc


class UnavailableStorage(storage_pb2_grpc.StorageServiceServicer):
    """A storage that did the work, then answers UNAVAILABLE (as one stopping mid-call does)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    async def GetRun(self, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        self.calls["GetRun"] += 1
        await context.abort(grpc.StatusCode.UNAVAILABLE, "going away")

    async def CreateRun(self, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        self.calls["CreateRun"] += 1
        await context.abort(grpc.StatusCode.UNAVAILABLE, "going away")

    async def RecordTransitions(self, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        self.calls["RecordTransitions"] += 1
        await context.abort(grpc.StatusCode.UNAVAILABLE, "going away")


@pytest.mark.timeout(30)
async def test_unavailable_is_retried_for_reads_but_never_for_calls_that_change_something() -> None:
    storage = UnavailableStorage()
    server = grpc.aio.server()
    storage_pb2_grpc.add_StorageServiceServicer_to_server(storage, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        client = storage_client(f"127.0.0.1:{port}", service_token="")
        for call, request in ((client.GetRun, storage_pb2.GetRunRequest(id="r")),
                              (client.CreateRun, storage_pb2.CreateRunRequest(workflow="w")),
                              (client.RecordTransitions, storage_pb2.RecordTransitionsRequest(run_id="r"))):
            with pytest.raises(grpc.aio.AioRpcError) as failed:
                await call(request)  # type: ignore[operator]
            assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        await server.stop(None)
    assert storage.calls == {"GetRun": 5, "CreateRun": 1, "RecordTransitions": 1}
