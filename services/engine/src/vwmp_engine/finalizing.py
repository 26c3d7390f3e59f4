"""The end of a run: its `finally` steps, its `spec.outputs`, and the transition that ends it.

Finally steps run once every main step is terminal: after a normal end, and after a cancel or
the run timeout, which hand the run over to them (`run.finalizing`, the state it then ends as,
is stored, so an engine that takes the run over mid-finally ends it the same way). In their
scope `run.state` is what the run would end as and `run.failed_steps` its failed main steps;
a failing finally step fails a run that would have succeeded, never the reverse.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Coroutine, Iterable, Mapping
from typing import Any

from vwmp_common.states import TERMINAL_STEP_STATES, EventType, RunState, StepState, run_end_event

from vwmp_engine import expressions
from vwmp_engine.attempts import MAX_OUTPUT_BYTES, StepAttempts, guarded
from vwmp_engine.definition import StepSpec, WorkflowSpec
from vwmp_engine.expression_functions import STATUS_SCOPE
from vwmp_engine.run_state import RunContext, StepRun, final_state
from vwmp_engine.scheduler import Scheduler, status_aware
from vwmp_engine.store import Transition

log = logging.getLogger(__name__)
SUCCEEDING = frozenset({RunState.SUCCEEDED, RunState.SUCCEEDED_WITH_WARNINGS})


def outcome_status(outcome: RunState) -> dict[str, bool]:
    """What `success()`, `failure()` and `cancelled()` say in a finally step's `if:`."""
    return {"success": outcome in SUCCEEDING, "failure": outcome == RunState.FAILED,
            "cancelled": outcome == RunState.CANCELLED}


def finally_skip_reason(step: StepSpec, needs: Mapping[str, StepState], scope: Mapping[str, Any],
                        outcome: RunState) -> str | None:
    """Why a ready finally step is skipped, or None when it runs.

    Its status functions refer to the run's outcome, not to its needs; a condition without one
    (and without a `steps.<id>.state` test) runs the step only when its own needs all succeeded.
    """
    condition = step.condition
    blocked = [need for need, state in needs.items() if state != StepState.SUCCEEDED]
    if blocked and not status_aware(condition):
        return f"needs did not succeed: {', '.join(blocked)}"
    if condition is None:
        return None
    try:
        if not expressions.condition(condition, {**scope, STATUS_SCOPE: outcome_status(outcome)}):
            return f"condition is false: {condition}"
    except expressions.ExpressionError as error:
        return f"condition could not be evaluated: {error}"
    return None


def end_state(outcome: RunState, finally_steps: Iterable[StepRun]) -> RunState:
    """The state a run ends as: its outcome, failed by a failing finally step if it would have succeeded."""
    if outcome not in SUCCEEDING:
        return outcome
    failed = [step for step in finally_steps if step.state == StepState.FAILED]
    if any(not step.spec.optional for step in failed):
        return RunState.FAILED
    return RunState.SUCCEEDED_WITH_WARNINGS if failed else outcome


def evaluate_outputs(outputs: Mapping[str, Any], scope: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Each of `spec.outputs` evaluated; one that cannot be is null, and `outputs.<name>: why` is among the errors."""
    values: dict[str, Any] = {}
    errors: list[str] = []
    for name, value in outputs.items():
        try:
            values[name] = expressions.render(value, scope)
        except expressions.ExpressionError as error:
            values[name] = None
            errors.append(f"outputs.{name}: {error}")
    if len(json.dumps(values)) > MAX_OUTPUT_BYTES:
        return dict.fromkeys(outputs), [f"outputs: larger than {MAX_OUTPUT_BYTES} bytes"]
    return values, errors


def reopened_steps(spec: WorkflowSpec, again: list[str]) -> list[str]:
    """The steps a retry or a re-run reopens, with every finally step: they run again after the others."""
    return [*again, *(step.id for step in spec.finally_steps if step.id not in again)]


def finally_downstream(spec: WorkflowSpec, step_id: str) -> list[str] | None:
    """A re-run from a finally step: it and the finally steps after it; None when it is not a finally step."""
    if all(step.id != step_id for step in spec.finally_steps):
        return None
    return [step_id, *dataclasses.replace(spec, steps=spec.finally_steps).downstream(step_id)]


class Finalizer:
    """Runs a run's finally steps once its main steps are terminal, and builds the transition that ends it."""

    def __init__(self, run: RunContext, attempts: StepAttempts) -> None:
        self.run = run
        self.attempts = attempts
        stored = {step.id: step for step in run.stored.steps}
        for spec in run.spec.finally_steps:
            step = run.steps[spec.id] = StepRun(spec)
            if (row := stored.get(spec.id)) is not None:
                step.state, step.attempt, step.error, step.outputs = row.state, row.attempt, row.error, row.outputs
        self.steps = [run.steps[spec.id] for spec in run.spec.finally_steps]
        self.ids = frozenset(step.spec.id for step in self.steps)
        self.scheduler = Scheduler(run.spec.finally_steps, lambda step_id: run.steps[step_id].state)
        self.finalizing: RunState | None = run.stored.finalizing  # set once a cancel or timeout handed over
        self._handed_over: dict[str, Any] = {}  # who and why, when this engine saw the hand-over
        self._outcome: RunState | None = None
        self.started = False

    def main_steps(self) -> list[StepRun]:
        """Every step that is not a finally step."""
        return [step for step in self.run.steps.values() if step.spec.id not in self.ids]

    @property
    def pending(self) -> bool:
        """Whether some finally step is not terminal yet."""
        return any(step.state not in TERMINAL_STEP_STATES for step in self.steps)

    @property
    def outcome(self) -> RunState:
        """What the run would end as, before its finally steps have their say."""
        if self.finalizing is not None:
            return self.finalizing
        if self._outcome is None:
            self._outcome = final_state(self.main_steps())
        return self._outcome

    def advance(self) -> bool:
        """Start or go on with the finally steps (every main step is terminal); True once all are terminal."""
        run = self.run
        if not self.started:
            self.started = True
            self._expose(self.outcome)
            self.scheduler.recount()
        while run.dispatching and (step_id := self.scheduler.next_ready()) is not None:
            step = run.steps[step_id]
            if step.state != StepState.PENDING or step.task is not None:
                continue
            needs = {need: run.steps[need].state for need in step.spec.needs}
            reason = finally_skip_reason(step.spec, needs, run.scope, self.outcome)
            if reason is not None:
                step.state = StepState.SKIPPED
                self._spawn(step, self.attempts.skip(step, reason))
            else:
                self._spawn(step, self.attempts.run_step(step))
        return self.scheduler.finished

    async def hand_over(self, cancelled: list[Transition], final: RunState, actor: str, reason: str,
                        compensated: str = "") -> None:
        """Record a cancel or run timeout that hands the run over to its finally steps (`run.finalizing`),
        and to the unwind of its succeeded steps first when `compensated` is "requested"."""
        run = self.run
        paused = run.state == RunState.PAUSED  # the finally steps run even so
        await run.record(*cancelled, Transition(
            EventType.RUN_FINALIZING, run_state=RunState.RUNNING if paused else None, finalizing=final,
            compensated=compensated,
            data={"state": str(final), "reason": reason, "by": actor}))
        self.finalizing = final
        self._handed_over = {"by": actor, "reason": reason}
        if paused:
            run.state = RunState.RUNNING
        if self.started:
            self._expose(final)

    def end(self, final: RunState | None = None, data: dict[str, Any] | None = None) -> tuple[RunState, Transition]:
        """The state the run ends as and the transition that ends it, with its outputs.

        `final`: the state a cancel ends it as; otherwise its steps decide. An output that cannot
        be evaluated fails a run that would have succeeded, and is null otherwise.
        """
        run = self.run
        state = final or end_state(self.outcome, self.steps)
        data = {**self._handed_over, **(data or {})}
        failed = [step.spec.id for step in run.steps.values()
                  if step.state == StepState.FAILED and not step.parent]  # a failed item shows as its step
        if failed:
            data["failed_steps"] = failed
        outputs: dict[str, Any] | None = None
        if run.spec.outputs:
            self._expose(state)
            outputs, errors = evaluate_outputs(run.spec.outputs, run.scope)
            outputs = run.redactor.scrub_value(outputs)
            if errors and state in SUCCEEDING:
                state = RunState.FAILED
                data["error"] = run.redactor.scrub("; ".join(errors))
            data["outputs"] = outputs
        return state, Transition(run_end_event(state), run_state=state, data=data or None, run_outputs=outputs)

    def _expose(self, state: RunState) -> None:
        """`run.state` and `run.failed_steps` in the scope of the finally steps and of the outputs."""
        fields = self.run.scope["run"]
        fields["state"] = str(state)
        fields["failed_steps"] = [step.spec.id for step in self.main_steps()
                                  if step.state == StepState.FAILED and not step.parent]

    def _spawn(self, step: StepRun, work: Coroutine[Any, Any, None]) -> None:
        step.task = asyncio.create_task(guarded(self.run, step, work), name=f"finally-{self.run.run_id}-{step.spec.id}")
        step.task.add_done_callback(lambda _task: self._done(step))

    def _done(self, step: StepRun) -> None:
        self.run.task_ended(step, "finally step")
        if step.state in TERMINAL_STEP_STATES:
            self.scheduler.settled(step.spec.id)
        self.run.changed.set()
