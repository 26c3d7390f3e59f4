"""The step types built into the engine, each declared (schemas) next to what it does.

`core/noop` and `core/sleep` run inside the engine like a plugin step would (slot, timeout);
`core/approval` waits for a person, so it takes no slot and no step timeout applies.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from vwmp_common.json_pointer import pointer
from vwmp_common.schema_errors import explain

from vwmp_engine.definition import DURATION_PATTERN
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


APPROVAL_CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "message": {"type": "string", "maxLength": 4000, "description": "What the approver is asked"},
        "approvers": {
            "type": "object", "additionalProperties": False,
            "description": "Who may decide (default: role operator or higher)",
            "properties": {
                "roles": {"type": "array", "uniqueItems": True, "maxItems": 2,
                          "items": {"enum": ["operator", "admin"]},
                          "description": "Roles that may decide; a role admits the higher ones too"},
                "names": {"type": "array", "uniqueItems": True, "maxItems": 100,
                          "items": {"type": "string", "minLength": 1, "maxLength": 100},
                          "description": "Token or user names that may decide (they still need the operator role)"},
            },
        },
        "required": {"type": "integer", "minimum": 1, "maximum": 100, "default": 1,
                     "description": "Distinct approvals needed; one rejection rejects"},
        "allow_self_approval": {"type": "boolean", "default": False,
                                "description": "Whether whoever started the run may approve it"},
        "pin_plan": {"type": "boolean", "default": True,
                     "description": "An approval must carry the digest of the plan it approves"},
        "timeout": {"type": "string", "pattern": DURATION_PATTERN,
                    "description": "How long the gate waits (30s, 90m, 24h); then on_timeout applies"},
        "on_timeout": {"enum": ["reject", "approve"], "default": "reject",
                       "description": "What a timeout decides"},
        "inputs": {"type": "object", "description": "JSON Schema of what the approver fills in"},
    },
}
APPROVAL_OUTPUTS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "approved_by": {"type": "string", "description": "The approver who completed the gate, or timeout"},
        "comment": {"type": "string"},
        "plan": {"type": "array", "description": "The plan of the steps after the gate that was approved"},
        "plan_digest": {"type": "string", "description": "sha256 of the plan's canonical JSON"},
        "approvals": {"type": "array", "items": {"type": "object", "properties": {
            "by": {"type": "string"}, "at": {"type": "string"}, "comment": {"type": "string"}}}},
        "inputs": {"type": "object", "description": "What the approver filled in"},
    },
}


def approval_config_problems(config: dict[str, Any]) -> list[tuple[tuple[object, ...], str]]:
    """What the config schema cannot say: `inputs` must itself be a valid JSON Schema.

    Returns (path under `with`, message) pairs.
    """
    inputs = config.get("inputs")
    if not isinstance(inputs, dict):
        return []
    try:
        Draft202012Validator.check_schema(inputs)
    except SchemaError as error:
        return [(("inputs", *error.absolute_path), f"not a valid JSON Schema: {error.message}")]
    return []


def config_problems(uses: str, config: dict[str, Any]) -> list[str]:
    """Why a core step's rendered config breaks its schema, as `<pointer>: <reason>` lines.

    Validation checks the `with:` as written; an expression (a secret, a parameter) is only known
    once rendered. The reasons never quote the rendered value: it may be a secret.
    """
    step = CORE_STEPS.get(uses)
    if step is None:
        return []
    validator = Draft202012Validator(step.info.config_schema)
    problems = []
    for error in sorted(validator.iter_errors(config), key=lambda e: [str(part) for part in e.absolute_path]):
        if error.validator in ("required", "additionalProperties"):  # they name keys, not values
            problems += [str(problem) for problem in explain(error)]
        else:
            problems.append(f"{pointer(*error.absolute_path)}: fails {error.validator} {error.validator_value!r}")
    if uses == "core/approval":
        problems += [f"{pointer(*path)}: {message}" for path, message in approval_config_problems(config)]
    return problems


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
            {"type": "object", "properties": {}}, effects="none",
        ), _noop),
        CoreStep(StepTypeInfo(
            "core/sleep", "core", "Sleep", "Waits a number of seconds.",
            {"type": "object", "additionalProperties": False, "required": ["seconds"],
             "properties": {"seconds": {"type": "number", "minimum": 0, "maximum": 86400,
                                        "description": "How long to wait"}}},
            {"type": "object", "properties": {}}, effects="none",
        ), _sleep),
        CoreStep(StepTypeInfo(
            "core/approval", "core", "Approval",
            "Waits for the approvers its policy names (default: role operator or higher, not the run's "
            "starter) to approve or reject; shows the plan of the steps after it, and each approval is "
            "pinned to that plan's digest. Passes at once in a dry run.",
            APPROVAL_CONFIG_SCHEMA, APPROVAL_OUTPUTS_SCHEMA, effects="none",
        ), _approval, waits_for_person=True),
    )
}

CORE_STEP_TYPES: dict[str, StepTypeInfo] = {name: step.info for name, step in CORE_STEPS.items()}
"""The built-in step types as the palette and validation see them."""
