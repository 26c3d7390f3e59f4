"""The approval gate (`core/approval`): show the plan of what comes next, wait for the people allowed to decide.

A gate waits as long as its policy says (no timeout: as long as it takes) and holds no
concurrency slot. Everything a decision needs is in the gate's stored outputs — the policy, the
run's starter, the approvals so far, the deadline, the plan and its digest — so after a takeover
a gate that was `awaiting_approval` waits again with the same approvals and deadline, without a
new event. A rejection fails the step with kind `denied`, which is never retried.

Plan pinning: the approver is shown the plan of the steps after the gate and its digest (sha256
of the canonical JSON). Before an approval takes effect the plan is computed again; when it
differs from what the approver saw, the approval is refused (`PlanChanged`), the gate's outputs
get the new plan, and earlier approvals are void: they approved another plan.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from jsonschema import Draft202012Validator
from vwmp_common.roles import RANK
from vwmp_common.schema_errors import SchemaProblem, schema_problems
from vwmp_common.states import EventType, StepState
from vwmp_common.timeutil import iso, parse_iso, utcnow

from vwmp_engine.definition import duration_seconds
from vwmp_engine.plugin_calls import StepFailed, execute_on_host
from vwmp_engine.run_state import ControlRefused, DecisionDenied, InputsInvalid, PlanChanged, RunContext, StepRun
from vwmp_engine.step_types import sub_workflow_name
from vwmp_engine.store import Transition

PLAN_SECONDS = 30.0  # a plan that takes longer is shown as not available rather than holding the gate
DEFAULT_ROLES = ("operator",)
WOULD_UNDO_SHOWN = 100  # compensations a gate lists by name (a for_each step's items each count)


def plan_digest(plan: list[dict[str, Any]]) -> str:
    """The digest an approval is pinned to: sha256 hex of the plan as canonical JSON."""
    return hashlib.sha256(json.dumps(plan, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _rank(role: str) -> int:
    return RANK.get(role, -1)


@dataclass(frozen=True, slots=True)
class Policy:
    """Who may decide a gate, how many approvals it needs, how long it waits, what approvers fill in."""

    roles: tuple[str, ...] = DEFAULT_ROLES
    names: tuple[str, ...] = ()
    required: int = 1
    allow_self_approval: bool = False
    pin_plan: bool = True
    timeout: str | None = None
    on_timeout: str = "reject"
    inputs: dict[str, Any] | None = None

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Policy:
        """The policy a gate's (validated, rendered) `with:` declares; defaults for what it leaves out."""
        approvers = config.get("approvers")
        roles: tuple[str, ...] = DEFAULT_ROLES
        names: tuple[str, ...] = ()
        if isinstance(approvers, dict) and (approvers.get("roles") is not None or approvers.get("names") is not None):
            roles = tuple(str(role) for role in approvers.get("roles") or ())
            names = tuple(str(name) for name in approvers.get("names") or ())
        timeout = config.get("timeout")
        inputs = config.get("inputs")
        return cls(roles=roles, names=names, required=int(config.get("required", 1)),
                   allow_self_approval=bool(config.get("allow_self_approval", False)),
                   pin_plan=bool(config.get("pin_plan", True)),
                   timeout=str(timeout) if timeout is not None else None,
                   on_timeout=str(config.get("on_timeout", "reject")),
                   inputs=inputs if isinstance(inputs, dict) else None)

    @classmethod
    def from_document(cls, document: Any) -> Policy:
        """The policy stored in a waiting gate's outputs; the defaults for a gate opened before policies."""
        if not isinstance(document, dict):
            return cls()
        approvers = document.get("approvers") or {}
        return cls.from_config({**document, "approvers": approvers if approvers else None})

    def document(self) -> dict[str, Any]:
        """The policy as the gate's outputs show it."""
        return {"approvers": {"roles": list(self.roles), "names": list(self.names)}, "required": self.required,
                "allow_self_approval": self.allow_self_approval, "pin_plan": self.pin_plan,
                "timeout": self.timeout, "on_timeout": self.on_timeout, "inputs": self.inputs}

    @property
    def timeout_seconds(self) -> float | None:
        """The timeout in seconds, or None to wait as long as it takes."""
        return duration_seconds(self.timeout) if self.timeout else None

    def admits(self, actor: str, role: str) -> bool:
        """Whether `actor` (with `role`) may decide: a listed name, or a listed role or a higher one."""
        if actor in self.names:
            return True
        rank = _rank(role)
        return rank >= 0 and any(rank >= _rank(allowed) for allowed in self.roles)

    def approvers_text(self) -> str:
        """Who may decide, for refusals."""
        parts = [f"role {role} or higher" for role in self.roles] + [f"{name!r}" for name in self.names]
        return ", ".join(parts) or "nobody"

    def check_inputs(self, inputs: dict[str, Any] | None) -> list[Any]:
        """What is wrong with an approver's inputs, as problems pointing under /inputs."""
        if self.inputs is None:
            if inputs:
                return [SchemaProblem("/inputs", "this gate takes no inputs")]
            return []
        return schema_problems(Draft202012Validator(self.inputs), inputs if inputs is not None else {}, ("inputs",))


@dataclass(frozen=True, slots=True)
class Decision:
    """What a person decided at a gate, with what they were shown and filled in."""

    approved: bool
    actor: str
    comment: str = ""
    role: str = ""
    plan_digest: str = ""
    inputs: dict[str, Any] | None = field(default=None, hash=False, compare=False)


class Decisions:
    """The gates of one run that wait for a decision: one future per gate, its final outputs."""

    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}

    def expect(self, step_id: str) -> asyncio.Future[dict[str, Any]]:
        """From now on a decision on `step_id` is accepted (before the gate is announced, so none is lost)."""
        future = self._waiting.get(step_id)
        if future is None or future.done():
            future = self._waiting[step_id] = asyncio.get_running_loop().create_future()
        return future

    def waiting(self, step_id: str) -> asyncio.Future[dict[str, Any]]:
        """The gate's undecided future; ControlRefused when that gate is not waiting for a decision (any more)."""
        future = self._waiting.get(step_id)
        if future is None or future.done():
            raise ControlRefused(f"step {step_id!r} is not awaiting approval")
        return future

    def forget(self, step_id: str) -> None:
        """The gate is done waiting."""
        self._waiting.pop(step_id, None)


def _deadline(outputs: dict[str, Any]) -> datetime | None:
    text = outputs.get("deadline")
    return parse_iso(text) if isinstance(text, str) and text else None


class ApprovalGate:
    """Opens the approval gates of one run and applies the decisions on them, one at a time per gate."""

    def __init__(self, run: RunContext) -> None:
        self.run = run
        self.decisions = Decisions()
        self._locks: dict[str, asyncio.Lock] = {}

    def _lock(self, step_id: str) -> asyncio.Lock:
        return self._locks.setdefault(step_id, asyncio.Lock())

    async def open(self, step: StepRun, config: dict[str, Any]) -> dict[str, Any]:
        """Record the gate as awaiting approval with its policy and the plan of what follows, then wait."""
        if self.run.dry_run:
            return {"approved_by": "dry-run", "comment": "approvals pass at once in a dry run"}
        policy = Policy.from_config(config)
        plan = await self.plan_after(step)
        seconds = policy.timeout_seconds
        outputs = {
            "plan": plan, "plan_digest": plan_digest(plan), "approvals": [], "policy": policy.document(),
            "started_by": self.run.stored.created_by,
            "deadline": iso(utcnow() + timedelta(seconds=seconds)) if seconds is not None else None,
        }
        # Beside the plan: what the unwind would undo if a later step fails (not part of the digest).
        # A for_each step's items count one by one: the newest WOULD_UNDO_SHOWN, and how many more.
        undone = self.run.pending_undo()
        would_undo = [{"step": done.spec.id, "uses": done.spec.compensate.uses}
                      for done in undone[:WOULD_UNDO_SHOWN] if done.spec.compensate is not None]
        more: dict[str, Any] = (
            {"would_undo_more": len(undone) - WOULD_UNDO_SHOWN} if len(undone) > WOULD_UNDO_SHOWN else {})
        if would_undo:
            outputs["would_undo"] = would_undo
            outputs.update(more)
        step.outputs = outputs
        step.state = StepState.AWAITING_APPROVAL
        self.decisions.expect(step.spec.id)
        await self.run.record(Transition(
            EventType.STEP_AWAITING_APPROVAL, step.spec.id, attempt=step.attempt,
            step_state=StepState.AWAITING_APPROVAL, outputs=outputs,
            data={"message": config.get("message", ""), "plan": plan, "plan_digest": outputs["plan_digest"],
                  **({"would_undo": would_undo, **more} if would_undo else {})}))
        return await self.wait(step)

    async def wait(self, step: StepRun) -> dict[str, Any]:
        """Wait for the decision or the deadline (again, after a takeover: nothing new is recorded)."""
        step.state = StepState.AWAITING_APPROVAL
        step_id = step.spec.id
        future = self.decisions.expect(step_id)
        try:
            while True:
                deadline = _deadline(step.outputs)
                left = None if deadline is None else max(0.0, (deadline - utcnow()).total_seconds())
                try:
                    return await asyncio.wait_for(asyncio.shield(future), left)
                except TimeoutError:
                    async with self._lock(step_id):
                        if not future.done():
                            self._time_out(step, future)
        finally:
            self.decisions.forget(step_id)

    def _time_out(self, step: StepRun, future: asyncio.Future[dict[str, Any]]) -> None:
        policy = Policy.from_document(step.outputs.get("policy"))
        if policy.on_timeout == "approve":
            future.set_result({
                "approved_by": "timeout", "comment": f"approved automatically: no decision within {policy.timeout}",
                "plan": step.outputs.get("plan", []), "plan_digest": step.outputs.get("plan_digest", ""),
                "approvals": step.outputs.get("approvals", []), "inputs": {}})
        else:
            future.set_exception(StepFailed("timeout", f"approval timed out after {policy.timeout}", by="timeout"))

    async def decide(self, step_id: str, decision: Decision) -> None:
        """Apply a decision under the gate's policy.

        Raises ControlRefused (not waiting, same approver twice), DecisionDenied (not an allowed
        approver, self-approval), InputsInvalid, or PlanChanged (after recording the new plan).
        """
        step = self.run.steps.get(step_id)
        if step is None:
            raise ControlRefused(f"run has no step {step_id!r}")
        if step.state != StepState.AWAITING_APPROVAL:
            raise ControlRefused(f"step {step_id!r} is {step.state}, not awaiting approval")
        async with self._lock(step_id):
            future = self.decisions.waiting(step_id)
            outputs = dict(step.outputs)
            policy = Policy.from_document(outputs.get("policy"))
            actor = decision.actor
            if not policy.admits(actor, decision.role):
                raise DecisionDenied(f"{actor!r} may not decide on step {step_id!r}: approvers are "
                                     f"{policy.approvers_text()}")
            if not decision.approved:
                future.set_exception(StepFailed(
                    "denied", f"rejected by {actor}" + (f": {decision.comment}" if decision.comment else ""), by=actor))
                return
            if not policy.allow_self_approval and actor == outputs.get("started_by"):
                raise DecisionDenied(f"{actor!r} started this run and may not approve it (allow_self_approval "
                                     "is false): another approver must")
            approvals: list[dict[str, Any]] = list(outputs.get("approvals") or [])
            if any(approval.get("by") == actor for approval in approvals):
                raise ControlRefused(f"{actor!r} already approved step {step_id!r}; it needs {policy.required} "
                                     "distinct approvers")
            problems = policy.check_inputs(decision.inputs)
            if problems:
                raise InputsInvalid("the inputs do not match the gate's inputs schema", problems)
            approvals = await self._check_plan(step, policy, decision, approvals)
            if future.done() or step.state != StepState.AWAITING_APPROVAL:  # cancelled while the plan was computed
                raise ControlRefused(f"step {step_id!r} is {step.state}, not awaiting approval")
            outputs = step.outputs
            approvals.append({"by": actor, "at": iso(utcnow()), "comment": decision.comment})
            if len(approvals) >= policy.required:
                future.set_result({"approved_by": actor, "comment": decision.comment, "plan": outputs["plan"],
                                   "plan_digest": outputs["plan_digest"], "approvals": approvals,
                                   "inputs": decision.inputs or {}})
                return
            waiting = {**outputs, "approvals": approvals}
            step.outputs = waiting
            await self.run.record(Transition(
                EventType.STEP_APPROVED, step_id, attempt=step.attempt, step_state=StepState.AWAITING_APPROVAL,
                outputs=waiting, data={**approvals[-1], "approvals": len(approvals), "required": policy.required}))

    async def _check_plan(self, step: StepRun, policy: Policy, decision: Decision,
                          approvals: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The plan computed again: PlanChanged unless the approval is pinned to it (or need not be).

        Returns the approvals that still stand (none when a pinned plan changed).
        """
        plan = await self.plan_after(step)
        digest = plan_digest(plan)
        shown = step.outputs.get("plan_digest")
        if digest != shown:
            voided = approvals if policy.pin_plan else []
            approvals = [] if policy.pin_plan else approvals
            step.outputs = {**step.outputs, "plan": plan, "plan_digest": digest, "approvals": approvals}
            await self.run.record(Transition(
                EventType.STEP_AWAITING_APPROVAL, step.spec.id, attempt=step.attempt,
                step_state=StepState.AWAITING_APPROVAL, outputs=step.outputs,
                data={"message": self._message(step), "plan": plan, "plan_digest": digest,
                      "reason": "the plan changed since it was shown",
                      "voided_approvals": [approval.get("by") for approval in voided]}))
        if decision.plan_digest and decision.plan_digest != digest:
            raise PlanChanged(f"the plan changed since it was shown (approved {decision.plan_digest[:12]}, now "
                              f"{digest[:12]}): read the new plan and approve it", digest)
        if not decision.plan_digest and policy.pin_plan:
            raise PlanChanged("this gate is pinned to its plan: approve with the plan_digest you were shown", digest)
        return approvals

    def _message(self, step: StepRun) -> str:
        try:
            message = self.run.render_config(step.spec).get("message", "")
        except StepFailed:
            return ""
        return str(message)

    async def plan_after(self, gate: StepRun) -> list[dict[str, Any]]:
        """The plans of the plugin steps after a gate, each computed with a dry run."""
        plan: list[dict[str, Any]] = []
        for step_id in self.run.spec.downstream(gate.spec.id):
            spec = self.run.spec.step(step_id)
            if spec.uses.startswith("core/"):
                continue
            if (called := sub_workflow_name(spec.uses)) is not None:  # its own gates show its own plans
                plan.append({"action": "run", "target": f"workflow {called}", "diff": None, "step": spec.id,
                             "note": "starts a child run of this workflow"})
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
