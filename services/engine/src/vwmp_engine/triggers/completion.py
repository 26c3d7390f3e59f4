"""Workflow-completion triggers: a run that ends in one of `states` starts the runs that wait for it.

Every replica sees the end events it writes (the publisher hands them over); the finished run's
id is the dedupe key, so each completion trigger starts at most one run per finished run even when
two replicas see the same end. An end written by an engine that dies before it hands the event
over starts nothing (a known gap: completion triggers are not replayed from storage).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from vwmp_common.states import RUN_END_EVENTS, EventType
from vwmp_common.timeutil import iso, utcnow
from vwmp_proto.events.v1.events_pb2 import Event

from vwmp_engine.runtime import EngineRuntime
from vwmp_engine.store import Run, StorageError, Workflow
from vwmp_engine.triggers.firing import fire, previous_not_done, problems_text, run_trigger, trigger_scope
from vwmp_engine.triggers.records import Advance
from vwmp_engine.triggers.spec import TriggerSpec, triggers_of
from vwmp_engine.triggers.store import TriggerStore

log = logging.getLogger(__name__)


class CompletionTriggers:
    """Starts the on_run triggers of the runs this replica saw end."""

    def __init__(self, runtime: EngineRuntime, store: TriggerStore, wake: Callable[[], None]) -> None:
        self.runtime = runtime
        self.store = store
        self.wake = wake
        self._tasks: set[asyncio.Task[None]] = set()

    def observe(self, events: list[Event]) -> None:
        """Called with every batch of stored events this replica publishes."""
        for event in events:
            try:
                kind = EventType.from_number(event.type)
            except ValueError:
                continue
            if kind in RUN_END_EVENTS:
                task = asyncio.get_running_loop().create_task(self._ended(event.run_id), name="on-run-trigger")
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        """Let the starts under way finish (bounded), then cancel the rest."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2.0)
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _ended(self, run_id: str) -> None:
        try:
            finished = await self.runtime.store.get_run(run_id)
            states = await self.store.states()
            for workflow in await self.store.workflows():
                for spec in triggers_of(workflow.definition):
                    if (spec.kind == "on_run" and spec.on_run["workflow"] == finished.workflow
                            and finished.state.value in spec.on_run["states"]
                            and not getattr(states.get((workflow.name, spec.id)), "paused", False)):
                        await self._start(workflow, spec, finished)
        except StorageError as error:
            log.warning("completion triggers of run %s not started: %s", run_id, error)
        except Exception:  # a task nobody awaits: say what went wrong
            log.exception("completion triggers of run %s not started", run_id)

    async def _start(self, workflow: Workflow, spec: TriggerSpec, finished: Run) -> None:
        now = utcnow()
        if spec.overlap == "skip" and (running := await previous_not_done(self.store, workflow, spec)):
            await self.store.advance(Advance(
                workflow.name, spec.id, error=f"end of run {finished.id} skipped: run {running} is not done "
                                              "(overlap: skip)"))
            return
        upstream = {"id": finished.id, "state": finished.state.value, "workflow": finished.workflow,
                    "version": finished.version, "parameters": finished.parameters, "outputs": finished.outputs}
        scope = {"trigger": trigger_scope(spec, now, run=upstream)}
        fired = Advance(workflow.name, spec.id, fired_at=now)
        started = await fire(self.runtime, workflow, spec, scope,
                             run_trigger(spec, now, dedupe_key=finished.id, run_id=finished.id), fired)
        if started.run is None:
            await self.store.advance(Advance(
                workflow.name, spec.id,
                error=f"end of run {finished.id}: " + (problems_text(started.problems) or str(started.conflict))))
            return
        if not started.run.message.replayed:
            log.info("completion trigger fired", extra={"fields": {
                "workflow": workflow.name, "trigger_id": spec.id, "run_id": started.run.id, "after": finished.id,
                "at": iso(now)}})
            self.wake()
