"""Start-up of the plugin host: settings, JSON logging, plugin discovery, then serve until a signal."""

from __future__ import annotations

import asyncio
import logging

from vwmp_common.logging import configure_logging
from vwmp_common.metrics import serve_metrics
from vwmp_sdk import default_host_id, serve_until_signal

from vwmp_plugin_host.discovery import discover_plugins
from vwmp_plugin_host.settings import PluginHostSettings

log = logging.getLogger("vwmp_plugin_host")


def main() -> None:
    """Console script `vwmp-plugin-host`."""
    settings = PluginHostSettings()
    configure_logging("plugin-host", settings.log_level)
    plugins = discover_plugins(settings.allowed_plugins())
    if not plugins:
        log.warning("no plugins loaded: serving an empty host")
    serve_metrics(settings.metrics_port)
    asyncio.run(
        serve_until_signal(
            plugins,
            host=settings.grpc_host,
            port=settings.plugin_host_port,
            nats_url=settings.nats_url or None,
            advertise_address=settings.advertise_address(),
            host_id=settings.plugin_host_id or default_host_id(),
            workspace_root=settings.workspace_root,
        )
    )


if __name__ == "__main__":
    main()
