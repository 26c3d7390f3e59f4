"""The environment a plugin host starts with: what it needs, never the platform's secrets.

A plugin host runs third-party handlers in its own process; whatever is in its environment, they can
read. So `vwmp up` does not hand it the supervisor's environment but an allow-list: the basics of a
process (PATH, HOME, locale, time zone, TMPDIR), git's configuration locations, proxy and CA settings
(how the machine reaches remotes and forges), the plugin host's own `VWMP_` settings (its NATS user
among them) and the names the operator lists in `VWMP_PLUGIN_HOST_ENV` (comma-separated, e.g.
`SSH_AUTH_SOCK,GIT_SSH_COMMAND`). The database URL, the
workflow secrets (`VWMP_SECRET_*`, `VWMP_SECRETS_DIR`), the admin and service tokens and the other
services' NATS users never reach it: not even a name in `VWMP_PLUGIN_HOST_ENV` can pass them.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["BASICS", "HOST_SETTINGS", "NEVER", "plugin_host_env"]

BASICS = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "PYTHONUNBUFFERED",
    # git's configuration locations: which config git reads is the operator's choice for the git plugin
    "GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM", "GIT_CONFIG_NOSYSTEM",
    # how this machine reaches git remotes and forges
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy", "SSL_CERT_FILE", "SSL_CERT_DIR",
})
"""Variables every process may need (plus every `LC_*`)."""

HOST_SETTINGS = frozenset({
    "VWMP_WORKSPACE_ROOT", "VWMP_NATS_URL", "VWMP_NATS_USER", "VWMP_NATS_PASSWORD", "VWMP_GRPC_HOST",
    "VWMP_PLUGIN_HOST_PORT", "VWMP_METRICS_PORT", "VWMP_LOG_LEVEL", "VWMP_PLUGINS",
    "VWMP_PLUGIN_HOST_ADVERTISE_ADDRESS", "VWMP_PLUGIN_HOST_ID", "VWMP_PLUGIN_HOST_TOKEN",
    "VWMP_VALIDATORS_DIR",  # the project plugin's registered validator scripts
})
"""The plugin host's own settings (`PluginHostSettings`) and those its built-in plugins read."""

NEVER = ("VWMP_DATABASE_URL", "VWMP_SECRET_", "VWMP_SECRETS_DIR", "VWMP_ADMIN_TOKEN", "VWMP_SERVICE_TOKEN")
"""Names (or prefixes) a plugin host never gets, whoever asks for them."""


def _forbidden(name: str) -> bool:
    return any(name == never or (never.endswith("_") and name.startswith(never)) for never in NEVER)


def plugin_host_env(env: Mapping[str, str]) -> dict[str, str]:
    """The allow-listed part of `env` for a plugin host process (see the module docstring)."""
    extra = {name.strip() for name in env.get("VWMP_PLUGIN_HOST_ENV", "").split(",") if name.strip()}
    allowed = BASICS | HOST_SETTINGS | extra
    return {
        name: value for name, value in env.items()
        if (name in allowed or name.startswith("LC_")) and not _forbidden(name)
    }
