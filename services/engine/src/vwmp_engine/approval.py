"""The approval gate (`core/approval`): show the plan of what comes next, wait for a person.

A gate waits as long as it takes and holds no concurrency slot. After a takeover a gate that
was `awaiting_approval` waits again without a new event. A rejection fails the step with kind
`denied`, which is never retried.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from vwmp_common.states import EventType, StepState

from vwmp_engine.plugin_calls import StepFailed, execute_on_host
from vwmp_engine.run_state import ControlRefused, RunContext, StepRun
from vwmp_engine.store import Transition

PLAN_SECONDS = 30.0  # a plan that takes longer is shown as not available rather than holding the gate


@dataclass(frozen=True, slots=True)
class Decision:
    """What a person decided at a gate."""

    approved: bool
    actor: str
    comment: str = ""

    def outputs(self, plan: list[dict[str, Any]]) -> dict[str, Any]:
        """The gate's outputs when approved; raises StepFailed (denied) when rejected."""
        if not self.approved:
            raise StepFailed("denied", f"rejected by {self.actor}" + (f": {self.comment}" if self.comment else ""),
                             by=self.actor)
        return {"approved_by": self.actor, "comment": self.comment, "plan": plan}


class Decisions:
    """The gates of one run that wait for a decision, and the way a decision reaches them."""

    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Future[Decision]] = {}

    def expect(self, step_id: str) -> None:
        """From now on a decision on `step_id` is accepted (before the gate is announced, so none is lost)."""
        self._waiting[step_id] = asyncio.get_running_loop().create_future()

    async def wait(self, step_id: str) -> Decision:
        """Wait for the decision on the gate `step_id` (it may have arrived since `expect`)."""
        if step_id not in self._waiting:
            self.expect(step_id)
        try:
            return await self._waiting[step_id]
        finally:
            del self._waiting[step_id]

    def decide(self, step_id: str, decision: Decision) -> None:
        """Deliver a decision; ControlRefused when that gate is not waiting for one (any more)."""
        future = self._waiting.get(step_id)
        if future is None or future.done():
            raise ControlRefused(f"step {step_id!r} is not awaiting approval")
        future.set_result(decision)


class ApprovalGate:
    """Opens the approval gates of one run."""

    def __init__(self, run: RunContext) -> None:
        self.run = run
        self.decisions = Decisions()

    async def open(self, step: StepRun, config: dict[str, Any]) -> dict[str, Any]:
        """Record the gate as awaiting approval with the plan of what follows, then wait for the decision."""
        if self.run.dry_run:
            return {"approved_by": "dry-run", "comment": "approvals pass at once in a dry run"}
        plan = await self.plan_after(step)
        step.outputs = {"plan": plan}
        step.state = StepState.AWAITING_APPROVAL
        self.decisions.expect(step.spec.id)
        await self.run.record(Transition(
            EventType.STEP_AWAITING_APPROVAL, step.spec.id, attempt=step.attempt,
            step_state=StepState.AWAITING_APPROVAL, outputs={"plan": plan},
            data={"message": config.get("message", ""), "plan": plan}))
        return await self.wait(step)

    async def wait(self, step: StepRun) -> dict[str, Any]:
        """Wait for the decision (again, after a takeover: nothing new is recorded)."""
        step.state = StepState.AWAITING_APPROVAL
        decision = await self.decisions.wait(step.spec.id)
        return decision.outputs(step.outputs.get("plan", []))

    def decide(self, step_id: str, decision: Decision) -> None:
        """Approve or reject a gate of this run; ControlRefused when it is not awaiting approval."""
        step = self.run.steps.get(step_id)
        if step is None:
            raise ControlRefused(f"run has no step {step_id!r}")
        if step.state != StepState.AWAITING_APPROVAL:
            raise ControlRefused(f"step {step_id!r} is {step.state}, not awaiting approval")
        self.decisions.decide(step_id, decision)

    async def plan_after(self, gate: StepRun) -> list[dict[str, Any]]:
        """The plans of the plugin steps after a gate, each computed with a dry run."""
        plan: list[dict[str, Any]] = []
        for step_id in self.run.spec.downstream(gate.spec.id):
            spec = self.run.spec.step(step_id)
            if spec.uses.startswith("core/"):
                continue
            try:
                request = self.run.execute_request(spec, self.run.render_config(spec), attempt=0, plan=True)
                outputs = await asyncio.wait_for(
                    execute_on_host(self.run.runtime.registry, request, lambda _stream, _line: None), PLAN_SECONDS)
                items = outputs.get("plan") or []
            except (StepFailed, TimeoutError) as error:
                items = [{"action": "unknown", "target": spec.id, "diff": None,
                          "note": f"plan not available: {error}"}]
            plan.extend({**item, "step": spec.id} for item in items if isinstance(item, dict))
        scrubbed: list[dict[str, Any]] = self.run.redactor.scrub_value(plan)
        return scrubbed
