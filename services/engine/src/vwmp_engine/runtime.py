"""What every run executor of one engine process shares."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vwmp_engine.events import EventPublisher
from vwmp_engine.registry import StepTypeRegistry
from vwmp_engine.secrets import SecretStore
from vwmp_engine.store import Store

if TYPE_CHECKING:
    from vwmp_engine.sub_workflows import SubWorkflows


@dataclass
class EngineRuntime:
    """Storage, registries and limits shared by the executors of one engine."""

    store: Store
    registry: StepTypeRegistry
    publisher: EventPublisher
    owner: str
    secrets: SecretStore
    step_slots: asyncio.Semaphore
    sub_workflows: SubWorkflows | None = None  # set once the engine's controls exist (a child run is controlled)
