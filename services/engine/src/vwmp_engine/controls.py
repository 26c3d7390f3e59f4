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

import grpc
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from vwmp_proto.storage.v1 import storage_pb2

from vwmp_engine.definition import WorkflowSpec
from vwmp_engine.executor import TERMINAL_RUN, TERMINAL_STEP, ControlRefused, transition
from vwmp_engine.leases import LeaseKeeper

log = logging.getLogger(__name__)
CONTROL_SUBJECT = "vwmp.engine.control"
ACTIONS = ("cancel", "pause", "resume", "retry", "rerun", "approve", "reject")


class RunNotFound(Exception):
    """No run with that id."""


class OwnerUnreachable(Exception):
    """The run is being executed but its engine did not answer: writing the control to storage
    behind the owner's back would leave it dispatching a run that storage calls paused."""


class Controls:
    """Applies cancel/pause/resume/retry/rerun and approval decisions."""

    def __init__(self, keeper: LeaseKeeper, nats: NatsClient | None) -> None:
        self.keeper = keeper
        self.storage = keeper.runtime.storage
        self.nats = nats
        self._subscription: Any = None

    async def start(self) -> None:
        if self.nats is not None:
            self._subscription = await self.nats.subscribe(f"{CONTROL_SUBJECT}.*", cb=self._on_request)

    async def apply(self, run_id: str, action: str, actor: str, step_id: str = "", comment: str = "") -> None:
        """Apply a control; raises ControlRefused or RunNotFound."""
        if action not in ACTIONS:
            raise ControlRefused(f"unknown action {action!r}")
        if await self._apply_locally(run_id, action, actor, step_id, comment):
            return
        if await self._forward(run_id, action, actor, step_id, comment):
            return
        await self._apply_in_storage(run_id, action, actor, step_id)
        self.keeper.wake()

    async def _apply_locally(self, run_id: str, action: str, actor: str, step_id: str, comment: str) -> bool:
        executor = self.keeper.executor(run_id)
        if executor is None or executor.lost:
            return False
        if action == "cancel":
            await executor.cancel(actor)
        elif action == "pause":
            await executor.pause(actor)
        elif action == "resume":
            await executor.resume(actor)
        elif action in ("approve", "reject"):
            await executor.decide(step_id, action == "approve", actor, comment)
        else:
            raise ControlRefused(f"run is {executor.state}; {action} applies to finished runs")
        return True

    async def _forward(self, run_id: str, action: str, actor: str, step_id: str, comment: str) -> bool:
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
            handled = await self._apply_locally(run_id, request["action"], request["actor"],
                                                request.get("step_id", ""), request.get("comment", ""))
            answer: dict[str, Any] = {"handled": handled}
        except ControlRefused as refusal:
            answer = {"handled": True, "error": str(refusal)}
        await msg.respond(json.dumps(answer).encode())

    async def _apply_in_storage(self, run_id: str, action: str, actor: str, step_id: str) -> None:
        run = await self.get_run(run_id, with_definition=action == "rerun")
        state = run.state
        if action in ("approve", "reject"):
            raise ControlRefused(f"run is {state}; no engine is executing it right now, try again in a moment")
        if state in ("running", "paused") and action in ("cancel", "pause", "resume"):
            raise OwnerUnreachable(f"run is {state} but the engine executing it did not answer; "
                                   "try again in a few seconds (another engine takes it over if that one is gone)")
        if action == "cancel":
            if state in TERMINAL_RUN:
                raise ControlRefused(f"run is already {state}")
            batch = [transition("step.cancelled", step.id, attempt=step.attempt, step_state="cancelled",
                                data={"reason": "cancelled"})
                     for step in run.steps if step.state not in TERMINAL_STEP]
            batch.append(transition("run.cancelled", run_state="cancelled", data={"by": actor}))
        elif action == "pause":
            if state not in ("queued", "running"):
                raise ControlRefused(f"run is {state}; only a queued or running run can be paused")
            batch = [transition("run.paused", run_state="paused", data={"by": actor})]
        elif action == "resume":
            if state != "paused":
                raise ControlRefused(f"run is {state}; only a paused run can be resumed")
            batch = [transition("run.resumed", run_state="running", data={"by": actor})]
        else:
            batch = self._reopen(run, action, actor, step_id)
        await self._record(run_id, batch)

    def _reopen(self, run: storage_pb2.Run, action: str, actor: str, step_id: str) -> list[storage_pb2.Transition]:
        if run.state not in TERMINAL_RUN:
            raise ControlRefused(f"run is {run.state}; {action} applies to finished runs")
        if action == "retry":
            if run.state == "succeeded":
                raise ControlRefused("run succeeded; nothing to retry (use rerun from a step)")
            again = [step.id for step in run.steps if step.state != "succeeded"]
        else:
            spec = WorkflowSpec.from_definition(json.loads(run.definition_json))
            if step_id not in {step.id for step in spec.steps}:
                raise ControlRefused(f"run has no step {step_id!r}")
            again = [step_id, *spec.downstream(step_id)]
        attempts = {step.id: step.attempt for step in run.steps}
        return [
            transition("run.resumed", run_state="running", reopen=True,
                       data={"by": actor, "action": action, "steps": again, **({"from": step_id} if step_id else {})}),
            *(transition("", sid, attempt=attempts.get(sid, 0), step_state="pending", clear_step=True)
              for sid in again),
        ]

    async def _record(self, run_id: str, batch: list[storage_pb2.Transition]) -> None:
        try:
            response = await self.storage.RecordTransitions(
                storage_pb2.RecordTransitionsRequest(run_id=run_id, transitions=batch))
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.FAILED_PRECONDITION:
                raise ControlRefused(error.details() or "run is finished") from None
            raise
        self.keeper.runtime.publisher.publish(list(response.events))

    async def get_run(self, run_id: str, with_definition: bool = False) -> storage_pb2.Run:
        try:
            return await self.storage.GetRun(storage_pb2.GetRunRequest(id=run_id, with_definition=with_definition))
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.NOT_FOUND:
                raise RunNotFound(run_id) from None
            raise
