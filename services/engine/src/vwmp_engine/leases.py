"""Claiming runs from storage with leases, renewing them, and running their executors.

Every replica claims free or expired runs; a replica that stops renewing
loses its runs to another one, and storage refuses the stale owner's writes
(fencing by lease epoch).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import grpc
from vwmp_proto.storage.v1 import storage_pb2

from vwmp_engine.executor import RunExecutor
from vwmp_engine.runtime import EngineRuntime

log = logging.getLogger(__name__)
POLL_SECONDS = 0.5


class LeaseKeeper:
    """Owns the runs this replica executes."""

    def __init__(self, runtime: EngineRuntime, lease_seconds: float, max_runs: int) -> None:
        self.runtime = runtime
        self.lease_seconds = lease_seconds
        self.max_runs = max_runs
        self.executors: dict[str, tuple[RunExecutor, int, asyncio.Task[None]]] = {}
        self._wakeup = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._claim_loop(), name="claim-runs"),
                       asyncio.create_task(self._renew_loop(), name="renew-leases")]

    def wake(self) -> None:
        """Claim now instead of at the next poll (a run was just started)."""
        self._wakeup.set()

    def executor(self, run_id: str) -> RunExecutor | None:
        entry = self.executors.get(run_id)
        return entry[0] if entry else None

    async def stop(self) -> None:
        """Stop claiming, abandon every run (another replica takes them over) and give the leases back."""
        for task in self._tasks:
            task.cancel()
        for executor, _, _ in self.executors.values():
            executor.abandon()
        tasks = [task for _, _, task in self.executors.values()]
        await asyncio.gather(*tasks, *self._tasks, return_exceptions=True)

    async def _claim_loop(self) -> None:
        while True:
            try:
                await self._claim()
            except asyncio.CancelledError:
                raise
            except grpc.aio.AioRpcError as error:
                log.warning("claiming runs failed", extra={"fields": {"error": error.details()}})
            except Exception:
                log.exception("claiming runs failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), POLL_SECONDS)
            self._wakeup.clear()

    async def _claim(self) -> None:
        free = self.max_runs - len(self.executors)
        if free <= 0:
            return
        response = await self.runtime.storage.ClaimRuns(storage_pb2.ClaimRunsRequest(
            owner=self.runtime.owner, limit=min(free, 100), lease_seconds=self.lease_seconds))
        for lease in response.leases:
            run = await self.runtime.storage.GetRun(storage_pb2.GetRunRequest(id=lease.run_id, with_definition=True))
            executor = RunExecutor(self.runtime, run, lease.epoch)
            task = asyncio.create_task(executor.execute(), name=f"run-{lease.run_id}")
            self.executors[lease.run_id] = (executor, lease.epoch, task)
            task.add_done_callback(lambda _t, run_id=lease.run_id: self._finished(run_id))
        if len(response.leases) == min(free, 100):
            self._wakeup.set()  # there may be more waiting

    def _finished(self, run_id: str) -> None:
        executor, epoch, _ = self.executors.pop(run_id)
        if not executor.lost:
            asyncio.create_task(self._release(run_id, epoch))  # noqa: RUF006 - fire and forget, logged on error

    async def _release(self, run_id: str, epoch: int) -> None:
        try:
            await self.runtime.storage.ReleaseLease(storage_pb2.ReleaseLeaseRequest(
                owner=self.runtime.owner, run_id=run_id, epoch=epoch))
        except grpc.aio.AioRpcError as error:
            log.warning("releasing a lease failed", extra={"fields": {"run_id": run_id, "error": error.details()}})

    async def _renew_loop(self) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            if not self.executors:
                continue
            leases = [storage_pb2.Lease(run_id=run_id, epoch=epoch) for run_id, (_, epoch, _) in self.executors.items()]
            try:
                response = await self.runtime.storage.RenewLeases(storage_pb2.RenewLeasesRequest(
                    owner=self.runtime.owner, leases=leases, lease_seconds=self.lease_seconds))
            except grpc.aio.AioRpcError as error:
                log.warning("renewing leases failed", extra={"fields": {"error": error.details()}})
                continue
            for run_id in response.lost_run_ids:
                entry = self.executors.get(run_id)
                if entry:
                    log.warning("lease lost; another engine owns the run now", extra={"fields": {"run_id": run_id}})
                    entry[0].abandon()
