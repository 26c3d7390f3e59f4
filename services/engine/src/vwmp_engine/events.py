"""Durable transitions and their publication.

`TransitionLog` writes a run's transitions to storage, coalescing those that
arrive while a write is in flight into one RecordTransitions call (a finished
step and the next step's start usually share one commit). Only after storage
has assigned the sequence numbers are the events handed to `EventPublisher`,
which publishes them on JetStream with `Nats-Msg-Id = <run>:<seq>`.

Each batch carries an idempotency key of its own. When storage does not answer
(UNAVAILABLE, DEADLINE_EXCEEDED: maybe before, maybe after its commit) the same
batch is sent again, unchanged and with the same key, until storage answers; a
batch it had committed is answered with the events of that commit, so a lost
answer never appends a transition twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence

from nats.aio.client import Client as NatsClient
from vwmp_common.subjects import event_msg_id, run_events_subject
from vwmp_proto.events.v1.events_pb2 import Event

from vwmp_engine.store import StorageError, StorageUnavailable, Store, Transition

log = logging.getLogger(__name__)
RESEND_INITIAL_SECONDS = 0.2  # a batch storage did not answer is sent again after this, doubling
RESEND_MAX_SECONDS = 2.0
RESEND_LOG_SECONDS = 10.0  # while storage stays away, a warning this often (not one per send)


class EventPublisher:
    """Publishes stored events on JetStream in order, without blocking the runs.

    If NATS is unavailable the events stay queued (bounded); subscribers
    backfill any gap from storage, so a dropped publish loses nothing.
    """

    def __init__(self, nats: NatsClient | None, max_queue: int = 100_000) -> None:
        self._nats = nats
        self._queue: deque[Event] = deque(maxlen=max_queue)
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # Called with every batch of durable events, NATS or not (the completion triggers watch run ends).
        self.listeners: list[Callable[[list[Event]], None]] = []

    def start(self) -> None:
        """Publish in the background from now on."""
        self._task = asyncio.create_task(self._run(), name="event-publisher")

    async def stop(self) -> None:
        """Publish what is queued (bounded), then stop."""
        if self._task:
            await self.drain(within=2.0)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def publish(self, events: list[Event]) -> None:
        """Queue durable events for publication, in order."""
        for listener in self.listeners:
            listener(events)
        if self._nats is None:
            return
        self._queue.extend(events)
        self._wakeup.set()

    async def drain(self, within: float) -> None:
        """Wait (bounded) until everything queued has been published."""
        deadline = asyncio.get_running_loop().time() + within
        while self._queue and asyncio.get_running_loop().time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.01)

    async def _run(self) -> None:
        assert self._nats is not None
        nats = self._nats
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue:
                batch = [self._queue[i] for i in range(min(len(self._queue), 512))]
                try:
                    # The stream captures plain publishes on its subjects; one flush per batch
                    # confirms the server has them without a round trip per event.
                    for event in batch:
                        await nats.publish(run_events_subject(event.run_id), event.SerializeToString(),
                                           headers={"Nats-Msg-Id": event_msg_id(event.run_id, event.seq)})
                    await nats.flush(timeout=2)
                except Exception as error:  # NATS down: keep the events, try again shortly (deduplicated)
                    log.warning("publishing events failed; will retry", extra={"fields": {"error": str(error)}})
                    await asyncio.sleep(0.5)
                    continue
                for _ in batch:
                    self._queue.popleft()


class TransitionLog:
    """Writes one run's transitions to storage in order, batching concurrent ones."""

    def __init__(self, store: Store, publisher: EventPublisher, run_id: str, owner: str, epoch: int) -> None:
        self._store = store
        self._publisher = publisher
        self.run_id = run_id
        self.owner = owner
        self.epoch = epoch
        self._pending: list[tuple[Transition, asyncio.Future[list[Event]]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._deferred: asyncio.TimerHandle | None = None
        self._closed: StorageError | None = None

    def record(self, *transitions: Transition, defer: float = 0.0) -> asyncio.Future[list[Event]]:
        """Queue transitions; the future resolves with their events once they are durable.

        With `defer`, the write waits up to that many seconds for another
        transition to join it (a finished step and the next step's start).
        """
        loop = asyncio.get_running_loop()
        if self._closed is not None:  # fenced: nothing more is sent
            refused = _detached()
            refused.set_exception(self._closed)
            return refused
        future: asyncio.Future[list[Event]] = loop.create_future()
        for index, transition in enumerate(transitions):
            self._pending.append((transition, future if index == len(transitions) - 1 else _detached()))
        if defer:
            if self._deferred is None:
                self._deferred = loop.call_later(defer, self._start_writer)
        else:
            self._start_writer()
        return future

    @property
    def backlog(self) -> int:
        """Transitions recorded and not yet sent to storage."""
        return len(self._pending)

    def _start_writer(self) -> None:
        if self._deferred is not None:
            self._deferred.cancel()
            self._deferred = None
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write(), name=f"transitions-{self.run_id}")

    def close(self, error: StorageError) -> None:
        """Send nothing more (the run was fenced): what waits or is in flight fails with `error`.

        The write in flight is cancelled on this side; storage may still have committed it (its
        answer is what could not arrive), which the next owner reads back as any other commit.
        """
        self._closed = error
        if self._deferred is not None:
            self._deferred.cancel()
            self._deferred = None
        pending, self._pending = self._pending, []
        for _, future in pending:
            if not future.done():
                future.set_exception(error)
        if self._writer is not None and not self._writer.done():
            self._writer.cancel()

    async def flush(self) -> None:
        """Wait until everything recorded so far is written (or refused)."""
        if self._closed is not None:
            return
        if self._pending:
            self._start_writer()
        while self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)

    async def _write(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                events = await self._commit([transition for transition, _ in batch], uuid.uuid4().hex)
            except asyncio.CancelledError:  # closed (fenced) in the middle of the write
                for _, future in batch:
                    if not future.done():
                        future.set_exception(self._closed or StorageUnavailable("the write was cancelled"))
                raise
            except StorageError as failure:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(failure)
                continue
            self._publisher.publish(events)
            for _, future in batch:
                if not future.done():
                    future.set_result(events)


    async def _commit(self, transitions: Sequence[Transition], key: str) -> list[Event]:
        """One batch, sent with its key until storage answers (transitions arriving meanwhile wait for the next).

        However long storage is away (its database restarting), the run waits here rather than
        failing; one warning when it starts, one every RESEND_LOG_SECONDS, one line when answered.
        """
        delay = RESEND_INITIAL_SECONDS
        started = time.monotonic()
        logged = 0.0
        sends = 0
        while True:
            sends += 1
            try:
                events = await self._store.record(self.run_id, transitions, owner=self.owner, epoch=self.epoch,
                                                  idempotency_key=key)
            except StorageUnavailable as error:
                waited = time.monotonic() - started
                if sends == 1 or waited - logged >= RESEND_LOG_SECONDS:
                    logged = waited
                    log.warning("storage did not answer a transition write; sending it again with its key until "
                                "it does", extra={"fields": {"error": str(error), "transitions": len(transitions),
                                                             "waited_seconds": round(waited, 1), "sends": sends}})
                await asyncio.sleep(delay)
                delay = min(delay * 2, RESEND_MAX_SECONDS)
                continue
            if sends > 1:
                log.info("storage answered a transition write sent again", extra={"fields": {
                    "waited_seconds": round(time.monotonic() - started, 1), "sends": sends}})
            return events


def _detached() -> asyncio.Future[list[Event]]:
    future: asyncio.Future[list[Event]] = asyncio.get_running_loop().create_future()
    future.add_done_callback(lambda f: f.exception())  # retrieved: never "exception was never retrieved"
    return future
