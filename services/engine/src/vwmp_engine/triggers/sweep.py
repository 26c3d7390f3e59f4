"""The completion-trigger sweep every engine replica runs: the ends no run was started for, found in storage.

The fast path (completion.py) follows the ends this replica writes, at once; the sweep is what
makes completion triggers durable. Every few seconds, for each on_run trigger of the latest
definitions, one indexed query lists the runs of its upstream workflow that ended in its states
after its mark (marks.py) and that it has not started a run for; each is followed (dedupe key =
the finished run's id, so replicas racing each other and the fast path converge on one run), and
only then the mark moves, by compare-and-set.

The sweep reads no definitions of its own: the schedule loop hands it the definitions and trigger
states of its pass. It looks only at ends older than `settle` seconds, so a run whose end was
stamped but not yet committed when the sweep read is not passed over; `settle` must exceed the
clock difference between engines and storage plus the longest write. A paused trigger is not
swept and its mark stands still; resuming arms it again at that moment (storage), so what ended
while it was paused is not followed. Archived workflows are not in the definitions: not swept.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

from vwmp_common.states import RunState

from vwmp_engine.store import StorageError, Workflow
from vwmp_engine.triggers.completion import CompletionTriggers
from vwmp_engine.triggers.marks import DIGEST_PREFIX, Mark, mark_of
from vwmp_engine.triggers.records import Advance, TriggerState
from vwmp_engine.triggers.spec import TriggerSpec, triggers_of
from vwmp_engine.triggers.store import TriggerStore

log = logging.getLogger(__name__)
SWEEP_SECONDS = 2.0
SETTLE_SECONDS = 5.0
PAGE = 100
PAGES_PER_PASS = 10  # a backlog drains 1,000 ends per trigger per pass
# An idle trigger's mark is moved this seldom (each move is a write on every replica).
IDLE_MOVE = timedelta(minutes=1)

States = dict[tuple[str, str], TriggerState]
_RUN_STATES = frozenset(state.value for state in RunState)


class CompletionSweep:
    """Follows the ends of upstream runs that no completion run was started for; safe on every replica."""

    def __init__(self, completions: CompletionTriggers, store: TriggerStore, every_seconds: float = SWEEP_SECONDS,
                 settle_seconds: float = SETTLE_SECONDS) -> None:
        self.completions = completions
        self.store = store
        self.every = timedelta(seconds=every_seconds)
        self.settle = timedelta(seconds=settle_seconds)
        self._last: datetime | None = None
        self._task: asyncio.Task[None] | None = None

    def offer(self, workflows: list[Workflow], states: States, now: datetime) -> None:
        """Called by every schedule pass with what it read: start a sweep when one is due and none runs."""
        if self._task is not None and not self._task.done():
            return
        if self._last is not None and now - self._last < self.every:
            return
        self._last = now
        self._task = asyncio.create_task(self._pass(workflows, states, now), name="completion-sweep")

    async def stop(self) -> None:
        """Stop the pass under way."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _pass(self, workflows: list[Workflow], states: States, now: datetime) -> None:
        try:
            await self.run_pass(workflows, states, now)
        except Exception:  # a bug must not stop the sweeps of this replica for good
            log.exception("completion sweep failed")

    async def run_pass(self, workflows: list[Workflow], states: States, now: datetime) -> None:
        """Follow what each on_run trigger has missed up to `now` - settle; forget the triggers that are gone."""
        cutoff = now - self.settle
        live: set[tuple[str, str]] = set()
        for workflow in workflows:
            for spec in triggers_of(workflow.definition):
                live.add((workflow.name, spec.id))
                if spec.kind != "on_run":
                    continue
                try:
                    await self._sweep(workflow, spec, states.get((workflow.name, spec.id)), cutoff)
                except StorageError as error:  # the other triggers are still swept
                    log.warning("completion trigger %s/%s not swept: %s", workflow.name, spec.id, error)
        for key, state in states.items():
            if key not in live and state.digest.startswith(DIGEST_PREFIX):
                await self._forget(state, now)

    async def _sweep(self, workflow: Workflow, spec: TriggerSpec, state: TriggerState | None,
                     cutoff: datetime) -> None:
        if state is not None and state.paused:
            return
        mark = mark_of(workflow, spec, state)
        if not mark.armed:
            if not await self._move(workflow, spec, state, mark, mark.at):
                return  # another replica armed it first
            mark = Mark(mark.at, mark.digest, True)
        states = [RunState(value) for value in spec.on_run["states"] if value in _RUN_STATES]
        follower = (workflow.name, spec.id)
        for _ in range(PAGES_PER_PASS):
            if cutoff <= mark.at:
                return
            ended = await self.store.ended_runs(spec.on_run["workflow"], states, mark.at, cutoff, follower, PAGE)
            for finished in ended:
                if not self.completions.followed(workflow, spec, finished.id):
                    await self.completions.follow(workflow, spec, finished)
            if len(ended) < PAGE:
                if ended or cutoff - mark.at >= IDLE_MOVE:
                    await self._move(workflow, spec, None, mark, cutoff)
                return
            # A full page: move to the last end before the page's last moment (ends sharing it may go on).
            last = ended[-1].finished_at
            earlier = [run.finished_at for run in ended if run.finished_at is not None and last is not None
                       and run.finished_at < last]
            if not earlier:
                return  # one moment fills the page: what was started is not listed again next pass
            if not await self._move(workflow, spec, None, mark, max(earlier)):
                return
            mark = Mark(max(earlier), mark.digest, True)

    async def _move(self, workflow: Workflow, spec: TriggerSpec, state: TriggerState | None, mark: Mark,
                    to: datetime) -> bool:
        """Compare-and-set the mark from where it was read (`state` when not armed yet) to `to`."""
        expected_digest: str = mark.digest
        expected_at: datetime | None = mark.at
        if not mark.armed:
            expected_digest = state.digest if state is not None else ""
            expected_at = state.next_fire_at if state is not None else None
        return await self.store.advance(Advance(
            workflow.name, spec.id, compare=True, expected_digest=expected_digest, expected_next_fire_at=expected_at,
            digest=mark.digest, next_fire_at=to))

    async def _forget(self, state: TriggerState, now: datetime) -> None:
        """A completion trigger that is gone (removed, or its workflow archived): added back, it is armed anew."""
        try:
            await self.store.advance(Advance(
                state.workflow, state.trigger_id, compare=True, expected_digest=state.digest,
                expected_next_fire_at=state.next_fire_at, digest="", next_fire_at=now))
        except StorageError as error:
            log.warning("completion trigger %s/%s not forgotten: %s", state.workflow, state.trigger_id, error)

