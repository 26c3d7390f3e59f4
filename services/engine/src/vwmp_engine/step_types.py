"""How a step type is described, wherever it runs (built in, or on a plugin host)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class StepTypeInfo:
    """A step type with its schemas, wherever it runs."""

    type: str
    plugin: str
    title: str
    description: str
    config_schema: dict[str, Any] = field(default_factory=lambda: {"type": "object"})
    outputs_schema: dict[str, Any] = field(default_factory=lambda: {"type": "object"})
