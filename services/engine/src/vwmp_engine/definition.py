"""A workflow definition as the engine uses it: steps, needs, policies.

Built only from definitions that passed validation, so it trusts the shape.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

DURATION_PATTERN = r"^(\d+(?:\.\d+)?)(ms|s|m|h)$"  # as the workflow JSON Schema's duration
_DURATION = re.compile(DURATION_PATTERN)
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def duration_seconds(value: float | int | str | None) -> float | None:
    """Seconds of a duration given as a number or text such as '500ms', '30s', '5m'."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    match = _DURATION.match(value.strip())
    if not match:
        raise ValueError(f"not a duration: {value!r}")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a failed step is tried again."""

    max_attempts: int = 1
    backoff: str = "exponential"
    initial_interval: float = 1.0
    max_interval: float = 60.0
    jitter: bool = False

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> RetryPolicy:
        if not data:
            return cls()
        return cls(
            max_attempts=int(data.get("max_attempts", 3)),
            backoff=str(data.get("backoff", "exponential")),
            initial_interval=duration_seconds(data.get("initial_interval")) or 1.0,
            max_interval=duration_seconds(data.get("max_interval")) or 60.0,
            jitter=bool(data.get("jitter", False)),
        )

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based), before jitter."""
        if self.backoff == "fixed":
            return min(self.initial_interval, self.max_interval)
        return min(self.initial_interval * 2.0 ** (attempt - 1), self.max_interval)


@dataclass(frozen=True)
class StepSpec:
    """One step of a definition."""

    id: str
    uses: str
    needs: tuple[str, ...] = ()
    config: dict[str, Any] = field(default_factory=dict)
    condition: str | None = None
    optional: bool = False
    timeout: float | None = None
    retry: RetryPolicy = RetryPolicy()
    for_each: str | list[Any] | None = None  # an expression or a literal list: one instance per element
    max_parallel: int | None = None  # instances of a for_each step at once (None: the run's limit)
    fail_fast: bool = False  # with for_each: the first failed item cancels the rest
    compensate: StepSpec | None = None  # how to undo the step when the run fails after it succeeded

    @classmethod
    def from_dict(cls, step: dict[str, Any]) -> StepSpec:
        undo = step.get("compensate")
        return cls(
            id=step["id"],
            uses=step["uses"],
            needs=tuple(step.get("needs", ())),
            config=dict(step.get("with") or {}),
            condition=step.get("if"),
            optional=bool(step.get("optional", False)),
            timeout=duration_seconds(step.get("timeout")),
            retry=RetryPolicy.from_dict(step.get("retry")),
            for_each=step.get("for_each"),
            max_parallel=step.get("max_parallel"),
            fail_fast=bool(step.get("fail_fast", False)),
            compensate=None if not isinstance(undo, dict) else cls(
                id=step["id"], uses=undo["uses"], config=dict(undo.get("with") or {}),
                timeout=duration_seconds(undo.get("timeout")), retry=RetryPolicy.from_dict(undo.get("retry"))),
        )


@dataclass(frozen=True)
class WorkflowSpec:
    """The parts of a definition the engine executes."""

    name: str
    parameters_schema: dict[str, Any]
    steps: tuple[StepSpec, ...]
    timeout: float | None = None
    max_parallel: int | None = None
    outputs: dict[str, Any] = field(default_factory=dict)  # evaluated when the run ends
    finally_steps: tuple[StepSpec, ...] = ()  # run after every other step is terminal

    @classmethod
    def from_definition(cls, definition: dict[str, Any]) -> WorkflowSpec:
        spec = definition.get("spec", {})
        return cls(
            name=definition.get("metadata", {}).get("name", ""),
            parameters_schema=spec.get("parameters") or {"type": "object"},
            steps=tuple(StepSpec.from_dict(step) for step in spec.get("steps", [])),
            timeout=duration_seconds(spec.get("timeout")),
            max_parallel=spec.get("max_parallel"),
            outputs=dict(spec.get("outputs") or {}),
            finally_steps=tuple(StepSpec.from_dict(step) for step in spec.get("finally") or []),
        )

    def step(self, step_id: str) -> StepSpec:
        return next(step for step in self.steps if step.id == step_id)

    def downstream(self, step_id: str) -> list[str]:
        """Ids of every step that depends on `step_id`, directly or not, in definition order."""
        found: set[str] = {step_id}
        changed = True
        while changed:
            changed = False
            for step in self.steps:
                if step.id not in found and any(need in found for need in step.needs):
                    found.add(step.id)
                    changed = True
        return [step.id for step in self.steps if step.id in found and step.id != step_id]
