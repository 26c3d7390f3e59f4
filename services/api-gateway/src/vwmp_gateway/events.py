"""Live run events: NATS subscriptions with backfill from storage, so a client misses nothing.

The order that makes this safe: subscribe first, then backfill from storage, then forward live
events skipping every seq already sent. A seq that jumps (a gap) or a quiet spell triggers another
backfill — storage writes every event before it is published, so storage always has the truth and
NATS only makes it fast. Events still arrive (within the idle interval) while NATS is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from vwmp_common.clients import StorageStub
from vwmp_common.nats import connect, ensure_events_stream
from vwmp_common.states import RUN_END_EVENTS
from vwmp_common.subjects import EVENTS_WILDCARD, run_events_subject
from vwmp_proto.events.v1 import events_pb2
from vwmp_proto.storage.v1 import storage_pb2

from vwmp_gateway import convert

log = logging.getLogger(__name__)

QUEUE_SIZE = 4096
PAGE = 1000

Sender = Callable[[dict[str, object]], Awaitable[None]]


class EventFeed:
    """One NATS connection per gateway, made in the background (start-up never waits for NATS)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._nc: Client | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._connect(), name="nats-connect")

    async def _connect(self) -> None:
        nc = await connect(self._url, "vwmp-gateway")
        try:
            await ensure_events_stream(nc.jetstream())
        except Exception as exc:  # the stream is the engine's concern; live events still flow
            log.warning("cannot ensure the events stream", extra={"fields": {"error": str(exc)}})
        self._nc = nc
        log.info("connected to NATS")

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    async def subscribe(self, subject: str, queue: asyncio.Queue[events_pb2.Event]) -> Subscription | None:
        """Put every event published on `subject` into `queue` (dropped when full: backfill repairs)."""
        if self._nc is None or not self._nc.is_connected:
            return None

        async def on_message(msg: Msg) -> None:
            event = events_pb2.Event()
            try:
                event.ParseFromString(msg.data)
            except Exception:
                log.warning("undecodable event", extra={"fields": {"subject": msg.subject}})
                return
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(event)

        try:
            return await self._nc.subscribe(subject, cb=on_message)
        except Exception as exc:
            log.warning("cannot subscribe", extra={"fields": {"subject": subject, "error": str(exc)}})
            return None

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.close()


async def _unsubscribe(sub: Subscription | None) -> None:
    if sub is not None:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()


class RunEventPump:
    """Sends one run's events to a client in order, exactly once each, from seq `after` on."""

    def __init__(
        self, storage: StorageStub, feed: EventFeed, run_id: str, after: int, send: Sender,
        idle_seconds: float, terminal: bool,
    ) -> None:
        self.storage = storage
        self.feed = feed
        self.run_id = run_id
        self.last = after
        self.send = send
        self.idle = idle_seconds
        self.terminal = terminal

    async def _emit(self, event: events_pb2.Event) -> None:
        if event.seq <= self.last:
            return
        self.last = event.seq
        public = convert.event(event)
        if public.type in RUN_END_EVENTS:
            self.terminal = True
        elif public.type.startswith("run."):
            self.terminal = False
        await self.send(public.model_dump())

    async def backfill(self) -> None:
        """Send everything storage has after the last seq sent."""
        while True:
            response = await self.storage.ListEvents(
                storage_pb2.ListEventsRequest(run_id=self.run_id, after=self.last, limit=PAGE)
            )
            for event in response.events:
                await self._emit(event)
            if len(response.events) < PAGE:
                return

    async def run(self, tick: Callable[[], Awaitable[None]]) -> None:
        """Pump until cancelled; `tick` runs on every wake-up, at least every idle interval."""
        queue: asyncio.Queue[events_pb2.Event] = asyncio.Queue(maxsize=QUEUE_SIZE)
        subject = run_events_subject(self.run_id)
        sub = await self.feed.subscribe(subject, queue)
        try:
            await self.backfill()
            loop = asyncio.get_running_loop()
            quiet_since = loop.time()
            while True:
                if sub is None and self.feed.connected:
                    sub = await self.feed.subscribe(subject, queue)
                    await self.backfill()
                idle = self.idle if not self.terminal else self.idle * 5
                wait = max(0.05, min(self.idle, idle - (loop.time() - quiet_since)))
                await tick()
                try:
                    event = await asyncio.wait_for(queue.get(), timeout=wait)
                except TimeoutError:
                    if loop.time() - quiet_since >= idle:
                        await self.backfill()
                        quiet_since = loop.time()
                    continue
                quiet_since = loop.time()
                if event.seq > self.last + 1:
                    await self.backfill()
                await self._emit(event)
        finally:
            await _unsubscribe(sub)


class AllRunsPump:
    """Live events of every run (no history): gaps within a run already seen are backfilled."""

    MAX_RUNS_TRACKED = 10_000

    def __init__(self, storage: StorageStub, feed: EventFeed, send: Sender, idle_seconds: float) -> None:
        self.storage = storage
        self.feed = feed
        self.send = send
        self.idle = idle_seconds
        self.last: dict[str, int] = {}

    async def _forward(self, event: events_pb2.Event) -> None:
        last = self.last.get(event.run_id)
        if last is not None and event.seq <= last:
            return
        if last is not None and event.seq > last + 1:
            response = await self.storage.ListEvents(
                storage_pb2.ListEventsRequest(run_id=event.run_id, after=last, limit=PAGE)
            )
            for missed in response.events:
                if missed.seq < event.seq:
                    await self.send(convert.event(missed).model_dump())
        if len(self.last) > self.MAX_RUNS_TRACKED:
            self.last.clear()
        self.last[event.run_id] = event.seq
        await self.send(convert.event(event).model_dump())

    async def run(self, tick: Callable[[], Awaitable[None]]) -> None:
        queue: asyncio.Queue[events_pb2.Event] = asyncio.Queue(maxsize=QUEUE_SIZE)
        sub = await self.feed.subscribe(EVENTS_WILDCARD, queue)
        try:
            while True:
                if sub is None and self.feed.connected:
                    sub = await self.feed.subscribe(EVENTS_WILDCARD, queue)
                await tick()
                try:
                    event = await asyncio.wait_for(queue.get(), timeout=self.idle)
                except TimeoutError:
                    continue
                await self._forward(event)
        finally:
            await _unsubscribe(sub)
