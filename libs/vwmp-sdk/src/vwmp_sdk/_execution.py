"""Running one step attempt: validate config, call the handler (async task or thread), check outputs.

Shared by the plugin server and `vwmp_sdk.testing`, so a test sees exactly what the engine sees.
With an `OutcomeJournal` (the plugin server always has one), a delivery holds its idempotency key
while the handler runs and records how it ended; a second delivery of the key answers with that
outcome instead of running the handler again (see `_outcomes`).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from typing import Any

from vwmp_sdk._context import StepContext
from vwmp_sdk._errors import StepCancelledError, StepError, failure_of
from vwmp_sdk._outcomes import LOCK_POLL_SECONDS, Outcome, OutcomeEntry, OutcomeJournal, request_digest
from vwmp_sdk._plugin import StepDefinition

log = logging.getLogger(__name__)


class RecordedFailure(StepError):
    """The failure an earlier delivery of the same idempotency key recorded, given again."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


async def execute_step(
    definition: StepDefinition, config: Any, ctx: StepContext, executor: Executor | None = None,
    journal: OutcomeJournal | None = None, mask: Callable[[str], str] = str,
) -> dict[str, Any]:
    """Run one attempt and return its outputs JSON.

    Cancelling the awaiting task cancels an async handler and marks the context of a sync handler
    cancelled (its `ctx.run` child is killed; the thread ends when the handler returns, and what it
    returned is still recorded: the work was done). `mask` hides the run's secrets in what the
    journal stores.

    Raises:
        ConfigError: invalid config, or the idempotency key was delivered with another config.
        StepError: the handler failed or returned outputs that do not match the schema.
        Exception: whatever else the handler raised.
    """
    model = definition.parse_config(config)
    args: tuple[Any, ...] = (ctx,) if definition.config_model is None else (ctx, model)
    entry = _entry(definition, config, ctx, journal, mask)
    delivery = _Delivery(definition, args, ctx, entry)
    if definition.is_async:
        return await delivery.run_async()
    loop = asyncio.get_running_loop()
    call = functools.partial(contextvars.copy_context().run, delivery.run_sync)
    future = loop.run_in_executor(executor, call)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        ctx.cancel()
        future.add_done_callback(_consume)
        raise


def _entry(definition: StepDefinition, config: Any, ctx: StepContext, journal: OutcomeJournal | None,
           mask: Callable[[str], str]) -> OutcomeEntry | None:
    """The key's record, or None: a dry run changes nothing (and its plan must show the state of now), and
    a step without effects can run again unnoticed, so it needs no record (nor its disk writes)."""
    if journal is None or ctx.dry_run or not ctx.idempotency_key or definition.effects == "none":
        return None
    try:
        return journal.entry(ctx.run_id, ctx.idempotency_key, request_digest(definition.type, config), mask)
    except OSError as error:  # a read-only workspace: the handler's own idempotency is all there is
        log.warning("cannot keep step outcomes in the workspace", extra={"fields": {"error": str(error)}})
        return None


class _Delivery:
    """One delivery of a step: the key held, an earlier outcome given again, or the handler run and recorded."""

    def __init__(self, definition: StepDefinition, args: tuple[Any, ...], ctx: StepContext,
                 entry: OutcomeEntry | None) -> None:
        self.definition, self.args, self.ctx, self.entry = definition, args, ctx, entry

    def run_sync(self) -> dict[str, Any]:
        if self.entry is not None and not self._hold(self.entry.acquire(lambda: self.ctx.cancelled)):
            raise StepCancelledError("cancelled while an earlier delivery of this step was still running")
        try:
            if (earlier := self._earlier()) is not None:
                return earlier
            with self._failure_recorded():
                outputs = self._outputs(self.definition.handler(*self.args))
            return self._recorded(outputs)
        finally:
            self._release()

    async def run_async(self) -> dict[str, Any]:
        if self.entry is not None:
            # The holder may be another process (a host sharing the workspace): a file lock has no event.
            while not self._hold(self.entry.try_acquire()):  # noqa: ASYNC110
                await asyncio.sleep(LOCK_POLL_SECONDS)
        try:
            if (earlier := self._earlier()) is not None:
                return earlier
            with self._failure_recorded():
                outputs = self._outputs(await self.definition.handler(*self.args))
            return self._recorded(outputs)
        finally:
            self._release()

    def _hold(self, acquired: bool) -> bool:
        if not acquired:
            return False
        assert self.entry is not None
        self.ctx._attach(self.entry)
        return True

    def _release(self) -> None:
        if self.entry is not None:
            self.entry.release()

    def _outputs(self, result: Any) -> dict[str, Any]:
        return self.definition.dump_outputs(result, self.ctx.planned if self.ctx.returns_plan else None)

    def _earlier(self) -> dict[str, Any] | None:
        """The outcome of an earlier delivery of this key: its outputs, or its failure raised again."""
        done = self.entry.outcome if self.entry is not None else None
        if done is None:
            return None
        self.ctx.log(f"{self.ctx.idempotency_key} was delivered before and finished: "
                     "answering with that outcome, not running the step again")
        if done.failure is not None:
            raise RecordedFailure(done.failure.kind, done.failure.message)
        return done.outputs or {}

    @contextlib.contextmanager
    def _failure_recorded(self) -> Iterator[None]:
        """Record how the handler failed, unless it was cut off (then the next delivery runs it again)."""
        try:
            yield
        except Exception as error:
            if not (self.ctx.cancelled or isinstance(error, StepCancelledError)):
                self._record(Outcome(failure=failure_of(error)))
            raise

    def _recorded(self, outputs: dict[str, Any]) -> dict[str, Any]:
        self._record(Outcome(outputs=outputs))
        return outputs

    def _record(self, outcome: Outcome) -> None:
        if self.entry is None:
            return
        try:
            self.entry.save_outcome(outcome)
        except OSError as error:
            log.warning("cannot record the step's outcome", extra={"fields": {"error": str(error)}})


def _consume(future: asyncio.Future[Any]) -> None:
    # The step is gone; an error raised by its thread afterwards is expected and uninteresting.
    if not future.cancelled():
        future.exception()
