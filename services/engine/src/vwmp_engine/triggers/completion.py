"""Workflow-completion triggers: a run that ends in one of `states` starts the runs that wait for it.

Two paths start them. The fast path: every replica sees the end events it writes (the publisher
hands them over) and follows them at once. The durable path: the sweep (sweep.py) finds, in
storage, the ends no run was started for — an engine that died between writing a run's end and
starting its completion run is covered there. Both go through `follow`, with the finished run's id
as the dedupe key, so each completion trigger starts at most one run per finished run whichever
replicas and paths meet the same end; and both leave alone an end at or before the trigger's mark
(marks.py): the sweep has followed it already, or it ended before the trigger was armed.

The on_run triggers are read from the latest definitions after the run ended — so a trigger saved
before that end is seen — and the run ends that arrive together share one read: a burst of 500
finished runs costs a few reads, and nothing more when no workflow has an on_run trigger.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from vwmp_common.states import RUN_END_EVENTS, EventType
from vwmp_common.timeutil import iso, utcnow
from vwmp_proto.events.v1.events_pb2 import Event

from vwmp_engine.runtime import EngineRuntime
from vwmp_engine.store import Run, StorageError, Workflow
from vwmp_engine.triggers.firing import fire, previous_not_done, problems_text, run_trigger, trigger_scope
from vwmp_engine.triggers.marks import follows, mark_of
from vwmp_engine.triggers.records import Advance
from vwmp_engine.triggers.spec import TriggerSpec, triggers_of
from vwmp_engine.triggers.store import TriggerStore

log = logging.getLogger(__name__)
# Ends this replica has followed (any outcome), so its sweep does not decide them a second time.
_REMEMBERED = 20_000


class CompletionTriggers:
    """Starts the on_run triggers of the runs this replica saw end."""

    def __init__(self, runtime: EngineRuntime, store: TriggerStore, wake: Callable[[], None]) -> None:
        self.runtime = runtime
        self.store = store
        self.wake = wake
        self._tasks: set[asyncio.Task[None]] = set()
        self._index: list[tuple[Workflow, TriggerSpec]] = []
        self._index_read_at = float("-inf")  # when the read that gave `_index` started (monotonic)
        self._reading: asyncio.Task[None] | None = None
        self._followed: dict[tuple[str, str, str], None] = {}  # (workflow, trigger id, run id), oldest first

    def observe(self, events: list[Event]) -> None:
        """Called with every batch of stored events this replica publishes."""
        for event in events:
            try:
                kind = EventType.from_number(event.type)
            except ValueError:
                continue
            if kind in RUN_END_EVENTS:
                task = asyncio.get_running_loop().create_task(self._ended(event.run_id, time.monotonic()),
                                                              name="on-run-trigger")
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

    async def _on_run_triggers(self, ended_at: float) -> list[tuple[Workflow, TriggerSpec]]:
        """Every on_run trigger of the latest definitions, as read after `ended_at`; callers share a read."""
        while self._index_read_at < ended_at:
            if self._reading is None:
                self._reading = asyncio.create_task(self._read_index(), name="on-run-trigger-index")
            await asyncio.shield(self._reading)
        return self._index

    async def _read_index(self) -> None:
        started = time.monotonic()
        try:
            workflows = await self.store.workflows()
            self._index = [(workflow, spec) for workflow in workflows
                           for spec in triggers_of(workflow.definition) if spec.kind == "on_run"]
            self._index_read_at = started
        finally:
            self._reading = None

    async def _ended(self, run_id: str, ended_at: float) -> None:
        try:
            listening = await self._on_run_triggers(ended_at)
            if not listening:
                return
            finished = await self.runtime.store.get_run(run_id)
            due = [(workflow, spec) for workflow, spec in listening
                   if follows(spec, finished.workflow, finished.state.value)]
            if not due:
                return
            states = await self.store.states()
            for workflow, spec in due:
                state = states.get((workflow.name, spec.id))
                if state is not None and state.paused:
                    continue
                if finished.finished_at is None or finished.finished_at <= mark_of(workflow, spec, state).at:
                    continue  # followed by a sweep already, or it ended before the trigger was armed
                await self.follow(workflow, spec, finished)
        except StorageError as error:
            log.warning("completion triggers of run %s not started: %s", run_id, error)
        except Exception:  # a task nobody awaits: say what went wrong
            log.exception("completion triggers of run %s not started", run_id)

    def followed(self, workflow: Workflow, spec: TriggerSpec, finished_id: str) -> bool:
        """Whether this replica has followed that end already (a sweep need not decide it again)."""
        return (workflow.name, spec.id, finished_id) in self._followed

    async def follow(self, workflow: Workflow, spec: TriggerSpec, finished: Run) -> None:
        """Start the run of `spec` for the end of `finished`, or record why not (overlap skip, bad parameters).

        A storage error leaves the end to a later sweep; any other outcome is remembered as followed.
        """
        await self._start(workflow, spec, finished)
        key = (workflow.name, spec.id, finished.id)
        self._followed[key] = None
        while len(self._followed) > _REMEMBERED:
            del self._followed[next(iter(self._followed))]  # the oldest: sweeps have long passed it

    async def _start(self, workflow: Workflow, spec: TriggerSpec, finished: Run) -> None:
        now = utcnow()
        if spec.overlap == "skip" and (running := await previous_not_done(self.store, workflow, spec,
                                                                           finished.finished_at)):
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
