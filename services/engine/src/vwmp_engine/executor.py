"""Executes one run: the DAG scheduler, step attempts, retries, timeouts and controls.

The executor keeps the run's state in memory but every transition goes to
storage first (through `TransitionLog`), so another engine can take the run
over from what is stored: terminal steps stay done, a step that was running
is dispatched again as a new attempt (at-least-once delivery; handlers get an
idempotency key `<run>/<step>/<attempt>`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from vwmp_common import metrics
from vwmp_common.logging import bind_log_context
from vwmp_common.redaction import Redactor
from vwmp_common.timeutil import parse_iso
from vwmp_proto.plugin.v1 import plugin_pb2
from vwmp_proto.storage.v1 import storage_pb2

from vwmp_engine import expressions
from vwmp_engine.definition import StepSpec, WorkflowSpec
from vwmp_engine.events import LeaseLost, RunClosed, TransitionLog
from vwmp_engine.plugin_calls import StepFailed, execute_on_host
from vwmp_engine.runtime import EngineRuntime

log = logging.getLogger(__name__)

TERMINAL_RUN = frozenset({"succeeded", "succeeded_with_warnings", "failed", "cancelled"})
TERMINAL_STEP = frozenset({"succeeded", "failed", "skipped", "cancelled"})
MAX_OUTPUT_BYTES = 256 * 1024
JOIN_NEXT_WRITE_SECONDS = 0.002


class ControlRefused(Exception):
    """A control that the run's current state does not allow."""


@dataclass
class StepState:
    """What the executor knows of one step."""

    spec: StepSpec
    state: str = "pending"
    attempt: int = 0
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    task: asyncio.Task[None] | None = None
    decision: asyncio.Future[tuple[bool, str, str]] | None = None


def transition(event_type: str, step_id: str = "", *, attempt: int = 0, data: dict[str, Any] | None = None,
               run_state: str = "", step_state: str = "", outputs: dict[str, Any] | None = None,
               error: str = "", clear_step: bool = False, reopen: bool = False) -> storage_pb2.Transition:
    """A storage Transition from keyword arguments."""
    return storage_pb2.Transition(
        event_type=event_type, step_id=step_id, attempt=attempt,
        data_json=json.dumps(data) if data else "", run_state=run_state, step_state=step_state,
        outputs_json=json.dumps(outputs) if outputs is not None else "", error=error,
        clear_step=clear_step, reopen=reopen,
    )


class RunExecutor:
    """Drives one run to a terminal state (or until its lease is lost)."""

    def __init__(self, runtime: EngineRuntime, run: storage_pb2.Run, lease_epoch: int) -> None:
        self.runtime = runtime
        self.run_id = run.id
        self.run = run
        self.definition: dict[str, Any] = json.loads(run.definition_json)
        self.spec = WorkflowSpec.from_definition(self.definition)
        self.parameters: dict[str, Any] = json.loads(run.parameters_json or "{}")
        self.dry_run = run.dry_run
        self.state = run.state
        self.log = TransitionLog(runtime.storage, runtime.publisher, run.id, runtime.owner, lease_epoch)
        self.steps: dict[str, StepState] = {}
        stored = {step.id: step for step in run.steps}
        for spec in self.spec.steps:
            row = stored.get(spec.id)
            state = StepState(spec)
            if row is not None:
                state.state, state.attempt, state.error = row.state, row.attempt, row.error
                state.outputs = json.loads(row.outputs_json or "{}")
            self.steps[spec.id] = state
        self.secret_values = runtime.secrets.lookup_table(runtime.secrets.referenced(self.definition))
        self.redactor = Redactor(list(self.secret_values.values()))
        self.platform_config: dict[str, Any] = {}
        self._changed = asyncio.Event()
        self._stopping = False
        self._cancelling = False
        self._lost = False
        self._parallel = asyncio.Semaphore(self.spec.max_parallel or 10_000)
        self._dependents: dict[str, list[str]] = {sid: [] for sid in self.steps}
        for spec in self.spec.steps:
            for need in spec.needs:
                self._dependents[need].append(spec.id)
        self._unsettled_needs: dict[str, int] = {}
        self._ready: deque[str] = deque()
        self._unsettled_steps = len(self.steps)
        self._scope = {
            "params": self.parameters,
            "steps": _StepsView(self.steps),
            "run": {"id": self.run_id, "workflow": self.run.workflow, "version": self.run.version,
                    "dry_run": self.dry_run},
            "secrets": self.secret_values,
        }

    # ----- the main loop -------------------------------------------------------------------------

    async def execute(self) -> None:
        """Run until every step is terminal, the run is cancelled, or the lease is lost."""
        bind_log_context(run_id=self.run_id)
        metrics.ACTIVE_RUNS.inc()
        try:
            await self._execute()
        except (LeaseLost, RunClosed) as reason:
            self._lost = True
            log.info("stopped executing run", extra={"fields": {"reason": str(reason)}})
        finally:
            metrics.ACTIVE_RUNS.dec()
            await self._abandon_tasks()

    async def _execute(self) -> None:
        if self.state in TERMINAL_RUN:
            return
        self.platform_config = await self.runtime.platform_config()
        if self.state == "queued":
            await self._record(transition("run.started", run_state="running",
                                          data={"dry_run": self.dry_run, "workflow": self.run.workflow}))
            self.state = "running"
        for step in self.steps.values():  # taken over: what was in flight is dispatched again
            if step.state in ("running", "retrying"):
                step.state = "pending"
            elif step.state == "awaiting_approval":
                self._spawn(step, self._run_step(step, resume_approval=True))
        self._compute_readiness()
        deadline = await self._run_deadline()
        while not self._stopping and self.state not in TERMINAL_RUN:
            if self.state == "running":
                self._dispatch_ready()
            if not self._cancelling and self._finished():
                await self._finish()
                return
            self._changed.clear()
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                await asyncio.wait_for(self._changed.wait(), timeout)
            except TimeoutError:
                await self._time_out_run()
                return

    async def _run_deadline(self) -> float | None:
        """When the run-level timeout expires: counted from the run's start, or from its last reopening."""
        if not self.spec.timeout:
            return None
        began = self.run.started_at
        if began:  # taken over, or reopened by retry/rerun: the clock started at the latest of those
            listed = await self.runtime.storage.ListEvents(storage_pb2.ListEventsRequest(run_id=self.run_id))
            reopened = [e.at for e in listed.events if e.type == "run.resumed"
                        and json.loads(e.data_json or "{}").get("action") in ("retry", "rerun")]
            began = reopened[-1] if reopened else began
        elapsed = 0.0
        if began:
            elapsed = (datetime.now(UTC) - parse_iso(began)).total_seconds()
        return time.monotonic() + max(0.0, self.spec.timeout - elapsed)

    def _finished(self) -> bool:
        return self._unsettled_steps == 0

    async def _finish(self) -> None:
        states = [(step.state, step.spec.optional) for step in self.steps.values()]
        if any(state == "cancelled" for state, _ in states):
            final = "cancelled"
        elif any(state == "failed" and not optional for state, optional in states):
            final = "failed"
        elif any(state == "failed" for state, _ in states):
            final = "succeeded_with_warnings"
        else:
            final = "succeeded"
        failed = [step.spec.id for step in self.steps.values() if step.state == "failed"]
        await self._record(transition(f"run.{final}", run_state=final, data={"failed_steps": failed} if failed
                                      else None))
        self.state = final
        metrics.RUNS.labels(final).inc()

    # ----- scheduling ----------------------------------------------------------------------------

    def _compute_readiness(self) -> None:
        """Count, for every pending step, the needs that are not settled yet."""
        self._ready.clear()
        self._unsettled_steps = sum(step.state not in TERMINAL_STEP for step in self.steps.values())
        for step in self.steps.values():
            unsettled = sum(self.steps[need].state not in TERMINAL_STEP for need in step.spec.needs)
            self._unsettled_needs[step.spec.id] = unsettled
            if unsettled == 0 and step.state == "pending" and step.task is None:
                self._ready.append(step.spec.id)

    def _settled(self, step: StepState) -> None:
        """A step became terminal: its dependents may be ready now."""
        self._unsettled_steps -= 1
        for dependent in self._dependents[step.spec.id]:
            self._unsettled_needs[dependent] -= 1
            if self._unsettled_needs[dependent] == 0 and self.steps[dependent].state == "pending":
                self._ready.append(dependent)

    def _dispatch_ready(self) -> None:
        while self._ready and self.state == "running" and not (self._stopping or self._cancelling):
            step = self.steps[self._ready.popleft()]
            if step.state != "pending" or step.task is not None:
                continue
            decision = self._should_run(step, [self.steps[need] for need in step.spec.needs])
            if decision is not True:
                step.state = "skipped"
                self._spawn(step, self._skip(step, decision))
            else:
                self._spawn(step, self._run_step(step))
        metrics.DISPATCH_QUEUE.set(len(self._ready))

    def _should_run(self, step: StepState, needs: list[StepState]) -> bool | str:
        """True to run the step, or the reason it is skipped."""
        condition = step.spec.condition
        status_aware = condition is not None and any(
            ref.path[:1] == ("steps",) and len(ref.path) >= 3 and ref.path[2] == "state"
            for ref in expressions.references(expressions.parse(expressions.condition_expression(condition)))
        )
        if not status_aware:
            blocked = [need.spec.id for need in needs if need.state != "succeeded"]
            if blocked:
                return f"needs did not succeed: {', '.join(blocked)}"
        if condition is not None:
            try:
                if not expressions.condition(condition, self._scope):
                    return f"condition is false: {condition}"
            except expressions.ExpressionError as error:
                return f"condition could not be evaluated: {error}"
        return True

    def _spawn(self, step: StepState, work: Any) -> None:
        step.task = asyncio.create_task(work, name=f"step-{self.run_id}-{step.spec.id}")
        step.task.add_done_callback(lambda _task, s=step: self._step_done(s))

    def _step_done(self, step: StepState) -> None:
        task, step.task = step.task, None
        if task is not None and not task.cancelled() and task.exception() is not None:
            error = task.exception()
            if isinstance(error, (LeaseLost, RunClosed)):
                self._lost = True
                self._stopping = True
            else:
                log.error("step task crashed", exc_info=error, extra={"fields": {"step_id": step.spec.id}})
                self._stopping = True
        if step.state in TERMINAL_STEP:
            self._settled(step)
        self._dispatch_ready()
        self._changed.set()

    async def _skip(self, step: StepState, reason: str) -> None:
        await self._record(transition("step.skipped", step.spec.id, attempt=step.attempt, step_state="skipped",
                                      data={"reason": reason}))
        metrics.STEPS.labels("skipped").inc()

    # ----- one step ------------------------------------------------------------------------------

    async def _run_step(self, step: StepState, resume_approval: bool = False) -> None:
        spec = step.spec
        bind_log_context(run_id=self.run_id, step_id=spec.id)
        if resume_approval:  # taken over while waiting for a person: wait again, record nothing new
            await self._settle_attempt(step, time.perf_counter(), self._wait_for_decision(step))
            return
        budget = max(1, spec.retry.max_attempts - step.attempt) if step.attempt else max(1, spec.retry.max_attempts)
        last_attempt = step.attempt + budget
        for attempt in range(step.attempt + 1, last_attempt + 1):
            step.attempt, step.state = attempt, "running"
            started = time.perf_counter()
            try:
                config = self._render_config(spec)
            except StepFailed as failure:
                await self._record(transition("step.started", spec.id, attempt=attempt, step_state="running",
                                              clear_step=True))
                await self._fail(step, failure)
                return
            await self._record(transition("step.started", spec.id, attempt=attempt, step_state="running",
                                          clear_step=True))
            failure = await self._settle_attempt(step, started, self._attempt(step, config),
                                                 final=attempt == last_attempt)
            if failure is None:
                return
            delay = spec.retry.delay(attempt - (last_attempt - budget))
            if spec.retry.jitter:
                delay *= random.uniform(0.5, 1.0)
            step.state = "retrying"
            await self._record(transition(
                "step.retrying", spec.id, attempt=attempt, step_state="retrying", error=failure,
                data={"attempt": attempt, "next_attempt": attempt + 1, "delay_seconds": round(delay, 3),
                      "error": failure}))
            metrics.STEPS.labels("retrying").inc()
            await asyncio.sleep(delay)
            while self.state == "paused" and not self._stopping:  # paused: the next attempt waits
                self._changed.clear()
                await self._changed.wait()

    async def _settle_attempt(self, step: StepState, started: float, call: Any, final: bool = True) -> str | None:
        """Await one attempt and record its outcome; returns the error when it should be retried."""
        try:
            outputs = await call
        except StepFailed as failure:
            metrics.STEP_DURATION.labels(step.spec.uses).observe(time.perf_counter() - started)
            if failure.retryable and not final and not (self._stopping or self._cancelling):
                return self.redactor.scrub(failure.message)
            await self._fail(step, failure)
            return None
        duration = time.perf_counter() - started
        metrics.STEP_DURATION.labels(step.spec.uses).observe(duration)
        outputs = self.redactor.scrub_value(outputs)
        if len(json.dumps(outputs)) > MAX_OUTPUT_BYTES:
            await self._fail(step, StepFailed("error", f"outputs larger than {MAX_OUTPUT_BYTES} bytes"))
            return None
        step.state, step.outputs, step.error = "succeeded", outputs, ""
        data: dict[str, Any] = {"duration_ms": round(duration * 1000, 2)}
        if step.spec.uses == "core/approval":  # the decision is a control: the event says who made it
            data.update(approved_by=outputs.get("approved_by", ""), comment=outputs.get("comment", ""))
        # Not awaited: the next step's start joins this write in one storage commit.
        written = self.log.record(transition("step.succeeded", step.spec.id, attempt=step.attempt,
                                             step_state="succeeded", outputs=outputs, data=data),
                                  defer=JOIN_NEXT_WRITE_SECONDS)
        written.add_done_callback(self._check_detached_write)
        metrics.STEPS.labels("succeeded").inc()
        return None

    def _check_detached_write(self, written: asyncio.Future[Any]) -> None:
        """A write nobody awaits: a refusal (lease lost) stops the run here instead of going unnoticed."""
        if not written.cancelled() and isinstance(written.exception(), (LeaseLost, RunClosed)):
            self.abandon()

    async def _fail(self, step: StepState, failure: StepFailed) -> None:
        message = self.redactor.scrub(failure.message)
        step.state, step.error = "failed", message
        await self._record(transition("step.failed", step.spec.id, attempt=step.attempt, step_state="failed",
                                      error=message, data={"error": message, "kind": failure.kind,
                                                           **({"by": failure.by} if failure.by else {})}))
        metrics.STEPS.labels("failed").inc()

    def _render_config(self, spec: StepSpec) -> dict[str, Any]:
        defaults = (self.platform_config.get("step_defaults") or {}).get(spec.uses) or {}
        try:
            return expressions.render({**defaults, **spec.config}, self._scope)
        except expressions.ExpressionError as error:
            raise StepFailed("config", f"with: {error}") from None

    async def _attempt(self, step: StepState, config: dict[str, Any]) -> dict[str, Any]:
        spec = step.spec
        if spec.uses == "core/approval":
            return await self._await_approval(step, config)
        async with self._parallel, self.runtime.step_slots:
            call = self._core(step, config) if spec.uses.startswith("core/") else self._plugin(step, config)
            if not spec.timeout:
                return await call
            try:
                return await asyncio.wait_for(call, spec.timeout)
            except TimeoutError:
                raise StepFailed("timeout", f"timed out after {spec.timeout:g}s (the call was cancelled)") from None

    async def _plugin(self, step: StepState, config: dict[str, Any]) -> dict[str, Any]:
        spec = step.spec
        request = plugin_pb2.ExecuteRequest(
            type=spec.uses, config_json=json.dumps(config), run_id=self.run_id, step_id=spec.id,
            attempt=step.attempt, idempotency_key=f"{self.run_id}/{spec.id}/{step.attempt}",
            dry_run=self.dry_run, platform_config_json=json.dumps(self.platform_config),
            redact=self.redactor.values,
        )
        lines = StepLogBuffer(self, step)
        try:
            return await execute_on_host(self.runtime.registry, request, lines.add)
        finally:
            await lines.flush()

    async def _core(self, step: StepState, config: dict[str, Any]) -> dict[str, Any]:
        uses = step.spec.uses
        if uses == "core/noop":
            return {}
        if uses == "core/sleep":
            if not self.dry_run:
                await asyncio.sleep(float(config.get("seconds", 0)))
            return {}
        raise StepFailed("config", f"unknown core step type {uses!r}")

    async def _await_approval(self, step: StepState, config: dict[str, Any]) -> dict[str, Any]:
        if self.dry_run:
            return {"approved_by": "dry-run", "comment": "approvals pass at once in a dry run"}
        plan = await self._plan_after(step)
        step.outputs = {"plan": plan}
        step.decision = asyncio.get_running_loop().create_future()
        step.state = "awaiting_approval"
        await self._record(transition("step.awaiting_approval", step.spec.id, attempt=step.attempt,
                                      step_state="awaiting_approval", outputs={"plan": plan},
                                      data={"message": config.get("message", ""), "plan": plan}))
        return await self._wait_for_decision(step)

    async def _wait_for_decision(self, step: StepState) -> dict[str, Any]:
        if step.decision is None or step.decision.done():
            step.decision = asyncio.get_running_loop().create_future()
        step.state = "awaiting_approval"
        approved, actor, comment = await step.decision
        if not approved:
            raise StepFailed("denied", f"rejected by {actor}" + (f": {comment}" if comment else ""), by=actor)
        return {"approved_by": actor, "comment": comment, "plan": step.outputs.get("plan", [])}

    async def _plan_after(self, gate: StepState) -> list[dict[str, Any]]:
        """The plans of the plugin steps after an approval gate, computed with dry runs."""
        plan: list[dict[str, Any]] = []
        for step_id in self.spec.downstream(gate.spec.id):
            spec = self.spec.step(step_id)
            if spec.uses.startswith("core/"):
                continue
            try:
                config = self._render_config(spec)
                request = plugin_pb2.ExecuteRequest(
                    type=spec.uses, config_json=json.dumps(config), run_id=self.run_id, step_id=spec.id,
                    attempt=0, idempotency_key=f"{self.run_id}/{spec.id}/plan", dry_run=True,
                    platform_config_json=json.dumps(self.platform_config), redact=self.redactor.values)
                outputs = await asyncio.wait_for(
                    execute_on_host(self.runtime.registry, request, lambda _s, _l: None), 30)
                items = outputs.get("plan") or []
            except (StepFailed, TimeoutError) as error:
                items = [{"action": "unknown", "target": spec.id, "diff": None,
                          "note": f"plan not available: {error}"}]
            plan.extend({**item, "step": spec.id} for item in items if isinstance(item, dict))
        return self.redactor.scrub_value(plan)

    # ----- controls (called by the RPC layer on the owning engine) --------------------------------

    async def decide(self, step_id: str, approve: bool, actor: str, comment: str) -> None:
        step = self.steps.get(step_id)
        if step is None:
            raise ControlRefused(f"run has no step {step_id!r}")
        if step.state != "awaiting_approval" or step.decision is None or step.decision.done():
            raise ControlRefused(f"step {step_id!r} is {step.state}, not awaiting approval")
        step.decision.set_result((approve, actor, comment))

    async def pause(self, actor: str) -> None:
        if self.state != "running":
            raise ControlRefused(f"run is {self.state}; only a running run can be paused")
        self.state = "paused"
        await self._record(transition("run.paused", run_state="paused", data={"by": actor}))

    async def resume(self, actor: str) -> None:
        if self.state != "paused":
            raise ControlRefused(f"run is {self.state}; only a paused run can be resumed")
        self.state = "running"
        await self._record(transition("run.resumed", run_state="running", data={"by": actor}))
        self._changed.set()

    async def cancel(self, actor: str, reason: str = "cancelled", final: str = "cancelled") -> None:
        """Cancel in-flight steps (their gRPC calls are cancelled), then every step left, then the run."""
        if self.state in TERMINAL_RUN or self._stopping or self._cancelling:
            raise ControlRefused(f"run is already {'cancelling' if self._cancelling else self.state}")
        self._cancelling = True
        in_flight = [step.task for step in self.steps.values() if step.task is not None]
        for task in in_flight:
            task.cancel()
        await asyncio.gather(*in_flight, return_exceptions=True)
        batch = [
            transition("step.cancelled", step.spec.id, attempt=step.attempt, step_state="cancelled",
                       data={"reason": reason})
            for step in self.steps.values() if step.state not in TERMINAL_STEP
        ]
        for step in self.steps.values():
            if step.state not in TERMINAL_STEP:
                step.state = "cancelled"
        data = {"by": actor, "reason": reason}
        await self._record(*batch, transition(f"run.{final}", run_state=final, data=data))
        self.state = final
        metrics.RUNS.labels(final).inc()
        self._changed.set()

    async def _time_out_run(self) -> None:
        with contextlib.suppress(ControlRefused):
            await self.cancel("engine", reason=f"run timed out after {self.spec.timeout:g}s", final="failed")

    # ----- plumbing ------------------------------------------------------------------------------

    async def _record(self, *transitions: storage_pb2.Transition) -> None:
        await self.log.record(*transitions)

    async def record_log_lines(self, step: StepState, lines: list[tuple[str, str]]) -> None:
        at = ""
        request = storage_pb2.AppendStepLogsRequest(run_id=self.run_id, lines=[
            storage_pb2.LogLine(step_id=step.spec.id, attempt=step.attempt, at=at, stream=stream,
                                line=self.redactor.scrub(line)) for stream, line in lines])
        await self.runtime.storage.AppendStepLogs(request)
        await self._record(transition("step.log", step.spec.id, attempt=step.attempt, data={
            "lines": [{"stream": line.stream, "line": line.line} for line in request.lines]}))

    async def _abandon_tasks(self) -> None:
        tasks = [step.task for step in self.steps.values() if step.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self.log.flush()

    def abandon(self) -> None:
        """The lease was lost: stop at once, writing nothing more (storage would refuse it anyway)."""
        self._lost = True
        self._stopping = True
        self._changed.set()

    @property
    def lost(self) -> bool:
        return self._lost


class StepLogBuffer:
    """Collects a step's log lines and writes them in batches (storage + a step.log event)."""

    def __init__(self, executor: RunExecutor, step: StepState, max_delay: float = 0.2) -> None:
        self.executor = executor
        self.step = step
        self.lines: list[tuple[str, str]] = []
        self.max_delay = max_delay
        self._flusher: asyncio.Task[None] | None = None

    def add(self, stream: str, line: str) -> None:
        self.lines.append((stream, line))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(self.max_delay)
        self._flusher = None
        await self._write()

    async def _write(self) -> None:
        lines, self.lines = self.lines, []
        if lines:
            await self.executor.record_log_lines(self.step, lines)

    async def flush(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            self._flusher = None
        await asyncio.shield(self._write())


class _StepsView(Mapping[str, Any]):
    """`steps.<id>.outputs|state` for expressions, read live without copying every step."""

    def __init__(self, steps: dict[str, StepState]) -> None:
        self._steps = steps

    def __getitem__(self, step_id: str) -> dict[str, Any]:
        step = self._steps[step_id]
        return {"outputs": step.outputs, "state": step.state}

    def __iter__(self) -> Iterator[str]:
        return iter(self._steps)

    def __len__(self) -> int:
        return len(self._steps)
