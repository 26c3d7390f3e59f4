"""How a step type is described, wherever it runs (built in, or on a plugin host)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SUB_WORKFLOW_PREFIX = "workflow/"  # `uses: workflow/<name>` calls another stored workflow


@dataclass(frozen=True)
class StepTypeInfo:
    """A step type with its schemas, wherever it runs."""

    type: str
    plugin: str
    title: str
    description: str
    config_schema: dict[str, Any] = field(default_factory=lambda: {"type": "object"})
    outputs_schema: dict[str, Any] = field(default_factory=lambda: {"type": "object"})
    icon: str = ""
    effects: str = "remote"  # local | remote | none: what a dry run may run for real in its scratch copy


def sub_workflow_name(uses: str) -> str | None:
    """The workflow a `workflow/<name>` step calls; None for any other step type."""
    return uses.removeprefix(SUB_WORKFLOW_PREFIX) if uses.startswith(SUB_WORKFLOW_PREFIX) else None
