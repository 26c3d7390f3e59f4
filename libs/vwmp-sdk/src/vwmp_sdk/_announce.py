"""Announcing a plugin host in the NATS KV bucket, with a heartbeat, surviving NATS outages."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Callable
from typing import Any

import nats
from nats.aio.client import DEFAULT_INBOX_PREFIX, Client
from nats.js.kv import KeyValue
from vwmp_common.nats import plugin_hosts_bucket
from vwmp_common.nats_auth import plugin_host_inbox
from vwmp_common.subjects import PLUGIN_HOST_HEARTBEAT_SECONDS
from vwmp_common.timeutil import iso, utcnow

log = logging.getLogger(__name__)


async def _connect(url: str, name: str, user: str | None = None, password: str | None = None) -> Client:
    # Not vwmp_common.nats.connect: it passes `retry_on_failed_connect`, which nats-py 2.16 rejects, and
    # its endless reconnects make a first connect to a dead server loop inside nats-py for ever (where a
    # cancel can be swallowed). Bounded attempts instead: when the client gives up and closes, the
    # heartbeat loop opens a new one.
    # A NATS user gets its replies on its own inbox prefix: the one its permissions let it read.
    return await nats.connect(
        url, name=name, allow_reconnect=True, max_reconnect_attempts=3, reconnect_time_wait=0.5,
        connect_timeout=2, user=user, password=password,
        inbox_prefix=plugin_host_inbox(user) if user else DEFAULT_INBOX_PREFIX,
    )


def announcement_key(host_id: str, user: str | None = None) -> str:
    """The KV key of a host: `<NATS user>.<host id>` (its user may write only those), in KV key characters."""
    key = re.sub(r"[^A-Za-z0-9_=-]", "_", host_id).strip("_") or "plugin-host"
    return f"{user}.{key}" if user else key


FIRST_RETRY_SECONDS = 0.25
"""How soon a host tries again while its first announcement has not landed."""


class Announcer:
    """Keeps `key` in the plugin-hosts bucket while the host runs; deletes it on stop.

    Args:
        nats_url: NATS server URL.
        key: the KV key (see `announcement_key`).
        document: builds the announced JSON (without `heartbeat_at`).
        interval: seconds between heartbeats (the bucket's TTL is longer).
        user: NATS user (`VWMP_NATS_USER`), None to connect without one.
        password: its password.
    """

    def __init__(
        self,
        nats_url: str,
        key: str,
        document: Callable[[], dict[str, Any]],
        interval: float = PLUGIN_HOST_HEARTBEAT_SECONDS,
        user: str | None = None,
        password: str | None = None,
    ) -> None:
        self.nats_url = nats_url
        self._user, self._password = user, password
        self.key = key
        self.document = document
        self.interval = interval
        self._nc: Client | None = None
        self._kv: KeyValue | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.announced = asyncio.Event()

    def start(self) -> None:
        """Start heartbeating in the background (never blocks on NATS)."""
        self._task = asyncio.create_task(self._heartbeat(), name=f"announce-{self.key}")

    async def _heartbeat(self) -> None:
        failing = False
        while not self._stopping:
            try:
                await self._put()
                if failing:
                    log.info("plugin host announced again", extra={"fields": {"key": self.key}})
                failing = False
                self.announced.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._kv = None  # NATS may come back without the bucket: look it up again
                if not failing:
                    log.warning(
                        "cannot announce the plugin host; retrying",
                        extra={"fields": {"key": self.key, "error": f"{type(exc).__name__}: {exc}"}},
                    )
                failing = True
            # Until the first announcement lands, try again soon: a host that starts before the engine
            # waits for the engine to make the bucket (a host's NATS user may not), and the palette
            # should not wait a whole heartbeat for it.
            await asyncio.sleep(self.interval if self.announced.is_set() else min(self.interval, FIRST_RETRY_SECONDS))

    async def _put(self) -> None:
        if self._nc is not None and self._nc.is_closed:
            self._nc, self._kv = None, None
        nc = self._nc
        if nc is None:
            nc = await _connect(self.nats_url, f"vwmp-plugin-host-{self.key}", self._user, self._password)
            self._nc = nc
        kv = self._kv
        if kv is None:
            # A short API timeout: creating the bucket is refused without an answer when the host's
            # NATS user may not (the engine makes it), and the next try should not wait long for that.
            found: KeyValue = await asyncio.wait_for(plugin_hosts_bucket(nc.jetstream(timeout=1)), 5)
            kv = self._kv = found
        value = {**self.document(), "heartbeat_at": iso(utcnow())}
        await asyncio.wait_for(kv.put(self.key, json.dumps(value).encode()), 5)

    async def stop(self) -> None:
        """Stop heartbeating, delete the entry (best effort) and close the connection."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            # Bounded: a cancel swallowed inside nats-py must not hang the shutdown.
            await asyncio.wait({self._task}, timeout=5)
        nc, self._nc = self._nc, None
        if nc is None:
            return
        try:
            if nc.is_connected:
                kv = self._kv
                if kv is None:
                    found: KeyValue = await asyncio.wait_for(plugin_hosts_bucket(nc.jetstream(timeout=2)), 3)
                    kv = found
                await asyncio.wait_for(kv.delete(self.key), 3)
        except Exception as exc:
            log.warning("cannot remove the plugin host announcement", extra={"fields": {"error": str(exc)}})
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(nc.close(), 3)
