"""Start-up: settings, JSON logs, the admin token bootstrap, then uvicorn."""

from __future__ import annotations

import asyncio
import logging

import grpc
import uvicorn
from vwmp_common.clients import open_channel
from vwmp_common.logging import configure_logging

from vwmp_gateway.app import create_app
from vwmp_gateway.bootstrap import ensure_admin_token
from vwmp_gateway.deps import storage_stub
from vwmp_gateway.middleware import RedactSecrets
from vwmp_gateway.settings import GatewaySettings

log = logging.getLogger("vwmp_gateway")


async def _bootstrap(settings: GatewaySettings) -> None:
    """Create the first admin token, waiting for storage (start order does not matter)."""
    channel = open_channel(
        settings.storage_target(), "vwmp.storage.v1.StorageService", timeout_seconds=None,
        service_token=settings.service_token,
    )
    try:
        storage = storage_stub(channel)
        while True:
            try:
                await ensure_admin_token(storage, settings.admin_token_path())
                return
            except grpc.aio.AioRpcError as exc:
                log.warning("storage not ready for the admin token; retrying",
                            extra={"fields": {"grpc_code": exc.code().name}})
                await asyncio.sleep(1)
    finally:
        await channel.close()


def main() -> None:
    """Run the gateway until interrupted."""
    settings = GatewaySettings()
    configure_logging("gateway", settings.log_level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).addFilter(RedactSecrets())
    if settings.bootstrap_admin:
        asyncio.run(_bootstrap(settings))
    log.info("gateway starting", extra={"fields": {
        "url": f"http://{settings.http_host}:{settings.http_port}",
        "storage": settings.storage_target(), "engine": settings.engine_target(),
    }})
    uvicorn.run(
        create_app(settings), host=settings.http_host, port=settings.http_port,
        ws_ping_interval=20, **settings.uvicorn_options(),  # type: ignore[arg-type]
    )


if __name__ == "__main__":
    main()
