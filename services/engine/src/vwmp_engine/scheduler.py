"""The DAG scheduler: which steps are ready, and whether a ready step runs or is skipped.

Pure bookkeeping over step ids and states, no I/O: the executor tells it when a step settles
(became terminal) and takes ready steps from it. Readiness is counted, not searched, so a
settled step costs the work of its dependents only, however large the run.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from vwmp_common.states import TERMINAL_STEP_STATES, StepState

from vwmp_engine import expressions
from vwmp_engine.definition import StepSpec
from vwmp_engine.expression_functions import STATUS_FUNCTIONS, STATUS_SCOPE


class Scheduler:
    """Tracks, for every step, the needs not settled yet, and queues the steps whose needs all are."""

    def __init__(self, steps: Sequence[StepSpec], state_of: Callable[[str], StepState]) -> None:
        self._needs = {step.id: step.needs for step in steps}
        self._state_of = state_of
        self._dependents: dict[str, list[str]] = {step.id: [] for step in steps}
        for step in steps:
            for need in step.needs:
                self._dependents[need].append(step.id)
        self._unsettled_needs: dict[str, int] = {}
        self._ready: deque[str] = deque()
        self.unsettled = 0
        self.recount()

    def recount(self) -> None:
        """Count from the current states (at start, after a takeover or a reopen)."""
        self._ready.clear()
        self.unsettled = 0
        for step_id, needs in self._needs.items():
            if self._state_of(step_id) not in TERMINAL_STEP_STATES:
                self.unsettled += 1
            waiting = sum(self._state_of(need) not in TERMINAL_STEP_STATES for need in needs)
            self._unsettled_needs[step_id] = waiting
            if waiting == 0 and self._state_of(step_id) == StepState.PENDING:
                self._ready.append(step_id)

    def settled(self, step_id: str) -> None:
        """`step_id` became terminal: its dependents may be ready now."""
        self.unsettled -= 1
        for dependent in self._dependents[step_id]:
            self._unsettled_needs[dependent] -= 1
            if self._unsettled_needs[dependent] == 0 and self._state_of(dependent) == StepState.PENDING:
                self._ready.append(dependent)

    def next_ready(self) -> str | None:
        """The next step whose needs are all settled, or None."""
        return self._ready.popleft() if self._ready else None

    @property
    def waiting(self) -> int:
        """Steps ready but not taken yet."""
        return len(self._ready)

    @property
    def finished(self) -> bool:
        """Whether every step is terminal."""
        return self.unsettled == 0


def skip_reason(step: StepSpec, needs: Mapping[str, StepState], scope: Mapping[str, Any]) -> str | None:
    """Why a ready step is skipped, or None when it runs (docs/engine.md, Conditions).

    Without a condition that mentions `steps.<id>.state` or calls a status function
    (`success()`, `failure()`, `cancelled()`, `always()`), every need must have succeeded
    (an implicit `success()`); such a condition opts the step in whatever its needs' outcome.
    A condition that is false or cannot be evaluated skips the step.
    """
    condition = step.condition
    succeeded = all(state == StepState.SUCCEEDED for state in needs.values())
    if not status_aware(condition) and not succeeded:
        blocked = [need for need, state in needs.items() if state != StepState.SUCCEEDED]
        return f"needs did not succeed: {', '.join(blocked)}"
    if condition is not None:
        status = {"success": succeeded, "failure": StepState.FAILED in needs.values(),
                  "cancelled": StepState.CANCELLED in needs.values()}
        try:
            if not expressions.condition(condition, {**scope, STATUS_SCOPE: status}):
                return f"condition is false: {condition}"
        except expressions.ExpressionError as error:
            return f"condition could not be evaluated: {error}"
    return None


def status_aware(condition: str | None) -> bool:
    """Whether a condition opts its step in whatever its needs' outcome (a status function, a needs' state)."""
    if condition is None:
        return False
    tree = expressions.parse(expressions.condition_expression(condition))
    return any(call.name in STATUS_FUNCTIONS for call in expressions.calls(tree)) or any(
        ref.path[:1] == ("steps",) and len(ref.path) >= 3 and ref.path[2] == "state"
        for ref in expressions.references(tree))
