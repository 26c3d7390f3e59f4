"""Start-up of the engine service: run one `Engine` until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal

from vwmp_common.logging import configure_logging
from vwmp_common.metrics import serve_metrics

from vwmp_engine.engine import Engine
from vwmp_engine.settings import EngineSettings

log = logging.getLogger("vwmp_engine")


async def serve(settings: EngineSettings) -> None:
    """Serve until a signal asks the engine to stop."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with Engine(settings):
        serve_metrics(settings.metrics_port)
        await stop.wait()
        log.info("engine stopping")


def main() -> None:
    """The `vwmp-engine` command."""
    settings = EngineSettings()
    configure_logging("engine", settings.log_level)
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
