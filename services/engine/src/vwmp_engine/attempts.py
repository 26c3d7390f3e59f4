"""One step from dispatch to a terminal state: its attempts, retries with backoff, timeouts.

Every attempt is recorded before it starts (`step.started`), so a takeover dispatches the step
again as a new attempt; a plugin call carries the idempotency key `<run>/<step>/<attempt>`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import traceback
from collections.abc import Awaitable
from typing import Any

from vwmp_common import metrics
from vwmp_common.logging import bind_log_context
from vwmp_common.redaction import Redactor
from vwmp_common.states import TERMINAL_STEP_STATES, EventType, StepState

from vwmp_engine.approval import ApprovalGate
from vwmp_engine.core_steps import CORE_STEPS, CoreCall
from vwmp_engine.plugin_calls import StepFailed, execute_on_host
from vwmp_engine.run_state import RunContext, StepRun
from vwmp_engine.step_logs import StepLogBuffer, step_log_writer
from vwmp_engine.step_types import sub_workflow_name
from vwmp_engine.store import LeaseLost, RunClosed, StorageUnavailable, Transition

MAX_OUTPUT_BYTES = 256 * 1024
log = logging.getLogger(__name__)
JOIN_NEXT_WRITE_SECONDS = 0.002  # a finished step's write waits this long for the next step's start to join it
RUN_AHEAD_TRANSITIONS = 256  # steps without effects stop running ahead of storage when this many writes wait


def crash_failure(redactor: Redactor, step: StepRun, error: BaseException) -> StepFailed:
    """An unexpected exception in a step, logged and turned into the step's failure, secrets masked.

    Not retried: the same code fails the same way again. The traceback is logged as text with every
    secret of the run masked, never as `exc_info` (an exception's message may carry a secret).
    """
    trace = redactor.scrub("".join(traceback.format_exception(error)))
    log.error("step crashed", extra={"fields": {"step_id": step.spec.id, "exception": trace}})
    return StepFailed("error", redactor.scrub(f"internal error: {type(error).__name__}: {error}"))


async def guarded(run: RunContext, step: StepRun, work: Awaitable[None]) -> None:
    """Await a step's work; an unexpected exception ends the step as failed.

    Stopping instead, with the run still running, would release the run to be claimed again and
    crash again, forever.
    """
    try:
        await work
    except (LeaseLost, RunClosed, StorageUnavailable):  # not the step's fault: stop, taken over or again
        raise
    except Exception as error:
        if step.state in TERMINAL_STEP_STATES or run.stopping:
            raise
        failure = crash_failure(run.redactor, step, error)
        step.state, step.error = StepState.FAILED, failure.message
        await run.record(Transition(
            EventType.STEP_FAILED, step.spec.id, attempt=step.attempt, step_state=StepState.FAILED,
            error=failure.message, data={"error": failure.message, "kind": failure.kind}))
        metrics.STEPS.labels(StepState.FAILED).inc()


def attempt_budget(max_attempts: int, attempts_so_far: int) -> int:
    """Attempts a dispatched step gets: what its policy has left, and always at least one."""
    return max(1, max_attempts - attempts_so_far)


class StepAttempts:
    """Runs the steps of one run, attempt by attempt."""

    def __init__(self, run: RunContext, gate: ApprovalGate) -> None:
        self.run = run
        self.gate = gate

    async def run_step(self, step: StepRun) -> None:
        """Attempt the step until it succeeds, fails for good, or is cancelled."""
        run, spec = self.run, step.spec
        bind_log_context(run_id=run.run_id, step_id=spec.id)
        budget = attempt_budget(spec.retry.max_attempts, step.attempt)
        last_attempt = step.attempt + budget
        for attempt in range(step.attempt + 1, last_attempt + 1):
            step.attempt, step.state = attempt, StepState.RUNNING
            started = time.perf_counter()
            try:
                config = run.render_config(spec)
            except StepFailed as failure:
                await run.record(self._started(step))
                await self._fail(step, failure)
                return
            await self._record_start(step)
            error = await self._settle(step, started, self._attempt(step, config), final=attempt == last_attempt)
            if error is None:
                return
            delay = spec.retry.delay(attempt - (last_attempt - budget))
            if spec.retry.jitter:
                delay *= random.uniform(0.5, 1.0)
            step.state = StepState.RETRYING
            await run.record(Transition(
                EventType.STEP_RETRYING, spec.id, attempt=attempt, step_state=StepState.RETRYING, error=error,
                data={"attempt": attempt, "next_attempt": attempt + 1, "delay_seconds": round(delay, 3),
                      "error": error}))
            metrics.STEPS.labels(StepState.RETRYING).inc()
            await asyncio.sleep(delay)
            await run.wait_until_resumed()

    async def _record_start(self, step: StepRun) -> None:
        """Record the attempt's start; wait until it (and everything before it) is durable unless the step
        may run ahead.

        A step whose type declares no effects runs without waiting for storage: a crash before the
        write re-runs it (and the pure steps before it), which nobody can tell from running it once.
        Every other step starts only once its inputs are durable (see docs/engine.md, "Running ahead").
        """
        if self._runs_ahead(step) and self.run.transitions.backlog < RUN_AHEAD_TRANSITIONS:
            # It joins the next write: a pure 1-step run's start, step and end share one commit.
            self.run.record_detached(self._started(step), defer=JOIN_NEXT_WRITE_SECONDS)
            return
        await self.run.record(self._started(step))

    def _runs_ahead(self, step: StepRun) -> bool:
        """Whether the step's type declares no effects and waits for nobody (a gate must be durable first)."""
        core = CORE_STEPS.get(step.spec.uses)
        if core is not None and core.waits_for_person:
            return False
        info = self.run.runtime.registry.get(step.spec.uses)
        return info is not None and info.effects == "none"

    async def resume_approval(self, step: StepRun) -> None:
        """Taken over while a gate waited for a person: wait again, recording nothing new."""
        bind_log_context(run_id=self.run.run_id, step_id=step.spec.id)
        await self._settle(step, time.perf_counter(), self.gate.wait(step))

    async def skip(self, step: StepRun, reason: str) -> None:
        """Record that the step does not run, and why."""
        await self.run.record(Transition(EventType.STEP_SKIPPED, step.spec.id, attempt=step.attempt,
                                         step_state=StepState.SKIPPED, data={"reason": reason}))
        metrics.STEPS.labels(StepState.SKIPPED).inc()

    @staticmethod
    def _started(step: StepRun) -> Transition:
        return Transition(EventType.STEP_STARTED, step.spec.id, attempt=step.attempt, step_state=StepState.RUNNING,
                          clear_step=True)

    async def _settle(self, step: StepRun, started: float, call: Awaitable[dict[str, Any]],
                      final: bool = True) -> str | None:
        """Await one attempt and record its outcome; returns the error when it should be retried."""
        run = self.run
        try:
            outputs = await call
        except StepFailed as failure:
            metrics.STEP_DURATION.labels(step.spec.uses).observe(time.perf_counter() - started)
            if failure.retryable and not final and not (run.stopping or run.cancelling):
                return run.redactor.scrub(failure.message)
            await self._fail(step, failure)
            return None
        except (LeaseLost, RunClosed, StorageUnavailable):  # not the step's fault: stop, taken over or again
            raise
        except Exception as error:  # a bug in a step type, not the step's outcome: fail it once, never loop
            metrics.STEP_DURATION.labels(step.spec.uses).observe(time.perf_counter() - started)
            await self._fail(step, crash_failure(run.redactor, step, error))
            return None
        duration = time.perf_counter() - started
        metrics.STEP_DURATION.labels(step.spec.uses).observe(duration)
        outputs = run.redactor.scrub_value(outputs)
        if len(json.dumps(outputs)) > MAX_OUTPUT_BYTES:
            await self._fail(step, StepFailed("error", f"outputs larger than {MAX_OUTPUT_BYTES} bytes"))
            return None
        step.state, step.outputs, step.error = StepState.SUCCEEDED, outputs, ""
        data: dict[str, Any] = {"duration_ms": round(duration * 1000, 2)}
        core = CORE_STEPS.get(step.spec.uses)
        if core is not None and core.waits_for_person:  # the decision is a control: the event says who made it
            data.update(approved_by=outputs.get("approved_by", ""), comment=outputs.get("comment", ""))
        # Not awaited: the next step's start joins this write in one storage commit.
        run.record_detached(Transition(EventType.STEP_SUCCEEDED, step.spec.id, attempt=step.attempt,
                                       step_state=StepState.SUCCEEDED, outputs=outputs, data=data),
                            defer=JOIN_NEXT_WRITE_SECONDS)
        metrics.STEPS.labels(StepState.SUCCEEDED).inc()
        return None

    async def _fail(self, step: StepRun, failure: StepFailed) -> None:
        message = self.run.redactor.scrub(failure.message)
        step.state, step.error = StepState.FAILED, message
        await self.run.record(Transition(
            EventType.STEP_FAILED, step.spec.id, attempt=step.attempt, step_state=StepState.FAILED, error=message,
            data={"error": message, "kind": failure.kind, **({"by": failure.by} if failure.by else {})}))
        metrics.STEPS.labels(StepState.FAILED).inc()

    async def _attempt(self, step: StepRun, config: dict[str, Any]) -> dict[str, Any]:
        spec, run = step.spec, self.run
        core = CORE_STEPS.get(spec.uses)
        if core is not None and core.waits_for_person:
            return await core.run(CoreCall(step, config, run.dry_run, self.gate))
        if core is None and spec.uses.startswith("core/"):
            raise StepFailed("config", f"unknown core step type {spec.uses!r}")
        sub_workflows = run.runtime.sub_workflows
        if sub_workflows is not None and sub_workflow_name(spec.uses) is not None:
            async with run.parallel:  # no engine slot while it waits: the child's own steps need them
                return await self._within_timeout(step, sub_workflows.execute(run, step, config))
        async with run.parallel, run.runtime.step_slots:
            call = core.run(CoreCall(step, config, run.dry_run, self.gate)) if core else self._plugin(step, config)
            return await self._within_timeout(step, call)

    @staticmethod
    async def _within_timeout(step: StepRun, call: Awaitable[dict[str, Any]]) -> dict[str, Any]:
        timeout = step.spec.timeout
        if not timeout:
            return await call
        try:
            return await asyncio.wait_for(call, timeout)
        except TimeoutError:
            raise StepFailed("timeout", f"timed out after {timeout:g}s (the call was cancelled)") from None

    async def _plugin(self, step: StepRun, config: dict[str, Any]) -> dict[str, Any]:
        request = self.run.execute_request(step.spec, config, step.attempt)
        lines = StepLogBuffer(step_log_writer(self.run, step))
        try:
            return await execute_on_host(self.run.runtime.registry, request, lines.add)
        finally:
            await lines.flush()
