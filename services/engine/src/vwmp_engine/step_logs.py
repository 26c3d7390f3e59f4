"""A step's log lines on their way to storage: batched, scrubbed of secrets, announced by `step.log`.

A plugin streams lines one by one; writing each would cost a storage commit and an event per
line. Lines are collected for up to `max_delay` seconds and written together.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from vwmp_common.states import EventType

from vwmp_engine.run_state import RunContext, StepRun
from vwmp_engine.store import Transition

LOG_BATCH_SECONDS = 0.2

Lines = list[tuple[str, str]]
"""`(stream, line)` pairs in arrival order."""


class StepLogBuffer:
    """Collects a step's log lines and hands them to `write` in batches."""

    def __init__(self, write: Callable[[Lines], Awaitable[None]], max_delay: float = LOG_BATCH_SECONDS) -> None:
        self._write_lines = write
        self.lines: Lines = []
        self.max_delay = max_delay
        self._flusher: asyncio.Task[None] | None = None

    def add(self, stream: str, line: str) -> None:
        """Take one line; the batch is written at the latest `max_delay` seconds after its first line."""
        self.lines.append((stream, line))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(self.max_delay)
        self._flusher = None
        await self._write()

    async def _write(self) -> None:
        lines, self.lines = self.lines, []
        if lines:
            await self._write_lines(lines)

    async def flush(self) -> None:
        """Write what is collected now (the attempt ended); survives the attempt being cancelled."""
        if self._flusher is not None:
            self._flusher.cancel()
            self._flusher = None
        await asyncio.shield(self._write())


def step_log_writer(run: RunContext, step: StepRun) -> Callable[[Lines], Awaitable[None]]:
    """Writes a batch of the step's current attempt: the lines to storage, then a `step.log` event."""

    async def write(lines: Lines) -> None:
        if run.lost:  # the lease is gone (taken over, or fenced here): nothing more is written for the run
            return
        attempt = step.attempt
        scrubbed = [(stream, run.redactor.scrub(line)) for stream, line in lines]
        await run.runtime.store.append_logs(run.run_id, step.spec.id, attempt, scrubbed)
        await run.record(Transition(EventType.STEP_LOG, step.spec.id, attempt=attempt, data={
            "lines": [{"stream": stream, "line": line} for stream, line in scrubbed]}))

    return write
