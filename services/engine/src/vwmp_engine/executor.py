"""Executes one run: the main loop, the run deadline, and the controls applied by its owner.

The run's state is kept in memory (`RunContext`) but every transition goes to storage first,
so another engine can take the run over from what is stored: terminal steps stay done, a step
that was running is dispatched again as a new attempt, a waiting approval gate waits again.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any

from vwmp_common import metrics
from vwmp_common.logging import bind_log_context
from vwmp_common.states import (
    TERMINAL_RUN_STATES,
    TERMINAL_STEP_STATES,
    EventType,
    RunState,
    StepState,
)

from vwmp_engine.approval import ApprovalGate, Decision
from vwmp_engine.attempts import JOIN_NEXT_WRITE_SECONDS, StepAttempts, guarded
from vwmp_engine.compensation import REQUESTED, Compensator
from vwmp_engine.fan_out import FanOut, aggregate_spec
from vwmp_engine.finalizing import Finalizer
from vwmp_engine.run_state import ControlRefused, RunContext, StepRun
from vwmp_engine.runtime import EngineRuntime
from vwmp_engine.scheduler import Scheduler, skip_reason
from vwmp_engine.scratch import discard_later
from vwmp_engine.store import LeaseLost, Run, RunClosed, Transition

log = logging.getLogger(__name__)


class RunExecutor:
    """Drives one run to a terminal state (or until its lease is lost)."""

    def __init__(self, runtime: EngineRuntime, run: Run, lease_epoch: int) -> None:
        self.run = RunContext(runtime, run, lease_epoch)
        self.gate = ApprovalGate(self.run)
        self.attempts = StepAttempts(self.run, self.gate)
        self.fan_out = FanOut(self.run, self.attempts, self._spawn)  # for_each steps, their instances restored
        self.scheduler = Scheduler(self.run.spec.steps, lambda step_id: self.run.steps[step_id].state)
        self.finalizer = Finalizer(self.run, self.attempts)
        self.compensator = Compensator(self.run)  # the unwind of a failing run, before its finally steps
        self.run.pending_undo = self.compensator.to_undo  # what an approval gate shows would be undone

    @property
    def state(self) -> RunState:
        """The run's state as this engine knows it."""
        return self.run.state

    @property
    def lost(self) -> bool:
        """Whether the lease was lost (nothing more may be written)."""
        return self.run.lost

    def fence(self, epoch: int) -> None:
        """Our own lease was claimed again (it ran out before a renewal): write with the new epoch."""
        self.run.transitions.epoch = epoch

    async def execute(self) -> None:
        """Run until every step is terminal, the run is cancelled, or the lease is lost."""
        bind_log_context(run_id=self.run.run_id)
        metrics.ACTIVE_RUNS.inc()
        try:
            await self._execute()
        except (LeaseLost, RunClosed) as reason:
            self.run.lost = True
            log.info("stopped executing run", extra={"fields": {"reason": str(reason)}})
        finally:
            metrics.ACTIVE_RUNS.dec()
            await self._abandon_tasks()
            if self.run.dry_run and self.run.state in TERMINAL_RUN_STATES and not self.run.lost:
                discard_later(self.run.runtime.registry, self.run.run_id)

    async def _execute(self) -> None:
        run = self.run
        if run.state in TERMINAL_RUN_STATES:
            return
        run.platform_config = await run.runtime.store.platform_config()
        # A cancel that arrived while the platform config was read has written the run's end:
        # starting it now would write after that end.
        if run.state == RunState.QUEUED and not run.cancelling:
            started: dict[str, Any] = {"dry_run": run.dry_run, "workflow": run.stored.workflow}
            if run.stored.concurrency is not None:  # it holds one of the key's slots from now on
                started["concurrency"] = {"key": run.stored.concurrency.key}
            # It joins the first step's start: a step that waits for storage waits for both.
            run.record_detached(Transition(EventType.RUN_STARTED, run_state=RunState.RUNNING, data=started),
                                defer=JOIN_NEXT_WRITE_SECONDS)
            run.state = RunState.RUNNING
        for step in run.steps.values():  # taken over: what was in flight is dispatched again
            if step.state in (StepState.RUNNING, StepState.RETRYING):
                step.state = StepState.PENDING
            elif step.state == StepState.AWAITING_APPROVAL and not step.parent:  # an instance's: its fan-out's
                self._spawn(step, self.attempts.resume_approval(step))
        self.scheduler.recount()
        deadline = self._deadline()
        while not run.stopping and run.state not in TERMINAL_RUN_STATES:
            if run.state == RunState.RUNNING:
                self._dispatch_ready()
            if not run.cancelling and self.scheduler.finished \
                    and self.compensator.advance(self.finalizer.outcome) and self.finalizer.advance():
                await self._finish()
                return
            run.changed.clear()
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                await asyncio.wait_for(run.changed.wait(), timeout)
            except TimeoutError:
                await self._time_out()
                deadline = None  # handed over to the finally steps, or ended

    def _deadline(self) -> float | None:
        """When the run timeout expires: counted from the run's first start or its latest reopening."""
        timeout = self.run.spec.timeout
        if not timeout:
            return None
        began = self.run.stored.reopened_at or self.run.stored.started_at
        elapsed = (datetime.now(UTC) - began).total_seconds() if began else 0.0
        return time.monotonic() + max(0.0, timeout - elapsed)

    def _end(self, final: RunState | None = None, data: dict[str, Any] | None = None) -> tuple[RunState, Transition]:
        """The finalizer's end of the run, with what its unwind undid (`compensated`)."""
        final, end = self.finalizer.end(final, data)
        summary = self.compensator.summary()
        if not summary:
            return final, end
        shown: bool | str = True if summary == "true" else summary  # as the API's `compensated`
        return final, dataclasses.replace(end, compensated=summary, data={**(end.data or {}), "compensated": shown})

    async def _finish(self) -> None:
        final, end = self._end()
        await self.run.record(end)
        self.run.state = final
        metrics.RUNS.labels(final).inc()

    def _dispatch_ready(self) -> None:
        run = self.run
        while run.dispatching and (step_id := self.scheduler.next_ready()) is not None:
            step = run.steps[step_id]
            if step.state != StepState.PENDING or step.task is not None:
                continue
            needs = {need: run.steps[need].state for need in step.spec.needs}
            fans_out = step.instances is not None
            reason = skip_reason(aggregate_spec(step.spec) if fans_out else step.spec, needs, run.scope)
            if reason is not None:
                step.state = StepState.SKIPPED
                self._spawn(step, self.fan_out.skip(step, reason) if fans_out else self.attempts.skip(step, reason))
            else:
                self._spawn(step, self.fan_out.execute(step) if fans_out else self.attempts.run_step(step))
        metrics.DISPATCH_QUEUE.set(self.scheduler.waiting)

    def _spawn(self, step: StepRun, work: Coroutine[Any, Any, None]) -> None:
        step.task = asyncio.create_task(guarded(self.run, step, work), name=f"step-{self.run.run_id}-{step.spec.id}")
        step.task.add_done_callback(lambda _task: self._step_done(step))

    def _step_done(self, step: StepRun) -> None:
        self.run.task_ended(step, "step")
        if step.state in TERMINAL_STEP_STATES:
            self.compensator.step_finished(step)  # an item is undone on its own
            if not step.parent:  # an instance settles with its step
                self.scheduler.settled(step.spec.id)
        self._dispatch_ready()
        self.run.changed.set()

    # ----- controls (called on the owning engine) ------------------------------------------------

    async def decide(self, decision: Decision, step_id: str) -> None:
        """Approve or reject a gate waiting for a person, under its policy (see `ApprovalGate.decide`)."""
        try:
            await self.gate.decide(step_id, decision)
        except (LeaseLost, RunClosed) as closed:  # cancelled or taken over while the decision was applied
            raise ControlRefused(f"the run changed while the decision was applied ({closed}); look again") from None

    async def pause(self, actor: str) -> None:
        """Dispatch nothing new; running steps finish, a retry waits."""
        if self.run.state != RunState.RUNNING:
            raise ControlRefused(f"run is {self.run.state}; only a running run can be paused")
        self.run.state = RunState.PAUSED
        await self.run.record(Transition(EventType.RUN_PAUSED, run_state=RunState.PAUSED, data={"by": actor}))

    async def resume(self, actor: str) -> None:
        """Dispatch again."""
        if self.run.state != RunState.PAUSED:
            raise ControlRefused(f"run is {self.run.state}; only a paused run can be resumed")
        self.run.state = RunState.RUNNING
        await self.run.record(Transition(EventType.RUN_RESUMED, run_state=RunState.RUNNING, data={"by": actor}))
        self.run.changed.set()

    async def cancel(self, actor: str, reason: str = "cancelled", final: RunState = RunState.CANCELLED,
                     compensate: bool = False) -> None:
        """Cancel in-flight steps (their gRPC calls are cancelled), then every step left, then the run.

        A started run with finally steps still to run is handed over to them instead: its main steps
        are cancelled, the finally steps run, then it ends as `final`. A cancel while they run (the
        second one) cancels them too, and the run ends as the first one said.

        With `compensate` (or `final` failed, the run timeout) a run with succeeded steps to undo is
        handed over too: their compensations run (docs/engine.md, Compensation), then the finally
        steps. A cancel during an unwind that did not ask for it stops the unwind.
        """
        run, finalizer, compensator = self.run, self.finalizer, self.compensator
        if run.state in TERMINAL_RUN_STATES or run.stopping or run.cancelling:
            raise ControlRefused(f"run is already {'cancelling' if run.cancelling else run.state}")
        run.cancelling = True
        if compensate and final == RunState.CANCELLED and not run.dry_run:
            compensator.requested = True
        unwinds = compensator.wanted(final) and bool(compensator.to_undo())
        if not unwinds or finalizer.finalizing is not None:
            await compensator.stop()
        hand_over = finalizer.finalizing is None and (finalizer.pending or unwinds) and run.state != RunState.QUEUED
        steps = finalizer.main_steps() if hand_over else list(run.steps.values())
        in_flight = [step.task for step in steps if step.task is not None]
        for task in in_flight:
            task.cancel()
        await asyncio.gather(*in_flight, return_exceptions=True)
        left = [step for step in steps if step.state not in TERMINAL_STEP_STATES]
        batch = [Transition(EventType.STEP_CANCELLED, step.spec.id, attempt=step.attempt,
                            step_state=StepState.CANCELLED, data={"reason": reason}) for step in left]
        for step in left:
            step.state = StepState.CANCELLED
        if hand_over:
            await finalizer.hand_over(batch, final, actor, reason,
                                      compensated=REQUESTED if unwinds and compensator.requested else "")
            self.scheduler.recount()
            run.cancelling = False
        else:
            final, end = self._end(finalizer.finalizing or final, {"by": actor, "reason": reason})
            await run.record(*batch, end)
            run.state = final
            metrics.RUNS.labels(final).inc()
        run.changed.set()

    async def _time_out(self) -> None:
        if self.finalizer.finalizing is not None:
            return  # handed over already: the finally steps run with their own timeouts
        with contextlib.suppress(ControlRefused):
            await self.cancel("engine", reason=f"run timed out after {self.run.spec.timeout:g}s",
                              final=RunState.FAILED)

    async def give_up(self, reason: str) -> None:
        """End the run as failed, running nothing more: executing it kept crashing the engine."""
        run = self.run
        left = [step for step in run.steps.values() if step.state not in TERMINAL_STEP_STATES]
        batch = [Transition(EventType.STEP_FAILED, step.spec.id, attempt=step.attempt, step_state=StepState.FAILED,
                            error=reason, data={"error": reason, "kind": "error"}) for step in left]
        for step in left:
            step.state, step.error = StepState.FAILED, reason
        final, end = self._end(RunState.FAILED, {"by": "engine", "reason": reason})
        await run.record(*batch, end)
        run.state = final

    def abandon(self) -> None:
        """The lease was lost: stop at once, writing nothing more (storage would refuse it anyway)."""
        self.run.stop(lost=True)

    def stop_unrenewed(self) -> None:
        """The lease could not be renewed in time (storage unreachable): stop before another engine claims it.

        The plugin calls in flight are cancelled (by `execute` as it returns) and nothing more is sent
        to storage, not even the writes waiting for it.
        """
        self.run.transitions.close(LeaseLost("lease not renewed in time; stopped executing the run"))
        self.run.stop(lost=True)

    async def _abandon_tasks(self) -> None:
        tasks = [step.task for step in self.run.steps.values() if step.task is not None]
        if self.compensator.task is not None:
            tasks.append(self.compensator.task)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self.run.transitions.flush()
