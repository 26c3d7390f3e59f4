"""The schedule loop every engine replica runs: due ticks are claimed in storage, so each fires once.

Each pass reads the latest definitions and the trigger states (and hands them to the
completion-trigger sweep, sweep.py, which reads none of its own). A schedule without a state for
its current version (new, saved again or resumed) is started at its next tick after now. A due tick
is fired with a compare-and-set of (digest, next_fire_at) in the transaction that creates its
run: of two replicas the second finds the schedule moved on and creates nothing. A replica that
dies mid-call either committed the run and the move, or neither, and the next pass of any
replica fires the tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from vwmp_common.timeutil import iso, utcnow

from vwmp_engine.runtime import EngineRuntime
from vwmp_engine.store import LeaseLost, StorageError, Workflow
from vwmp_engine.triggers.firing import fire, previous_not_done, problems_text, run_trigger, trigger_scope
from vwmp_engine.triggers.records import Advance, TriggerState
from vwmp_engine.triggers.spec import ScheduleError, TriggerSpec, schedule_digest, triggers_of
from vwmp_engine.triggers.store import TriggerStore
from vwmp_engine.triggers.sweep import CompletionSweep

log = logging.getLogger(__name__)
POLL_SECONDS = 0.5
# catchup none: a tick this late was missed (the engines were down), not merely picked up late.
ON_TIME = timedelta(seconds=30)


class TriggerScheduler:
    """Fires the due ticks of every schedule trigger; safe to run on every replica."""

    def __init__(self, runtime: EngineRuntime, store: TriggerStore, wake: Callable[[], None],
                 poll_seconds: float = POLL_SECONDS, sweep: CompletionSweep | None = None) -> None:
        self.runtime = runtime
        self.store = store
        self.wake = wake
        self.poll_seconds = poll_seconds
        self.sweep = sweep  # handed what each pass read: it reads no definitions of its own
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Run passes in the background from now on."""
        self._task = asyncio.create_task(self._loop(), name="trigger-scheduler")

    async def stop(self) -> None:
        """Stop after the pass under way."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.sweep is not None:
            await self.sweep.stop()

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_pass(utcnow())
            except StorageError as error:
                log.warning("trigger pass failed: %s", error)
            except Exception:  # a bug must not stop every schedule of the platform for good
                log.exception("trigger pass failed")
            await asyncio.sleep(self.poll_seconds)

    async def run_pass(self, now: datetime) -> None:
        """Start new schedules and fire the due ticks, as of `now`; offer what was read to the sweep."""
        states = await self.store.states()
        workflows = await self.store.workflows()
        if self.sweep is not None:
            self.sweep.offer(workflows, states, now)
        for workflow in workflows:
            for spec in triggers_of(workflow.definition):
                if spec.kind == "schedule":
                    try:
                        await self._schedule(workflow, spec, states.get((workflow.name, spec.id)), now)
                    except LeaseLost:
                        pass  # another replica moved this schedule first
                    except (ScheduleError, StorageError) as error:  # the other schedules still fire
                        log.warning("schedule %s/%s not fired: %s", workflow.name, spec.id, error)

    async def _schedule(self, workflow: Workflow, spec: TriggerSpec, state: TriggerState | None,
                        now: datetime) -> None:
        assert spec.schedule is not None
        if state is not None and state.paused:
            return
        digest = state.digest if state is not None else ""
        current = schedule_digest(workflow.version, spec)
        expected = state.next_fire_at if state is not None else None
        move = Advance(workflow.name, spec.id, compare=True, expected_digest=digest, expected_next_fire_at=expected,
                       digest=current, next_fire_at=spec.schedule.next_after(now))
        if digest != current or expected is None:
            await self.store.advance(move)  # (re)start: the first tick after now
            return
        if expected > now:
            return
        tick = spec.schedule.latest_due(expected - timedelta(microseconds=1), now) or expected
        if spec.catchup == "none" and now - tick > ON_TIME:
            await self.store.advance(replace(move, error=f"tick {iso(tick)} missed (catchup: none)"))
            return
        if spec.overlap == "skip" and (running := await previous_not_done(self.store, workflow, spec)):
            await self.store.advance(replace(
                move, error=f"tick {iso(tick)} skipped: run {running} is not done (overlap: skip)"))
            return
        scope = {"trigger": trigger_scope(spec, tick, scheduled_at=iso(tick))}
        started = await fire(self.runtime, workflow, spec, scope, run_trigger(spec, tick, dedupe_key=iso(tick)),
                             replace(move, fired_at=tick))
        if started.run is not None:
            if started.run.message.replayed:  # the tick's run exists (a restarted schedule met it again)
                await self.store.advance(move)
            else:
                log.info("schedule fired", extra={"fields": {"workflow": workflow.name, "trigger_id": spec.id,
                                                             "run_id": started.run.id, "scheduled_at": iso(tick)}})
                self.wake()
            return
        problem = problems_text(started.problems) if started.problems else str(started.conflict)
        await self.store.advance(replace(move, error=f"tick {iso(tick)}: {problem}"))
