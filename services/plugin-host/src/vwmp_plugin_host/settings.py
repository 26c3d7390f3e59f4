"""Settings of the plugin host (environment variables `VWMP_*`)."""

from __future__ import annotations

from pydantic import Field
from vwmp_common.settings import ServiceSettings


class PluginHostSettings(ServiceSettings):
    """What an operator sets for a plugin host; port is `VWMP_PLUGIN_HOST_PORT` from the base."""

    plugins: str = Field("", description="Comma-separated plugin names to load; empty: all")
    plugin_host_advertise_address: str = Field(
        "", description="host:port the engine dials; default 127.0.0.1:<VWMP_PLUGIN_HOST_PORT>"
    )
    plugin_host_id: str = Field("", description="Unique id of this host (NATS KV key); default hostname-pid")

    def allowed_plugins(self) -> set[str]:
        """The allow-list, empty meaning every plugin."""
        return {name.strip() for name in self.plugins.split(",") if name.strip()}

    def advertise_address(self) -> str:
        """Where the engine reaches this host."""
        return self.plugin_host_advertise_address or f"127.0.0.1:{self.plugin_host_port}"
