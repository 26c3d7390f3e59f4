"""The step types built into the engine, each declared (schemas) next to what it does.

`core/noop` and `core/sleep` run inside the engine like a plugin step would (slot, timeout);
`core/approval` waits for a person, so it takes no slot and no step timeout applies.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vwmp_engine.step_types import StepTypeInfo

if TYPE_CHECKING:
    from vwmp_engine.approval import ApprovalGate
    from vwmp_engine.run_state import StepRun


@dataclass(frozen=True, slots=True)
class CoreCall:
    """One attempt of a core step: its configuration and what it may use of the run."""

    step: StepRun
    config: dict[str, Any]
    dry_run: bool
    gate: ApprovalGate


@dataclass(frozen=True, slots=True)
class CoreStep:
    """A built-in step type: its description and its implementation."""

    info: StepTypeInfo
    run: Callable[[CoreCall], Awaitable[dict[str, Any]]]
    waits_for_person: bool = False  # no slot, no step timeout; the decision goes into step.succeeded


async def _noop(call: CoreCall) -> dict[str, Any]:
    return {}


async def _sleep(call: CoreCall) -> dict[str, Any]:
    if not call.dry_run:
        await asyncio.sleep(float(call.config.get("seconds", 0)))
    return {}


async def _approval(call: CoreCall) -> dict[str, Any]:
    return await call.gate.open(call.step, call.config)


CORE_STEPS: dict[str, CoreStep] = {
    step.info.type: step
    for step in (
        CoreStep(StepTypeInfo(
            "core/noop", "core", "No-op", "Does nothing; joins branches or marks a milestone.",
            {"type": "object", "additionalProperties": False, "properties": {}},
            {"type": "object", "properties": {}},
        ), _noop),
        CoreStep(StepTypeInfo(
            "core/sleep", "core", "Sleep", "Waits a number of seconds.",
            {"type": "object", "additionalProperties": False, "required": ["seconds"],
             "properties": {"seconds": {"type": "number", "minimum": 0, "maximum": 86400,
                                        "description": "How long to wait"}}},
            {"type": "object", "properties": {}},
        ), _sleep),
        CoreStep(StepTypeInfo(
            "core/approval", "core", "Approval",
            "Waits for a person with the operator role to approve or reject; shows the plan of the "
            "steps after it. Passes at once in a dry run.",
            {"type": "object", "additionalProperties": False,
             "properties": {"message": {"type": "string", "maxLength": 4000,
                                        "description": "What the approver is asked"}}},
            {"type": "object", "properties": {"approved_by": {"type": "string"},
                                              "comment": {"type": "string"}}},
        ), _approval, waits_for_person=True),
    )
}

CORE_STEP_TYPES: dict[str, StepTypeInfo] = {name: step.info for name, step in CORE_STEPS.items()}
"""The built-in step types as the palette and validation see them."""
