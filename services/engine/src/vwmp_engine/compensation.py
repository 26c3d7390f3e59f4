"""The unwind of a failed run: each succeeded step's `compensate`, in reverse order of completion.

A for_each step's `compensate` runs once per succeeded item (its instance `tag[2]`, with `item`,
`item_index`, and `steps.tag.outputs` as that item's outputs); the items are undone in reverse order
of their completion like any step, and the step itself becomes `compensated` with its last one.

It starts once every main step is terminal and the run would end `failed` (a failed step, the
run timeout), or `cancelled` by a cancel that asked for it (`compensate: true`, stored as the
run's `compensated: requested`). Compensations run one at a time, before the finally steps, each
retried per its own policy. Every outcome is stored on its step (`compensated`, or a
`compensation failed: …` error on a step that stays `succeeded`), so an engine that takes the run
over mid-unwind goes on with the next one and never repeats a finished compensation. The one in
flight is delivered again under the same idempotency key (`<run>/<step>/compensate/<n>`, its attempt
stored on the step with its `step.compensating`): a plugin host that finished it answers with its
outcome; one that cancelled it with the lost call runs it again (so an undo step must be idempotent,
as git/delete-tag and git/reset-to are); the attempts after it are what the policy has left.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import ChainMap
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from vwmp_common import metrics
from vwmp_common.logging import bind_log_context
from vwmp_common.states import EventType, RunState, StepState

from vwmp_engine.attempts import crash_failure
from vwmp_engine.core_steps import CORE_STEPS, CoreCall
from vwmp_engine.definition import StepSpec
from vwmp_engine.fan_out import NAMED_FAILURES, items_of
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


def undoable(step: StepRun) -> bool:
    """Whether the step is undone on its own: a step with `compensate`, or an item of a for_each step with one.

    A for_each step itself is not: its items are.
    """
    return step.spec.compensate is not None and step.instances is None


class Compensator:
    """Undoes the succeeded steps of a run that fails, one at a time, newest first."""

    def __init__(self, run: RunContext) -> None:
        self.run = run
        self.requested = run.stored.compensated == REQUESTED  # a cancel asked for the unwind
        finished = {step.id: step.finished_at for step in run.stored.steps}
        never = datetime.min.replace(tzinfo=UTC)
        # Steps terminal when this engine loaded the run, oldest first; those it sees finish come after.
        # Items of a for_each step count one by one (their rows have their own finished_at).
        self.completed: list[str] = sorted(
            (step_id for step_id, step in run.steps.items() if step.state == StepState.SUCCEEDED and undoable(step)),
            key=lambda step_id: finished.get(step_id) or never)
        self._known = set(self.completed)
        self._items: dict[str, list[Any]] = {}  # a for_each step's list, evaluated again for its items' undo
        self.task: asyncio.Task[None] | None = None
        self.attempted = False  # some compensation ran in this run (here or before a takeover)

    def step_finished(self, step: StepRun) -> None:
        """A step or an item reached a terminal state on this engine: remember the order of success."""
        if step.state == StepState.SUCCEEDED and undoable(step) and step.spec.id not in self._known:
            self.completed.append(step.spec.id)
            self._known.add(step.spec.id)

    def wanted(self, outcome: RunState) -> bool:
        """Whether a run that would end as `outcome` unwinds (a dry run changed nothing, so never)."""
        if self.run.dry_run:
            return False
        return outcome == RunState.FAILED or (outcome == RunState.CANCELLED and self.requested)

    def to_undo(self) -> list[StepRun]:
        """The steps whose compensation has not run yet, in the order they are undone."""
        steps = self.run.steps
        return [steps[step_id] for step_id in reversed(self.completed)
                if steps[step_id].state == StepState.SUCCEEDED and not compensation_failed(steps[step_id])]

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
        units = [step for step in self.run.steps.values() if undoable(step)]
        done = [step for step in units if step.state == StepState.COMPENSATED]
        failed = [step for step in units if compensation_failed(step)]
        if not done and not failed:
            return "" if not self.requested else "true"
        left = [step for step in units if step.state == StepState.SUCCEEDED and not compensation_failed(step)]
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
            await self._failed(step, step.spec.compensate, max(1, step.compensation_attempt), failure)

    async def _undo(self, step: StepRun) -> None:
        run = self.run
        undo = step.spec.compensate
        assert undo is not None
        bind_log_context(run_id=run.run_id, step_id=step.spec.id)
        budget = undo.retry.max_attempts
        item = self._item_data(step)
        # Taken over mid-unwind: the attempt in flight then is delivered again (same key), then the rest.
        first = max(1, min(step.compensation_attempt, budget))
        for attempt in range(first, budget + 1):
            step.compensation_attempt = attempt
            await run.record(Transition(EventType.STEP_COMPENSATING, step.spec.id, attempt=step.attempt,
                                        compensation_attempt=attempt, data={"uses": undo.uses, "attempt": attempt,
                                                                            **item}))
            try:
                config = render_config(undo, run.platform_config, self._scope(step))
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
                data={"uses": undo.uses, "attempt": attempt, **item, "outputs": run.redactor.scrub_value(outputs)}),
                *self._aggregate_settled(step))
            metrics.STEPS.labels(StepState.COMPENSATED).inc()
            return

    async def _failed(self, step: StepRun, undo: StepSpec | None, attempt: int, failure: StepFailed) -> None:
        message = self.run.redactor.scrub(failure.message)
        step.error = FAILED_PREFIX + message
        await self.run.record(Transition(
            EventType.STEP_COMPENSATION_FAILED, step.spec.id, attempt=step.attempt, error=step.error,
            data={"uses": undo.uses if undo else "", "attempt": attempt, **self._item_data(step), "error": message,
                  "kind": failure.kind}),
            *self._aggregate_settled(step))

    @staticmethod
    def _item_data(step: StepRun) -> dict[str, Any]:
        return {"item_index": step.item_index} if step.parent else {}

    def _scope(self, step: StepRun) -> Mapping[str, Any]:
        """The compensation's expression scope; an item's sees `item`, `item_index` and its own outputs.

        The list is evaluated again (its inputs are finished steps and parameters, so it is the list
        the step ran over), which gives a run taken over mid-unwind its items back too.
        """
        run = self.run
        if not step.parent:
            return run.scope
        if step.parent not in self._items:
            self._items[step.parent] = items_of(run.steps[step.parent].spec, run.scope)
        items = self._items[step.parent]
        if step.item_index >= len(items):
            raise StepFailed("config", f"for_each: the list has no item {step.item_index} any more")
        own = {step.parent: {"outputs": step.outputs, "state": str(step.state)}}
        return {**run.scope, "item": items[step.item_index], "item_index": step.item_index,
                "steps": ChainMap(own, run.scope["steps"])}

    def _aggregate_settled(self, item: StepRun) -> list[Transition]:
        """With the last item of a succeeded for_each step undone, the step's own outcome (same write)."""
        if not item.parent:
            return []
        aggregate = self.run.steps[item.parent]
        instances = aggregate.instances or []
        if aggregate.state != StepState.SUCCEEDED or any(
                undoable(i) and i.state == StepState.SUCCEEDED and not compensation_failed(i) for i in instances):
            return []
        failed = [i.spec.id for i in instances if compensation_failed(i)]
        undone = sum(1 for i in instances if i.state == StepState.COMPENSATED)
        uses = aggregate.spec.compensate.uses if aggregate.spec.compensate else ""
        if not failed:
            aggregate.state = StepState.COMPENSATED
            return [Transition(EventType.STEP_COMPENSATED, aggregate.spec.id, attempt=aggregate.attempt,
                               step_state=StepState.COMPENSATED, data={"uses": uses, "items": undone})]
        message = f"{len(failed)} of {len(failed) + undone} items: {', '.join(failed[:NAMED_FAILURES])}" + (
            f" and {len(failed) - NAMED_FAILURES} more" if len(failed) > NAMED_FAILURES else "")
        aggregate.error = FAILED_PREFIX + message
        return [Transition(EventType.STEP_COMPENSATION_FAILED, aggregate.spec.id, attempt=aggregate.attempt,
                           error=aggregate.error, data={"uses": uses, "items": undone + len(failed),
                                                        "failed": len(failed), "error": message, "kind": "error"})]

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
