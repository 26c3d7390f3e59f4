"""What every run executor of one engine process shares."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from vwmp_proto.storage.v1 import storage_pb2
from vwmp_proto.storage.v1.storage_pb2_grpc import StorageServiceStub

from vwmp_engine.events import EventPublisher
from vwmp_engine.registry import StepTypeRegistry
from vwmp_engine.secrets import SecretStore

CONFIG_CACHE_SECONDS = 5.0


@dataclass
class EngineRuntime:
    """Clients, registries and limits shared by the executors of one engine."""

    storage: StorageServiceStub
    registry: StepTypeRegistry
    publisher: EventPublisher
    owner: str
    secrets: SecretStore
    step_slots: asyncio.Semaphore
    _config: tuple[float, dict[str, Any]] | None = field(default=None, repr=False)

    async def platform_config(self) -> dict[str, Any]:
        """The platform configuration document (cached for a few seconds)."""
        now = time.monotonic()
        if self._config is None or now - self._config[0] > CONFIG_CACHE_SECONDS:
            document = await self.storage.GetConfig(storage_pb2.GetConfigRequest())
            self._config = (now, json.loads(document.document_json or "{}"))
        return self._config[1]
