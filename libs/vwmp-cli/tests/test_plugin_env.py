"""The plugin host's environment: an allow-list, never the platform's secrets (vwmp_cli.plugin_env)."""

from __future__ import annotations

from vwmp_cli.plugin_env import BASICS, HOST_SETTINGS, plugin_host_env
from vwmp_plugin_host.settings import PluginHostSettings

PLATFORM = {
    "PATH": "/usr/bin", "HOME": "/home/op", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TZ": "UTC",
    "VWMP_WORKSPACE_ROOT": "/ws", "VWMP_NATS_URL": "nats://127.0.0.1:14222", "VWMP_NATS_USER": "plugin-host",
    "VWMP_NATS_PASSWORD": "its-own", "VWMP_PLUGINS": "git", "VWMP_PLUGIN_HOST_PORT": "50053",
    "VWMP_DATABASE_URL": "postgresql+psycopg://vwmp:db-password@db/vwmp", "VWMP_SECRET_FORGE_TOKEN": "ghp_x",
    "VWMP_SECRETS_DIR": "/run/secrets", "VWMP_ADMIN_TOKEN": "vwmp_admin", "VWMP_SERVICE_TOKEN": "opens-storage",
    "VWMP_DATA_DIR": "/data", "AWS_SECRET_ACCESS_KEY": "aws", "GITHUB_TOKEN": "gh", "SSH_AUTH_SOCK": "/agent",
}


def test_the_plugin_host_gets_the_basics_and_its_own_settings_only() -> None:
    env = plugin_host_env(PLATFORM)
    assert env == {
        "PATH": "/usr/bin", "HOME": "/home/op", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TZ": "UTC",
        "VWMP_WORKSPACE_ROOT": "/ws", "VWMP_NATS_URL": "nats://127.0.0.1:14222", "VWMP_NATS_USER": "plugin-host",
        "VWMP_NATS_PASSWORD": "its-own", "VWMP_PLUGINS": "git", "VWMP_PLUGIN_HOST_PORT": "50053",
    }


def test_the_operator_adds_names_but_never_a_platform_secret() -> None:
    asked = "SSH_AUTH_SOCK, GITHUB_TOKEN,VWMP_DATABASE_URL,VWMP_SECRET_FORGE_TOKEN,VWMP_SERVICE_TOKEN,VWMP_ADMIN_TOKEN"
    env = plugin_host_env({**PLATFORM, "VWMP_PLUGIN_HOST_ENV": asked})
    assert env["SSH_AUTH_SOCK"] == "/agent" and env["GITHUB_TOKEN"] == "gh"
    for name in ("VWMP_DATABASE_URL", "VWMP_SECRET_FORGE_TOKEN", "VWMP_SERVICE_TOKEN", "VWMP_ADMIN_TOKEN",
                 "VWMP_SECRETS_DIR", "AWS_SECRET_ACCESS_KEY"):
        assert name not in env, name


def test_every_plugin_host_setting_is_passed_or_deliberately_withheld() -> None:
    """A new PluginHostSettings field must be decided on here, not silently dropped at start-up."""
    withheld = {"VWMP_DATA_DIR", "VWMP_STORAGE_PORT", "VWMP_ENGINE_PORT", "VWMP_STORAGE_ADDRESS",
                "VWMP_ENGINE_ADDRESS", "VWMP_SERVICE_TOKEN"}
    fields = {f"VWMP_{name.upper()}" for name in PluginHostSettings.model_fields}
    assert fields - HOST_SETTINGS - BASICS == withheld
