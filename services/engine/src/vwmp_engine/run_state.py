"""What the engine holds in memory of one run it executes: step states, flags, the expression scope.

Everything here mirrors storage (the executor writes each change there first), so another
engine rebuilds the same picture from a stored run when it takes the run over.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from vwmp_common.redaction import Redactor
from vwmp_common.schema_errors import SchemaProblem
from vwmp_common.states import TERMINAL_STEP_STATES, RunState, StepState
from vwmp_proto.plugin.v1 import plugin_pb2

from vwmp_engine import expressions
from vwmp_engine.core_steps import config_problems
from vwmp_engine.definition import StepSpec, WorkflowSpec
from vwmp_engine.events import TransitionLog
from vwmp_engine.plugin_calls import StepFailed, execute_request
from vwmp_engine.runtime import EngineRuntime
from vwmp_engine.store import LeaseLost, Run, RunClosed, Transition

log = logging.getLogger(__name__)

class ControlRefused(Exception):
    """A control that the run's current state does not allow."""


class DecisionDenied(ControlRefused):
    """The actor may not make this decision under the gate's policy (not an approver, or self-approval)."""


class InputsInvalid(ControlRefused):
    """The approver's inputs do not match the gate's inputs schema; `problems` point under /inputs."""

    def __init__(self, message: str, problems: list[SchemaProblem]) -> None:
        super().__init__(message)
        self.problems = problems


class PlanChanged(ControlRefused):
    """The plan is not the one the approval was pinned to; `plan_digest` is the plan's digest now."""

    def __init__(self, message: str, plan_digest: str) -> None:
        super().__init__(message)
        self.plan_digest = plan_digest


@dataclass
class StepRun:
    """One step of the run: its state, attempts so far, outputs and the task executing it.

    A for_each step has `instances` (in item order); an instance has its `parent`'s id, its
    `item_index` and the `item` it runs for (known once the parent evaluated its list).
    """

    spec: StepSpec
    state: StepState = StepState.PENDING
    attempt: int = 0
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    task: asyncio.Task[None] | None = None
    parent: str = ""
    item_index: int = 0
    item: Any = None
    instances: list[StepRun] | None = None
    compensation_attempt: int = 0  # the latest attempt of its compensation, as stored


def final_state(steps: Iterable[StepRun]) -> RunState:
    """The state a run ends in once every step is terminal (docs/engine.md, States).

    A for_each step's instances count through it (an item cancelled by fail_fast fails its step).
    """
    steps = [step for step in steps if not step.parent]
    if any(step.state == StepState.CANCELLED for step in steps):
        return RunState.CANCELLED
    if any(step.state == StepState.FAILED and not step.spec.optional for step in steps):
        return RunState.FAILED
    if any(step.state == StepState.FAILED for step in steps):
        return RunState.SUCCEEDED_WITH_WARNINGS
    return RunState.SUCCEEDED


def render_config(spec: StepSpec, platform_config: Mapping[str, Any], scope: Mapping[str, Any]) -> dict[str, Any]:
    """The step's `with:` over the platform's defaults for its type, with every `${{ }}` resolved."""
    defaults = (platform_config.get("step_defaults") or {}).get(spec.uses) or {}
    try:
        rendered: dict[str, Any] = expressions.render({**defaults, **spec.config}, scope)
    except expressions.ExpressionError as error:
        raise StepFailed("config", f"with: {error}") from None
    problems = config_problems(spec.uses, rendered)
    if problems:
        raise StepFailed("config", f"with: {'; '.join(problems)}")
    return rendered


class StepsView(Mapping[str, Any]):
    """`steps.<id>.outputs|state` for expressions, read live without copying every step.

    A for_each step's outputs are the list of its instances' outputs, in item order.
    """

    def __init__(self, steps: Mapping[str, StepRun]) -> None:
        self._steps = steps
        self._lists: dict[str, list[dict[str, Any]]] = {}

    def __getitem__(self, step_id: str) -> dict[str, Any]:
        step = self._steps[step_id]
        if step.instances is not None:
            return {"outputs": self._instance_outputs(step), "state": str(step.state)}
        return {"outputs": step.outputs, "state": str(step.state)}

    def _instance_outputs(self, step: StepRun) -> list[dict[str, Any]]:
        """Built once the step is terminal (nothing changes it then): 10,000 items read by 10,000 more stay linear."""
        assert step.instances is not None
        if step.state not in TERMINAL_STEP_STATES:
            return [instance.outputs for instance in step.instances]
        if step.spec.id not in self._lists:
            self._lists[step.spec.id] = [instance.outputs for instance in step.instances]
        return self._lists[step.spec.id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._steps)

    def __len__(self) -> int:
        return len(self._steps)


class RunContext:
    """One executing run as its parts (scheduler loop, attempts, approval gates, logs) share it."""

    def __init__(self, runtime: EngineRuntime, run: Run, lease_epoch: int) -> None:
        self.runtime = runtime
        self.run_id = run.id
        self.stored = run
        self.definition: dict[str, Any] = run.definition or {}
        self.spec = WorkflowSpec.from_definition(self.definition)
        self.dry_run = run.dry_run
        self.state = run.state
        self.transitions = TransitionLog(runtime.store, runtime.publisher, run.id, runtime.owner, lease_epoch)
        self.steps: dict[str, StepRun] = {}
        stored_steps = {step.id: step for step in run.steps}
        for spec in self.spec.steps:
            step = self.steps[spec.id] = StepRun(spec, instances=[] if spec.for_each is not None else None)
            stored = stored_steps.get(spec.id)
            if stored is not None:
                step.state, step.attempt, step.error, step.outputs = (
                    stored.state, stored.attempt, stored.error, stored.outputs)
                step.compensation_attempt = stored.compensation_attempt
        secret_values = runtime.secrets.lookup_table(runtime.secrets.referenced(self.definition))
        self.redactor = Redactor(list(secret_values.values()))
        self.platform_config: dict[str, Any] = {}
        # The succeeded steps a failure now would undo, newest first (the executor's Compensator says).
        self.pending_undo: Callable[[], list[StepRun]] = list
        self.parallel = asyncio.Semaphore(self.spec.max_parallel or 10_000)
        self.changed = asyncio.Event()
        self.stopping = False
        self.cancelling = False
        self.lost = False
        self.scope: dict[str, Any] = {
            "params": run.parameters,
            "steps": StepsView(self.steps),
            "run": {"id": run.id, "workflow": run.workflow, "version": run.version, "dry_run": run.dry_run},
            "secrets": secret_values,
        }

    @property
    def dispatching(self) -> bool:
        """Whether new steps may start now (running, and not stopping or being cancelled)."""
        return self.state == RunState.RUNNING and not (self.stopping or self.cancelling)

    async def record(self, *transitions: Transition) -> None:
        """Write transitions and wait until they are durable."""
        await self.transitions.record(*transitions)

    def record_detached(self, *transitions: Transition, defer: float = 0.0) -> None:
        """Queue transitions nobody waits for (they join the next write, see `TransitionLog.record`).

        Ordering still holds: a later write that is awaited is durable only with these before it. A
        refusal (the lease lost, the run closed) stops the run here instead of going unnoticed.
        """
        self.transitions.record(*transitions, defer=defer).add_done_callback(self._detached_written)

    def _detached_written(self, written: asyncio.Future[Any]) -> None:
        if not written.cancelled() and isinstance(written.exception(), (LeaseLost, RunClosed)):
            self.stop(lost=True)

    def render_config(self, spec: StepSpec) -> dict[str, Any]:
        """The step's rendered configuration for this run (raises StepFailed of kind config)."""
        return render_config(spec, self.platform_config, self.scope_of(spec.id))

    def scope_of(self, step_id: str) -> Mapping[str, Any]:
        """The expression scope of a step: a for_each instance sees its `item` and `item_index` too."""
        step = self.steps.get(step_id)
        if step is None or not step.parent:
            return self.scope
        return {**self.scope, "item": step.item, "item_index": step.item_index}

    def execute_request(self, spec: StepSpec, config: dict[str, Any], attempt: int,
                        plan: bool = False) -> plugin_pb2.ExecuteRequest:
        """The plugin call for an attempt of `spec`; with `plan`, the dry run that shows what it would do.

        A dry run's steps work on its scratch copy of the workspace: a step whose type declares local
        (or no) effects runs for real there, any other is asked for its plan there (see docs/engine.md,
        "Exact dry runs"). A gate's preview (`plan`) of a real run asks for plans against the workspace.
        """
        key = f"{self.run_id}/{spec.id}/{'plan' if plan else attempt}"
        scratch = self.dry_run and not plan
        info = self.runtime.registry.get(spec.uses) if scratch else None
        runs_for_real = info is not None and info.effects in ("local", "none")
        return execute_request(spec.uses, config, run_id=self.run_id, step_id=spec.id, attempt=attempt,
                               idempotency_key=key, dry_run=plan or (self.dry_run and not runs_for_real),
                               platform_config=self.platform_config, redact=self.redactor.values,
                               scratch=scratch)

    async def wait_until_resumed(self) -> None:
        """Return once the run is no longer paused (or is stopping)."""
        while self.state == RunState.PAUSED and not self.stopping:
            self.changed.clear()
            await self.changed.wait()

    def stop(self, lost: bool) -> None:
        """Stop executing; `lost`: the lease is gone, so nothing more may be written."""
        self.lost = self.lost or lost
        self.stopping = True
        self.changed.set()

    def task_ended(self, step: StepRun, kind: str) -> None:
        """A step's task is done: forget it; one that crashed is logged (secrets masked) and stops the run.

        A crash that is storage refusing a write (LeaseLost, RunClosed) is not logged: its failure
        could not be recorded either, and the run is lost to this engine.
        """
        task, step.task = step.task, None
        if task is None or task.cancelled() or (error := task.exception()) is None:
            return
        lost = isinstance(error, (LeaseLost, RunClosed))
        if not lost:
            trace = self.redactor.scrub("".join(traceback.format_exception(error)))
            log.error(f"{kind} task crashed", extra={"fields": {"step_id": step.spec.id, "exception": trace}})
        self.stop(lost=lost)
