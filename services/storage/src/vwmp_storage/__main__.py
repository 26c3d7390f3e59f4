"""Start-up of the storage service: logging, settings, migrations, serve until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal

from vwmp_common.logging import configure_logging
from vwmp_common.metrics import serve_metrics

from vwmp_storage.server import serve
from vwmp_storage.settings import StorageSettings
from vwmp_storage.storage import open_storage

log = logging.getLogger("vwmp_storage")
GRACE_SECONDS = 5.0


async def _run(settings: StorageSettings) -> None:
    storage = open_storage(settings.resolved_database_url(), settings.definitions_dir, pool_size=settings.sync_workers)
    server, port = await serve(storage, settings.grpc_host, settings.storage_port, settings.sync_workers)
    if settings.metrics_port:
        serve_metrics(settings.metrics_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    log.info(
        "storage ready",
        extra={
            "fields": {
                "port": port,
                "database": storage.database.engine.url.render_as_string(hide_password=True),
                "definitions": str(settings.definitions_dir or "sql"),
            }
        },
    )
    await stop.wait()
    log.info("storage stopping")
    await server.stop(GRACE_SECONDS)
    storage.close()


def main() -> None:
    """Console script `vwmp-storage`."""
    settings = StorageSettings()
    configure_logging("storage", settings.log_level)
    asyncio.run(_run(settings))


if __name__ == "__main__":
    main()
