"""NATS connection helpers: connect with retries, ensure the event stream and KV bucket."""

from __future__ import annotations

import asyncio
import logging

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType, StreamConfig
from nats.js.errors import BucketNotFoundError, NotFoundError
from nats.js.kv import KeyValue

from vwmp_common.nats_auth import credentials_from_env
from vwmp_common.subjects import EVENTS_STREAM, EVENTS_WILDCARD, PLUGIN_HOST_TTL_SECONDS, PLUGIN_HOSTS_BUCKET

log = logging.getLogger(__name__)


async def connect(url: str, name: str, attempts: int = 0) -> Client:
    """Connect to NATS, waiting for it at start-up (start order must not matter) and reconnecting for ever.

    The NATS user is `VWMP_NATS_USER` / `VWMP_NATS_PASSWORD` when set (see `vwmp_common.nats_auth`).

    Args:
        url: NATS server URL.
        name: client name shown by the server.
        attempts: give up after this many failed first connections (0 = never).
    """
    user, password = credentials_from_env()
    tried = 0
    while True:
        try:
            return await nats.connect(
                url, name=name, max_reconnect_attempts=-1, reconnect_time_wait=0.5, connect_timeout=2,
                allow_reconnect=True, user=user, password=password,
            )
        except Exception as error:  # nats-py raises several unrelated types for "not there yet"
            tried += 1
            if attempts and tried >= attempts:
                raise
            log.warning("NATS not reachable yet; retrying", extra={"fields": {"url": url, "error": str(error)}})
            await asyncio.sleep(min(2.0, 0.2 * tried))


async def ensure_events_stream(js: JetStreamContext) -> None:
    """Create the JetStream stream of run events if it does not exist (idempotent)."""
    config = StreamConfig(
        name=EVENTS_STREAM, subjects=[EVENTS_WILDCARD], storage=StorageType.FILE,
        duplicate_window=120.0, max_age=7 * 24 * 3600.0,
    )
    try:
        await js.stream_info(EVENTS_STREAM)
    except NotFoundError:
        try:
            await js.add_stream(config)
        except Exception:  # another service created it first
            await js.stream_info(EVENTS_STREAM)


async def plugin_hosts_bucket(js: JetStreamContext) -> KeyValue:
    """The KV bucket where plugin hosts announce themselves (entries expire without heartbeat)."""
    try:
        return await js.key_value(PLUGIN_HOSTS_BUCKET)
    except (BucketNotFoundError, NotFoundError):
        try:
            return await js.create_key_value(
                KeyValueConfig(bucket=PLUGIN_HOSTS_BUCKET, ttl=PLUGIN_HOST_TTL_SECONDS, history=1)
            )
        except Exception:
            await asyncio.sleep(0.1)
            return await js.key_value(PLUGIN_HOSTS_BUCKET)
