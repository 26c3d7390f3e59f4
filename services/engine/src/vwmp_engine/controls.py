"""Run controls that reach the run wherever it is.

A control goes to the executor when this replica owns the run, to the owning
replica over NATS request/reply when another one does, and is written to
storage directly when no replica executes the run (queued, or terminal and
being retried).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Collection
from dataclasses import asdict
from typing import Any

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from vwmp_common.schema_errors import SchemaProblem
from vwmp_common.states import TERMINAL_RUN_STATES, TERMINAL_STEP_STATES, ControlAction, EventType, RunState, StepState

from vwmp_engine.approval import Decision
from vwmp_engine.definition import WorkflowSpec
from vwmp_engine.finalizing import finally_downstream, reopened_steps
from vwmp_engine.leases import LeaseKeeper
from vwmp_engine.run_state import ControlRefused, DecisionDenied, InputsInvalid, PlanChanged
from vwmp_engine.store import LeaseLost, NotFound, Run, RunClosed, StorageError, StorageUnavailable, Transition

log = logging.getLogger(__name__)
CONTROL_SUBJECT = "vwmp.engine.control"
ACK_SECONDS = 2.0  # the owning replica acknowledges a forwarded control within this, or is taken to be absent
CONTROL_RESEND_DELAYS = (0.2, 0.5, 1.0)  # a control write storage did not answer goes again after these
ANSWER_SECONDS = 120.0  # then it answers; an approval computes the plan again (dry runs of the steps after it)


def refusal_to_wire(refusal: ControlRefused) -> dict[str, Any]:
    """A refusal as the owning replica answers it over NATS, its kind and details kept."""
    answer: dict[str, Any] = {"handled": True, "error": str(refusal)}
    if isinstance(refusal, DecisionDenied):
        answer["refusal"] = "denied"
    elif isinstance(refusal, InputsInvalid):
        answer.update(refusal="inputs", problems=[asdict(problem) for problem in refusal.problems])
    elif isinstance(refusal, PlanChanged):
        answer.update(refusal="plan_changed", plan_digest=refusal.plan_digest)
    return answer


def refusal_from_wire(answer: dict[str, Any]) -> ControlRefused:
    """The refusal a forwarded control got, as the exception the owner raised."""
    message, kind = str(answer.get("error", "")), answer.get("refusal")
    if kind == "denied":
        return DecisionDenied(message)
    if kind == "inputs":
        return InputsInvalid(message, [SchemaProblem(str(p.get("pointer", "")), str(p.get("message", "")))
                                       for p in answer.get("problems") or [] if isinstance(p, dict)])
    if kind == "plan_changed":
        return PlanChanged(message, str(answer.get("plan_digest", "")))
    return ControlRefused(message)


def _answer_of(reply: Msg) -> dict[str, Any]:
    """A replica's answer; the server's empty "no responders" status message means nobody owns the run."""
    if not reply.data:
        raise NoRespondersError
    answer: dict[str, Any] = json.loads(reply.data)
    return answer


class RunNotFound(Exception):
    """No run with that id."""


class OwnerUnreachable(Exception):
    """The run is being executed but its engine did not answer: writing the control to storage
    behind the owner's back would leave it dispatching a run that storage calls paused."""


class Controls:
    """Applies cancel/pause/resume/retry/rerun and approval decisions."""

    def __init__(self, keeper: LeaseKeeper, nats: NatsClient | None) -> None:
        self.keeper = keeper
        self.store = keeper.runtime.store
        self.nats = nats
        self._subscription: Subscription | None = None
        self._answering: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Answer controls forwarded by other replicas for the runs this one executes."""
        if self.nats is not None:
            self._subscription = await self.nats.subscribe(f"{CONTROL_SUBJECT}.*", cb=self._on_request)

    async def apply(self, run_id: str, action: str, actor: str, step_id: str = "", comment: str = "",
                    decision: Decision | None = None, compensate: bool = False) -> None:
        """Apply a control (an approval or rejection with its `decision`; a cancel that `compensate`s).

        Raises ControlRefused (or one of its kinds: DecisionDenied, InputsInvalid, PlanChanged),
        RunNotFound or OwnerUnreachable.
        """
        try:
            control = ControlAction(action)
        except ValueError:
            raise ControlRefused(f"unknown action {action!r}") from None
        if control in (ControlAction.APPROVE, ControlAction.REJECT) and decision is None:
            decision = Decision(control == ControlAction.APPROVE, actor, comment)
        if await self._apply_locally(run_id, control, actor, step_id, decision, compensate):
            return
        # Retry and rerun reopen a finished run, which no engine executes: nobody would answer a forward
        # (it would wait ACK_SECONDS for nothing, once per child run of a retried parent too).
        reopens = control in (ControlAction.RETRY, ControlAction.RERUN)
        if not reopens and await self._may_have_owner(run_id) \
                and await self._forward(run_id, control, actor, step_id, decision, compensate):
            return
        await self._apply_in_storage(run_id, control, actor, step_id, compensate)
        self.keeper.wake()

    async def _apply_locally(self, run_id: str, action: ControlAction, actor: str, step_id: str,
                             decision: Decision | None, compensate: bool = False) -> bool:
        executor = await self.keeper.loaded_executor(run_id)
        if executor is None or executor.lost:
            return False
        if action in (ControlAction.RETRY, ControlAction.RERUN) and executor.state in TERMINAL_RUN_STATES:
            return False  # it has just ended and lets go of the run: reopened in storage
        try:
            if action == ControlAction.CANCEL:
                await executor.cancel(actor, compensate=compensate)
            elif action == ControlAction.PAUSE:
                await executor.pause(actor)
            elif action == ControlAction.RESUME:
                await executor.resume(actor)
            elif action in (ControlAction.APPROVE, ControlAction.REJECT) and decision is not None:
                await executor.decide(decision, step_id)
            else:
                raise ControlRefused(f"run is {executor.state}; {action} applies to finished runs")
        except RunClosed:  # the run ended (its last step finished) while the control was applied
            raise ControlRefused("run is already finished") from None
        except LeaseLost:
            raise ControlRefused("another engine took the run over while the control was applied; look again") \
                from None
        if action in (ControlAction.CANCEL, ControlAction.PAUSE, ControlAction.RESUME):
            await self._reach_children(run_id, action, actor)
        return True

    async def _reach_children(self, run_id: str, action: ControlAction, actor: str,
                              steps: Collection[str] | None = None,
                              states: Collection[RunState] = frozenset(RunState) - TERMINAL_RUN_STATES) -> None:
        """Apply a control of a run to its child runs (sub-workflows) in `states`, of `steps` when given.

        A child that refuses (already paused, ended meanwhile) is left as it is.
        """
        try:
            children = [child for child in await self.store.children(run_id) if child.state in states
                        and (steps is None or (child.parent is not None and child.parent.step_id in steps))]
        except StorageError as error:
            log.warning("could not list a run's child runs", extra={"fields": {"run_id": run_id, "error": str(error)}})
            return
        results = await asyncio.gather(*(self.apply(child.id, action, actor) for child in children),
                                       return_exceptions=True)
        for child, result in zip(children, results, strict=True):
            if isinstance(result, Exception) and not isinstance(result, ControlRefused):
                log.warning("a control did not reach a child run", extra={"fields": {
                    "run_id": run_id, "child_run_id": child.id, "action": str(action), "error": str(result)}})

    async def _may_have_owner(self, run_id: str) -> bool:
        """Whether another replica may execute the run: storage is asked first, so an unknown run id is
        RunNotFound at once and a finished run goes straight to storage, instead of waiting ACK_SECONDS
        for an acknowledgement no replica would send."""
        return (await self.get_run(run_id)).state not in TERMINAL_RUN_STATES

    async def _forward(self, run_id: str, action: ControlAction, actor: str, step_id: str,
                       decision: Decision | None, compensate: bool = False) -> bool:
        """Send the control to the owning replica: it acknowledges at once, then answers when applied.

        Every other replica stays silent, so an absent owner shows as no acknowledgement in time.
        """
        nats = self.nats
        if nats is None or not nats.is_connected:
            return False
        request: dict[str, Any] = {"action": action, "actor": actor, "step_id": step_id, "ack": True}
        if compensate:
            request["compensate"] = True
        if decision is not None:
            request.update(comment=decision.comment, role=decision.role, plan_digest=decision.plan_digest,
                           inputs=decision.inputs)
        inbox = nats.new_inbox()
        replies = await nats.subscribe(inbox, max_msgs=2)
        try:
            await nats.publish(f"{CONTROL_SUBJECT}.{run_id}", json.dumps(request).encode(), reply=inbox)
            try:
                answer = _answer_of(await replies.next_msg(timeout=ACK_SECONDS))
                if answer.get("ack"):
                    answer = _answer_of(await replies.next_msg(timeout=ANSWER_SECONDS))
            except (NoRespondersError, NatsTimeout):
                return False
        finally:
            await replies.unsubscribe()
        if answer.get("handled") is False:
            return False
        if answer.get("error"):
            raise refusal_from_wire(answer)
        return True

    async def _on_request(self, msg: Msg) -> None:
        run_id = msg.subject.rsplit(".", 1)[-1]
        if run_id not in self.keeper.handles or not msg.reply:
            return  # not ours: stay silent, the owner (if any) answers (a run still loading is ours)
        # answered in its own task: one approval computing its plan must not hold up the controls of other runs
        task = asyncio.create_task(self._answer(run_id, msg))
        self._answering.add(task)
        task.add_done_callback(self._answering.discard)

    async def _answer(self, run_id: str, msg: Msg) -> None:
        assert self.nats is not None
        request = json.loads(msg.data)
        if request.get("ack"):  # an older replica asks without it and takes the first reply as the answer
            await self.nats.publish(msg.reply, json.dumps({"ack": True}).encode())
        action = ControlAction(request["action"])
        decision = None
        if action in (ControlAction.APPROVE, ControlAction.REJECT):
            inputs = request.get("inputs")
            decision = Decision(action == ControlAction.APPROVE, request["actor"], request.get("comment", ""),
                                role=request.get("role", ""), plan_digest=request.get("plan_digest", ""),
                                inputs=inputs if isinstance(inputs, dict) else None)
        try:
            handled = await self._apply_locally(run_id, action, request["actor"], request.get("step_id", ""),
                                                decision, bool(request.get("compensate")))
            answer: dict[str, Any] = {"handled": handled}
        except ControlRefused as refusal:
            answer = refusal_to_wire(refusal)
        except Exception as error:  # the asker must hear something rather than wait for ANSWER_SECONDS
            log.exception("forwarded control failed", extra={"fields": {"run_id": run_id}})
            answer = {"handled": True, "error": f"the control failed on the owning engine: {error}"}
        await self.nats.publish(msg.reply, json.dumps(answer).encode())

    async def _apply_in_storage(self, run_id: str, action: ControlAction, actor: str, step_id: str,
                                compensate: bool = False) -> None:
        run = await self.get_run(run_id, with_definition=action in (ControlAction.RETRY, ControlAction.RERUN))
        state = run.state
        if action in (ControlAction.APPROVE, ControlAction.REJECT):
            raise ControlRefused(_why_no_decision(run, step_id))
        if state in (RunState.RUNNING, RunState.PAUSED) and action in (
                ControlAction.CANCEL, ControlAction.PAUSE, ControlAction.RESUME):
            if await self._apply_locally(run_id, action, actor, step_id, None, compensate):
                return  # this replica claimed and started the run while the control looked for its owner
            raise OwnerUnreachable(f"run is {state} but the engine executing it did not answer; "
                                   "try again in a few seconds (another engine takes it over if that one is gone)")
        if action == ControlAction.CANCEL:
            if state in TERMINAL_RUN_STATES:
                raise ControlRefused(f"run is already {state}")
            batch = [Transition(EventType.STEP_CANCELLED, step.id, attempt=step.attempt,
                                step_state=StepState.CANCELLED, data={"reason": "cancelled"})
                     for step in run.steps if step.state not in TERMINAL_STEP_STATES]
            batch.append(Transition(EventType.RUN_CANCELLED, run_state=RunState.CANCELLED, data={"by": actor}))
        elif action == ControlAction.PAUSE:
            if state not in (RunState.QUEUED, RunState.RUNNING):
                raise ControlRefused(f"run is {state}; only a queued or running run can be paused")
            batch = [Transition(EventType.RUN_PAUSED, run_state=RunState.PAUSED, data={"by": actor})]
        elif action == ControlAction.RESUME:
            if state != RunState.PAUSED:
                raise ControlRefused(f"run is {state}; only a paused run can be resumed")
            # A run that still waits for its concurrency slot goes back to waiting, not to running.
            waiting = run.concurrency is not None and run.concurrency.position > 0
            batch = [Transition(EventType.RUN_RESUMED, run_state=RunState.QUEUED if waiting else RunState.RUNNING,
                                data={"by": actor})]
        else:
            batch = self._reopen(run, action, actor, step_id)
            # Before the run reopens: its sub-workflow steps then find their children running again.
            await self._reach_children(run_id, ControlAction.RETRY, actor, steps=set((batch[0].data or {})["steps"]),
                                       states=(RunState.FAILED, RunState.CANCELLED))
        await self._record(run_id, batch)

    def _reopen(self, run: Run, action: ControlAction, actor: str, step_id: str) -> list[Transition]:
        if run.state not in TERMINAL_RUN_STATES:
            raise ControlRefused(f"run is {run.state}; {action} applies to finished runs")
        spec = WorkflowSpec.from_definition(run.definition or {})
        if action == ControlAction.RETRY:
            if run.state == RunState.SUCCEEDED:
                raise ControlRefused("run succeeded; nothing to retry (use rerun from a step)")
            if run.compensated in COMPENSATED_RUNS:
                # Its later steps would run on work the unwind took back (a deleted tag, a reset commit).
                raise ControlRefused(f"run was compensated ({_undone(run.compensated)}): retrying from the failure "
                                     "would run its later steps on undone work; start a new run, or rerun from a step")
            again = reopened_steps(spec, [step.id for step in run.steps if step.state != StepState.SUCCEEDED])
        elif (in_finally := finally_downstream(spec, step_id)) is not None:
            again = in_finally
        else:
            if step_id not in {step.id for step in spec.steps}:
                raise ControlRefused(f"run has no step {step_id!r}")
            again = [step_id, *spec.downstream(step_id)]
            again = reopened_steps(spec, [*again, *_instances_of(run, set(again))])
        attempts = {step.id: step.attempt for step in run.steps}
        # A keyed run queues again for a slot of its key (storage clears its admission on reopen).
        reopened = RunState.QUEUED if run.concurrency is not None else RunState.RUNNING
        return [
            Transition(EventType.RUN_RESUMED, run_state=reopened, reopen=True,
                       data={"by": actor, "action": action, "steps": again, **({"from": step_id} if step_id else {})}),
            *(Transition(None, sid, attempt=attempts.get(sid, 0), step_state=StepState.PENDING, clear_step=True)
              for sid in again),
        ]

    async def _record(self, run_id: str, batch: list[Transition]) -> None:
        """Write a control of a run no replica executes; an unanswered write is sent again with its key."""
        key = uuid.uuid4().hex
        for delay in (*CONTROL_RESEND_DELAYS, None):
            try:
                events = await self.store.record(run_id, batch, idempotency_key=key)
                break
            except RunClosed as closed:
                raise ControlRefused(str(closed) or "run is finished") from None
            except StorageUnavailable:
                if delay is None:
                    raise
                await asyncio.sleep(delay)
        self.keeper.runtime.publisher.publish(events)

    async def get_run(self, run_id: str, with_definition: bool = False) -> Run:
        """The run as storage has it; RunNotFound when there is none."""
        try:
            return await self.store.get_run(run_id, with_definition=with_definition)
        except NotFound:
            raise RunNotFound(run_id) from None


COMPENSATED_RUNS = ("true", "partial")  # the run's `compensated` once its unwind undid something


def _undone(compensated: str) -> str:
    return "its succeeded steps were undone" if compensated == "true" else "some of its succeeded steps were undone"


def _instances_of(run: Run, step_ids: set[str]) -> list[str]:
    """The for_each instances of these steps: a rerun runs every item again, not only the step."""
    return [step.id for step in run.steps if step.parent in step_ids]


def _why_no_decision(run: Run, step_id: str) -> str:
    """Why an approval or rejection found no engine to take it: the run or the step is past its gate,
    or (only then worth retrying) the run waits at a gate while its engine is being replaced."""
    if run.state in TERMINAL_RUN_STATES:
        return f"run is already {run.state}; there is no gate left to decide"
    step = next((step for step in run.steps if step.id == step_id), None)
    if step is None:
        return f"run has no step {step_id!r}"
    if step.state != StepState.AWAITING_APPROVAL:
        return f"step {step_id!r} is {step.state}, not awaiting approval"
    return f"run is {run.state}; no engine is executing it right now, try again in a moment"
