"""Settings shared by every service: the operator contract of ARCHITECTURE §7.

Each service subclasses `ServiceSettings`; every field is read from a `VWMP_`
environment variable, so two instances run side by side by changing ports and
folders only.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_PORTS = {"storage": 50051, "engine": 50052, "plugin_host": 50053}


class ServiceSettings(BaseSettings):
    """Settings every service reads."""

    model_config = SettingsConfigDict(env_prefix="VWMP_", extra="ignore")

    data_dir: Path = Field(Path(".vwmp"), description="SQLite file, NATS store, definitions, logs")
    workspace_root: Path = Field(Path("workspace"), description="Root folder every repo path resolves in")
    nats_url: str = Field("nats://127.0.0.1:4222", description="NATS server with JetStream")
    nats_user: str = Field("", description="NATS user of this service (its subject permissions); empty: none")
    nats_password: str = Field("", description="Password of VWMP_NATS_USER (never logged)", repr=False)
    grpc_host: str = Field("127.0.0.1", description="Address gRPC servers bind to (loopback by default)")
    storage_port: int = Field(DEFAULT_PORTS["storage"], description="gRPC port of the storage service")
    engine_port: int = Field(DEFAULT_PORTS["engine"], description="gRPC port of the engine service")
    plugin_host_port: int = Field(DEFAULT_PORTS["plugin_host"], description="gRPC port of the plugin host")
    storage_address: str = Field("", description="host:port of storage; default 127.0.0.1:<storage_port>")
    engine_address: str = Field("", description="host:port of the engine; default 127.0.0.1:<engine_port>")
    metrics_port: int = Field(0, description="Prometheus metrics port; 0 disables the metrics server")
    log_level: str = Field("INFO", description="Python logging level")
    service_token: str = Field(
        "",
        description="Shared secret between services (cluster mode): gRPC servers refuse calls without it "
        "(except health), clients send it as `authorization: Bearer <token>`; empty disables the check",
    )

    plugin_host_token: str = Field(
        "",
        description="Token between the engine and plugin hosts (plugin hosts never get VWMP_SERVICE_TOKEN, "
        "which opens storage); empty: VWMP_SERVICE_TOKEN is used",
        repr=False,
    )

    @field_validator("service_token", "plugin_host_token")
    @classmethod
    def _strip_token(cls, value: str) -> str:
        return value.strip()

    def storage_target(self) -> str:
        """Where to reach the storage service."""
        return self.storage_address or f"127.0.0.1:{self.storage_port}"

    def engine_target(self) -> str:
        """Where to reach the engine service."""
        return self.engine_address or f"127.0.0.1:{self.engine_port}"


def service_token_from_env() -> str:
    """`VWMP_SERVICE_TOKEN` as `ServiceSettings.service_token` reads it, without validating other settings.

    The gRPC bootstrap and the clients use it as their default, so every service gets the check
    without passing the secret around (and a malformed unrelated variable cannot disable it).
    """
    return os.environ.get("VWMP_SERVICE_TOKEN", "").strip()


def plugin_host_token_from_env() -> str:
    """The token of engine -> plugin host calls: `VWMP_PLUGIN_HOST_TOKEN`, else `VWMP_SERVICE_TOKEN`.

    Plugin hosts run plugins the platform may not trust; with their own token, a plugin that reads its
    host's environment holds nothing that storage or the engine accept.
    """
    return os.environ.get("VWMP_PLUGIN_HOST_TOKEN", "").strip() or service_token_from_env()
