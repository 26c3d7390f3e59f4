"""The step types built into the engine: core/noop, core/sleep, core/approval."""

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


CORE_STEP_TYPES: dict[str, StepTypeInfo] = {
    info.type: info
    for info in (
        StepTypeInfo(
            "core/noop", "core", "No-op", "Does nothing; joins branches or marks a milestone.",
            {"type": "object", "additionalProperties": False, "properties": {}},
            {"type": "object", "properties": {}},
        ),
        StepTypeInfo(
            "core/sleep", "core", "Sleep", "Waits a number of seconds.",
            {"type": "object", "additionalProperties": False, "required": ["seconds"],
             "properties": {"seconds": {"type": "number", "minimum": 0, "maximum": 86400,
                                        "description": "How long to wait"}}},
            {"type": "object", "properties": {}},
        ),
        StepTypeInfo(
            "core/approval", "core", "Approval",
            "Waits for a person with the operator role to approve or reject; shows the plan of the "
            "steps after it. Passes at once in a dry run.",
            {"type": "object", "additionalProperties": False,
             "properties": {"message": {"type": "string", "maxLength": 4000,
                                        "description": "What the approver is asked"}}},
            {"type": "object", "properties": {"approved_by": {"type": "string"},
                                              "comment": {"type": "string"}}},
        ),
    )
}
