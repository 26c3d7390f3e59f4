"""The unwind of a failed run: each succeeded step's `compensate`, in reverse order of completion.

It starts once every main step is terminal and the run would end `failed` (a failed step, the
run timeout), or `cancelled` by a cancel that asked for it (`compensate: true`, stored as the
run's `compensated: requested`). Compensations run one at a time, before the finally steps, each
retried per its own policy. Every outcome is stored on its step (`compensated`, or a
`compensation failed: …` error on a step that stays `succeeded`), so an engine that takes the run
over mid-unwind goes on with the next one and never repeats a finished compensation. The one in
flight is delivered again under the same idempotency key (`<run>/<step>/compensate/<n>`): a plugin
host that finished it answers with its outcome; one that cancelled it with the lost call runs it
again (so an undo step must be idempotent, as git/delete-tag and git/reset-to are).
"""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import UTC, datetime
from typing import Any

from vwmp_common import metrics
from vwmp_common.logging import bind_log_context
from vwmp_common.states import EventType, RunState, StepState

from vwmp_engine.attempts import crash_failure
from vwmp_engine.core_steps import CORE_STEPS, CoreCall
from vwmp_engine.definition import StepSpec
from vwmp_engine.plugin_calls import StepFailed, execute_on_host, execute_request
from vwmp_engine.run_state import RunContext, StepRun, render_config
from vwmp_engine.step_logs import StepLogBuffer, step_log_writer
from vwmp_engine.store import LeaseLost, RunClosed, StorageUnavailable, Transition

log = logging.getLogger(__name__)
FAILED_PREFIX = "compensation failed: "
REQUESTED = "requested"  # the run's `compensated` while a cancel's unwind is under way


def compensation_failed(step: StepRun) -> bool:
    """Whether the step's compensation ran and failed for good (the step stays `succeeded`)."""
    return step.state == StepState.SUCCEEDED and step.error.startswith(FAILED_PREFIX)


class Compensator:
    """Undoes the succeeded steps of a run that fails, one at a time, newest first."""

    def __init__(self, run: RunContext) -> None:
        self.run = run
        self.requested = run.stored.compensated == REQUESTED  # a cancel asked for the unwind
        finished = {step.id: step.finished_at for step in run.stored.steps}
        never = datetime.min.replace(tzinfo=UTC)
        # Steps terminal when this engine loaded the run, oldest first; those it sees finish come after.
        self.completed: list[str] = sorted(
            (step_id for step_id, step in run.steps.items() if step.state == StepState.SUCCEEDED),
            key=lambda step_id: finished.get(step_id) or never)
        self.task: asyncio.Task[None] | None = None
        self.attempted = False  # some compensation ran in this run (here or before a takeover)

    def step_finished(self, step: StepRun) -> None:
        """A main step reached a terminal state on this engine: remember the order of success."""
        if step.state == StepState.SUCCEEDED and not step.parent and step.spec.id not in self.completed:
            self.completed.append(step.spec.id)

    def wanted(self, outcome: RunState) -> bool:
        """Whether a run that would end as `outcome` unwinds (a dry run changed nothing, so never)."""
        if self.run.dry_run:
            return False
        return outcome == RunState.FAILED or (outcome == RunState.CANCELLED and self.requested)

    def to_undo(self) -> list[StepRun]:
        """The steps whose compensation has not run yet, in the order they are undone."""
        steps = self.run.steps
        return [steps[step_id] for step_id in reversed(self.completed)
                if steps[step_id].spec.compensate is not None and steps[step_id].state == StepState.SUCCEEDED
                and not compensation_failed(steps[step_id])]

    def advance(self, outcome: RunState) -> bool:
        """Start the next compensation when none runs; True once there is nothing (more) to undo."""
        if self.task is not None:
            return False
        if not self.wanted(outcome):
            return True
        left = self.to_undo()
        if not left:
            return True
        if not self.run.dispatching:
            return False
        step = left[0]
        self.task = asyncio.create_task(self._guarded(step), name=f"compensate-{self.run.run_id}-{step.spec.id}")
        self.task.add_done_callback(self._done)
        return False

    def summary(self) -> str:
        """The run's `compensated` at its end: "true", "partial", or "" when nothing was undone."""
        undoable = [step for step in self.run.steps.values() if step.spec.compensate is not None and not step.parent]
        done = [step for step in undoable if step.state == StepState.COMPENSATED]
        failed = [step for step in undoable if compensation_failed(step)]
        if not done and not failed:
            return "" if not self.requested else "true"
        left = [step for step in undoable if step.state == StepState.SUCCEEDED and not compensation_failed(step)]
        return "partial" if failed or left else "true"

    async def stop(self) -> None:
        """Cancel the compensation in flight (a second cancel, or the lease lost)."""
        task = self.task
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.task = None
        if not task.cancelled() and isinstance(task.exception(), (LeaseLost, RunClosed)):
            self.run.stop(lost=True)
        elif not task.cancelled() and task.exception() is not None:
            log.error("compensation task crashed", extra={"fields": {"error": str(task.exception())}})
            self.run.stop(lost=False)
        self.run.changed.set()

    async def _guarded(self, step: StepRun) -> None:
        try:
            await self._undo(step)
        except (LeaseLost, RunClosed, StorageUnavailable, asyncio.CancelledError):
            raise
        except Exception as error:  # a bug, not the compensation's outcome: record it once, never loop
            failure = crash_failure(self.run.redactor, step, error)
            await self._failed(step, step.spec.compensate, 1, failure)

    async def _undo(self, step: StepRun) -> None:
        run = self.run
        undo = step.spec.compensate
        assert undo is not None
        bind_log_context(run_id=run.run_id, step_id=step.spec.id)
        budget = undo.retry.max_attempts
        for attempt in range(1, budget + 1):
            await run.record(Transition(EventType.STEP_COMPENSATING, step.spec.id, attempt=step.attempt,
                                        data={"uses": undo.uses, "attempt": attempt}))
            try:
                config = render_config(undo, run.platform_config, run.scope)
                outputs = await self._call(step, undo, config, attempt)
            except StepFailed as failure:
                if failure.retryable and attempt < budget and not run.stopping:
                    delay = undo.retry.delay(attempt) * (random.uniform(0.5, 1.0) if undo.retry.jitter else 1.0)
                    await asyncio.sleep(delay)
                    continue
                await self._failed(step, undo, attempt, failure)
                return
            step.state = StepState.COMPENSATED
            await run.record(Transition(
                EventType.STEP_COMPENSATED, step.spec.id, attempt=step.attempt, step_state=StepState.COMPENSATED,
                data={"uses": undo.uses, "attempt": attempt, "outputs": run.redactor.scrub_value(outputs)}))
            metrics.STEPS.labels(StepState.COMPENSATED).inc()
            return

    async def _failed(self, step: StepRun, undo: StepSpec | None, attempt: int, failure: StepFailed) -> None:
        message = self.run.redactor.scrub(failure.message)
        step.error = FAILED_PREFIX + message
        await self.run.record(Transition(
            EventType.STEP_COMPENSATION_FAILED, step.spec.id, attempt=step.attempt, error=step.error,
            data={"uses": undo.uses if undo else "", "attempt": attempt, "error": message, "kind": failure.kind}))

    async def _call(self, step: StepRun, undo: StepSpec, config: dict[str, Any], attempt: int) -> dict[str, Any]:
        """One attempt of the compensation: a core step, or a plugin call under its own idempotency key."""
        run = self.run
        core = CORE_STEPS.get(undo.uses)
        if core is not None and core.waits_for_person:
            raise StepFailed("config", f"{undo.uses} cannot compensate (it waits for a person)")
        if core is None and undo.uses.startswith("core/"):
            raise StepFailed("config", f"unknown core step type {undo.uses!r}")
        async with run.runtime.step_slots:
            if core is not None:
                call = core.run(CoreCall(StepRun(undo, attempt=attempt), config, False, None))  # type: ignore[arg-type]
            else:
                call = self._plugin(step, undo, config, attempt)
            if not undo.timeout:
                return await call
            try:
                return await asyncio.wait_for(call, undo.timeout)
            except TimeoutError:
                raise StepFailed("timeout", f"timed out after {undo.timeout:g}s (the call was cancelled)") from None

    async def _plugin(self, step: StepRun, undo: StepSpec, config: dict[str, Any], attempt: int) -> dict[str, Any]:
        run = self.run
        request = execute_request(undo.uses, config, run_id=run.run_id, step_id=step.spec.id, attempt=attempt,
                                  idempotency_key=f"{run.run_id}/{step.spec.id}/compensate/{attempt}",
                                  dry_run=False, platform_config=run.platform_config, redact=run.redactor.values)
        lines = StepLogBuffer(step_log_writer(run, step))
        try:
            return await execute_on_host(run.runtime.registry, request, lines.add)
        finally:
            await lines.flush()
