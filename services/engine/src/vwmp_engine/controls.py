"""Run controls that reach the run wherever it is.

A control goes to the executor when this replica owns the run, to the owning
replica over NATS request/reply when another one does, and is written to
storage directly when no replica executes the run (queued, or terminal and
being retried).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from vwmp_common.states import TERMINAL_RUN_STATES, TERMINAL_STEP_STATES, ControlAction, EventType, RunState, StepState

from vwmp_engine.definition import WorkflowSpec
from vwmp_engine.leases import LeaseKeeper
from vwmp_engine.run_state import ControlRefused
from vwmp_engine.store import NotFound, Run, RunClosed, Transition

log = logging.getLogger(__name__)
CONTROL_SUBJECT = "vwmp.engine.control"


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

    async def start(self) -> None:
        """Answer controls forwarded by other replicas for the runs this one executes."""
        if self.nats is not None:
            self._subscription = await self.nats.subscribe(f"{CONTROL_SUBJECT}.*", cb=self._on_request)

    async def apply(self, run_id: str, action: str, actor: str, step_id: str = "", comment: str = "") -> None:
        """Apply a control; raises ControlRefused, RunNotFound or OwnerUnreachable."""
        try:
            control = ControlAction(action)
        except ValueError:
            raise ControlRefused(f"unknown action {action!r}") from None
        if await self._apply_locally(run_id, control, actor, step_id, comment):
            return
        if await self._forward(run_id, control, actor, step_id, comment):
            return
        await self._apply_in_storage(run_id, control, actor, step_id)
        self.keeper.wake()

    async def _apply_locally(self, run_id: str, action: ControlAction, actor: str, step_id: str,
                             comment: str) -> bool:
        executor = self.keeper.executor(run_id)
        if executor is None or executor.lost:
            return False
        if action == ControlAction.CANCEL:
            await executor.cancel(actor)
        elif action == ControlAction.PAUSE:
            await executor.pause(actor)
        elif action == ControlAction.RESUME:
            await executor.resume(actor)
        elif action in (ControlAction.APPROVE, ControlAction.REJECT):
            executor.decide(step_id, action == ControlAction.APPROVE, actor, comment)
        else:
            raise ControlRefused(f"run is {executor.state}; {action} applies to finished runs")
        return True

    async def _forward(self, run_id: str, action: ControlAction, actor: str, step_id: str, comment: str) -> bool:
        if self.nats is None or not self.nats.is_connected:
            return False
        payload = json.dumps({"action": action, "actor": actor, "step_id": step_id, "comment": comment}).encode()
        try:
            reply = await self.nats.request(f"{CONTROL_SUBJECT}.{run_id}", payload, timeout=2.0)
        except (NoRespondersError, NatsTimeout):
            return False
        answer = json.loads(reply.data)
        if answer.get("handled") is False:
            return False
        if answer.get("error"):
            raise ControlRefused(answer["error"])
        return True

    async def _on_request(self, msg: Msg) -> None:
        run_id = msg.subject.rsplit(".", 1)[-1]
        if self.keeper.executor(run_id) is None:
            return  # not ours: stay silent, the owner (if any) answers
        request = json.loads(msg.data)
        try:
            handled = await self._apply_locally(run_id, ControlAction(request["action"]), request["actor"],
                                                request.get("step_id", ""), request.get("comment", ""))
            answer: dict[str, Any] = {"handled": handled}
        except ControlRefused as refusal:
            answer = {"handled": True, "error": str(refusal)}
        await msg.respond(json.dumps(answer).encode())

    async def _apply_in_storage(self, run_id: str, action: ControlAction, actor: str, step_id: str) -> None:
        run = await self.get_run(run_id, with_definition=action == ControlAction.RERUN)
        state = run.state
        if action in (ControlAction.APPROVE, ControlAction.REJECT):
            raise ControlRefused(f"run is {state}; no engine is executing it right now, try again in a moment")
        if state in (RunState.RUNNING, RunState.PAUSED) and action in (
                ControlAction.CANCEL, ControlAction.PAUSE, ControlAction.RESUME):
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
        await self._record(run_id, batch)

    def _reopen(self, run: Run, action: ControlAction, actor: str, step_id: str) -> list[Transition]:
        if run.state not in TERMINAL_RUN_STATES:
            raise ControlRefused(f"run is {run.state}; {action} applies to finished runs")
        if action == ControlAction.RETRY:
            if run.state == RunState.SUCCEEDED:
                raise ControlRefused("run succeeded; nothing to retry (use rerun from a step)")
            again = [step.id for step in run.steps if step.state != StepState.SUCCEEDED]
        else:
            spec = WorkflowSpec.from_definition(run.definition or {})
            if step_id not in {step.id for step in spec.steps}:
                raise ControlRefused(f"run has no step {step_id!r}")
            again = [step_id, *spec.downstream(step_id)]
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
        try:
            events = await self.store.record(run_id, batch)
        except RunClosed as closed:
            raise ControlRefused(str(closed) or "run is finished") from None
        self.keeper.runtime.publisher.publish(events)

    async def get_run(self, run_id: str, with_definition: bool = False) -> Run:
        """The run as storage has it; RunNotFound when there is none."""
        try:
            return await self.store.get_run(run_id, with_definition=with_definition)
        except NotFound:
            raise RunNotFound(run_id) from None
