"""Claiming runs from storage with leases, renewing them, and running their executors.

Every replica claims free or expired runs; a replica that stops renewing
loses its runs to another one, and storage refuses the stale owner's writes
(fencing by lease epoch). A replica that cannot reach storage to renew stops
its runs itself before their leases can expire (self_fencing.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import traceback
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from vwmp_common.states import TERMINAL_RUN_STATES

from vwmp_engine.claim_grace import ClaimGrace
from vwmp_engine.executor import RunExecutor
from vwmp_engine.runtime import EngineRuntime
from vwmp_engine.self_fencing import PROBE_TIMEOUT, RENEW_EVERY, WATCH_EVERY, Reachability
from vwmp_engine.store import Lease, Reach, StorageError, StorageUnavailable

log = logging.getLogger(__name__)
POLL_SECONDS = 0.5
CLAIM_BATCH = 50
LOAD_WAIT_SECONDS = 2.0  # a control waits this long for a run this replica claimed to be loaded
MAX_RUN_CRASHES = 3  # executions of one run that crash before this replica ends it as failed


@dataclass
class RunHandle:
    """A run this replica holds a lease on; its executor exists once the run is loaded."""

    epoch: int
    renewed: float = field(default_factory=time.monotonic)  # when the last claim/renewal storage confirmed was sent
    fenced: bool = False  # stopped here: the lease could not be renewed in time
    task: asyncio.Task[None] | None = None
    executor: RunExecutor | None = None
    loaded: asyncio.Event = field(default_factory=asyncio.Event)  # set once loaded (or given up)


class LeaseKeeper:
    """Owns the runs this replica executes."""

    def __init__(self, runtime: EngineRuntime, lease_seconds: float, max_runs: int) -> None:
        self.runtime = runtime
        self.lease_seconds = lease_seconds
        self.max_runs = max_runs
        self.handles: dict[str, RunHandle] = {}
        self._wakeup = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._crashes: dict[str, int] = {}  # run id -> executions on this replica that ended in a crash
        self.grace = ClaimGrace(lease_seconds)  # after a storage outage, no takeover of expired leases for a while
        self.reach = Reachability(lease_seconds)  # whether storage answers: an overdue lease is fenced if not
        self._calls: set[asyncio.Task[None]] = set()  # renewals and health checks in flight
        self._probed = float("-inf")

    def start(self) -> None:
        """Claim runs, renew leases and watch them in the background from now on."""
        self._tasks = [asyncio.create_task(self._claim_loop(), name="claim-runs"),
                       asyncio.create_task(self._renew_loop(), name="renew-leases"),
                       asyncio.create_task(self._watch_loop(), name="watch-leases")]

    def wake(self) -> None:
        """Claim now instead of at the next poll (a run was just started)."""
        self._wakeup.set()

    def executor(self, run_id: str) -> RunExecutor | None:
        """The executor of a run this replica executes, if it does."""
        handle = self.handles.get(run_id)
        return handle.executor if handle else None

    async def loaded_executor(self, run_id: str) -> RunExecutor | None:
        """As `executor`, but a run this replica has just claimed is waited for while it loads.

        Right after a claim the run is read from storage before its executor exists; a control
        arriving then belongs to this replica, not to another one over NATS.
        """
        handle = self.handles.get(run_id)
        if handle is None:
            return None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(handle.loaded.wait(), LOAD_WAIT_SECONDS)
        return handle.executor

    async def stop(self) -> None:
        """Stop claiming, abandon every run (another replica takes them over)."""
        for task in [*self._tasks, *self._calls]:
            task.cancel()
        for handle in self.handles.values():
            if handle.executor is not None:
                handle.executor.abandon()
            elif handle.task is not None:  # claimed, still loading: nothing ran yet, the lease just expires
                handle.task.cancel()
        tasks = [handle.task for handle in self.handles.values() if handle.task is not None]
        await asyncio.gather(*tasks, *self._tasks, *self._calls, return_exceptions=True)

    async def _claim_loop(self) -> None:
        while True:
            try:
                await self._claim()
            except asyncio.CancelledError:
                raise
            except StorageUnavailable as error:
                self.grace.unreachable(error)
            except StorageError as error:
                log.warning("claiming runs failed", extra={"fields": {"error": str(error)}})
            except Exception:
                log.exception("claiming runs failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), POLL_SECONDS)
            self._wakeup.clear()

    async def _claim(self) -> None:
        free = min(self.max_runs - len(self.handles), CLAIM_BATCH)
        if free <= 0:
            return
        sent = time.monotonic()
        leases = await self.runtime.store.claim_runs(self.runtime.owner, free, self.lease_seconds,
                                                     free_only=self.grace.free_only())
        self.grace.reachable()
        self.reach.answered()
        for lease in leases:
            handle = self.handles.get(lease.run_id)
            ended = handle is not None and handle.executor is not None \
                and handle.executor.state in TERMINAL_RUN_STATES  # reopened (a retry) while it winds down here
            if handle is not None and (handle.fenced or ended):  # still winding down: let the next claim take it
                self._spawn(self._release(lease.run_id, lease.epoch), "release-lease")
                continue
            if handle is not None:  # our own lease ran out before a renewal: keep executing
                handle.epoch, handle.renewed = lease.epoch, sent
                if handle.executor is not None:
                    handle.executor.fence(lease.epoch)
                continue
            handle = self.handles[lease.run_id] = RunHandle(lease.epoch, sent)  # renewed from now on
            handle.task = asyncio.create_task(self._execute(lease, handle), name=f"run-{lease.run_id}")
        if len(leases) == free:
            self._wakeup.set()  # there may be more waiting

    async def _execute(self, lease: Lease, handle: RunHandle) -> None:
        run_id = lease.run_id
        try:
            run = lease.run or await self.runtime.store.get_run(run_id, with_definition=True)
            handle.executor = RunExecutor(self.runtime, run, handle.epoch)
            handle.loaded.set()
            await handle.executor.execute()
        except StorageError as error:
            log.warning("could not load a claimed run", extra={"fields": {"run_id": run_id, "error": str(error)}})
        except Exception as error:  # a bug: released as is, the run would be claimed and crash again forever
            await self._crashed(run_id, handle, error)
        finally:
            handle.loaded.set()
            del self.handles[run_id]
            if handle.executor is not None and not handle.executor.lost \
                    and handle.executor.state not in TERMINAL_RUN_STATES:  # a run's end released its lease
                await self._release(run_id, handle.epoch)

    async def _crashed(self, run_id: str, handle: RunHandle, error: Exception) -> None:
        """Count the crash; at the limit end the run as failed instead of releasing it to crash again."""
        executor = handle.executor
        scrub = executor.run.redactor.scrub if executor is not None else str
        crashes = self._crashes[run_id] = self._crashes.get(run_id, 0) + 1
        log.error("executing a run crashed", extra={"fields": {
            "run_id": run_id, "crashes": crashes, "exception": scrub("".join(traceback.format_exception(error)))}})
        if crashes < MAX_RUN_CRASHES or executor is None or executor.lost:
            return
        try:
            run = await self.runtime.store.get_run(run_id, with_definition=True)
            await RunExecutor(self.runtime, run, handle.epoch).give_up(
                f"the engine failed {crashes} times executing this run (internal error: {type(error).__name__});"
                " see the engine log")
            self._crashes.pop(run_id, None)
        except Exception:  # released anyway: the next claim counts on
            log.error("could not end a run that keeps crashing", extra={"fields": {"run_id": run_id}})

    async def _release(self, run_id: str, epoch: int) -> None:
        try:
            await self.runtime.store.release_lease(self.runtime.owner, Lease(run_id, epoch))
        except StorageError as error:
            log.warning("releasing a lease failed", extra={"fields": {"run_id": run_id, "error": str(error)}})

    def _spawn(self, call: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(call, name=name)
        self._calls.add(task)
        task.add_done_callback(self._calls.discard)

    async def _renew_loop(self) -> None:
        """Renew on a fixed beat, every quarter of the lease: a slow renewal does not delay the next one."""
        beat = self.lease_seconds * RENEW_EVERY
        next_beat = time.monotonic() + beat
        while True:
            await asyncio.sleep(max(0.0, next_beat - time.monotonic()))
            next_beat = max(next_beat + beat, time.monotonic())
            leases = [Lease(run_id, handle.epoch) for run_id, handle in self.handles.items() if not handle.fenced]
            if leases:
                self._spawn(self._renew(leases), "renew-leases")

    async def _renew(self, leases: list[Lease]) -> None:
        """One renewal; an answer however late confirms the leases from when it was sent (storage renewed
        them later than that, never earlier)."""
        sent = time.monotonic()
        try:
            lost = await self.runtime.store.renew_leases(self.runtime.owner, leases, self.lease_seconds,
                                                         deadline=self.lease_seconds)
        except StorageUnavailable as error:
            self.grace.unreachable(error)
            return
        except StorageError as error:
            log.warning("renewing leases failed", extra={"fields": {"error": str(error)}})
            return
        self.grace.reachable()
        self.reach.answered()
        gone = set(lost)
        for lease in leases:
            handle = self.handles.get(lease.run_id)
            if handle is None or handle.epoch != lease.epoch:
                continue
            if lease.run_id not in gone:
                handle.renewed = max(handle.renewed, sent)
            elif handle.executor is not None and not handle.fenced \
                    and handle.executor.state not in TERMINAL_RUN_STATES:  # ended: its end released the lease
                log.warning("lease lost; another engine owns the run now", extra={"fields": {"run_id": lease.run_id}})
                handle.executor.abandon()

    async def _watch_loop(self) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds * WATCH_EVERY)
            self.watch()

    def watch(self) -> None:
        """Fence the runs whose lease is about to run out unrenewed while storage does not answer."""
        overdue = [(run_id, handle) for run_id, handle in self.handles.items()
                   if not handle.fenced and self.reach.overdue(handle.renewed)]
        if not overdue:
            return
        now = time.monotonic()
        if now - self._probed >= self.lease_seconds * RENEW_EVERY:  # once a beat while leases are overdue
            self._probed = now
            self._spawn(self._probe(), "probe-storage")
        for run_id, handle in overdue:
            if self.reach.must_fence(handle.renewed):
                self._fence(run_id, handle, now)

    async def _probe(self) -> None:
        """Ask storage's health. Refused counts as an answer: a storage that is down is down for every
        replica (none can claim through it), and once it is back the claim grace keeps them all off
        expired leases for a lease length, so the owner keeps its runs and sends its writes again."""
        if await self.runtime.store.reach(self.lease_seconds * PROBE_TIMEOUT) != Reach.SILENT:
            self.reach.answered()

    def _fence(self, run_id: str, handle: RunHandle, now: float) -> None:
        handle.fenced = True
        log.warning("lease not renewed in time; stopped executing the run", extra={"fields": {
            "run_id": run_id, "unrenewed_seconds": round(now - handle.renewed, 2),
            "lease_seconds": self.lease_seconds}})
        if handle.executor is not None:
            handle.executor.stop_unrenewed()
        elif handle.task is not None:  # still loading: nothing ran yet
            handle.task.cancel()
