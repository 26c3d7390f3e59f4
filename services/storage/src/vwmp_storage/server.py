"""Starts the gRPC server for a `Storage` (used by `__main__` and by tests)."""

from __future__ import annotations

import grpc
from vwmp_common.grpc_server import start_grpc_server
from vwmp_proto.storage.v1.storage_pb2_grpc import add_StorageServiceServicer_to_server

from vwmp_storage.rpc import StorageServicer
from vwmp_storage.storage import Storage

SERVICE_NAME = "vwmp.storage.v1.StorageService"


async def serve(storage: Storage, host: str, port: int, sync_workers: int = 16) -> tuple[grpc.aio.Server, int]:
    """Start serving StorageService (+ health and reflection); returns the server and its port."""
    servicer = StorageServicer(storage)
    return await start_grpc_server(
        "storage",
        [(add_StorageServiceServicer_to_server, servicer, SERVICE_NAME)],
        host,
        port,
        sync_workers=sync_workers,
    )
