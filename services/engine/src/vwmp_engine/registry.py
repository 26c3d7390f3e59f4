"""Which step types exist and which live plugin host runs each.

Plugin hosts announce themselves in a NATS KV bucket with a heartbeat; a host is
known by its KV key (`<NATS user>.<host id>`, the only keys its NATS user may write),
never by what its document says, so no host can announce as another. The
registry watches the bucket and forgets a host whose heartbeat is older than
the bucket's TTL (expired KV entries produce no delete marker). While NATS is
unreachable no heartbeat can arrive, so the hosts' ages are frozen: the engine
keeps routing steps to the hosts it knew (a host that really died refuses the
call and is skipped), and they have a full TTL to re-announce once NATS is back.

NATS may also be unreachable without the client noticing (a frozen server keeps
its TCP connection open until the ping interval runs out). So a host whose
heartbeat is overdue is asked directly, by the standard gRPC health check: a
host that answers SERVING stays known however long NATS is silent; one that
does not answer is forgotten once its heartbeat is older than the TTL. NATS
announces hosts; it does not decide whether a host the engine can reach is alive.

A host seen for the first time (or at a new address) is greeted with a Describe call: the host
learns that a platform sees it (it warns its author when no engine ever calls), and an address the
engine cannot dial is logged here, naming the host, instead of surfacing only when a step fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from nats.js.kv import KeyValue
from vwmp_common.clients import PluginStub, plugin_client
from vwmp_common.icons import check_icon
from vwmp_common.subjects import PLUGIN_HOST_TTL_SECONDS
from vwmp_proto.plugin.v1 import plugin_pb2

from vwmp_engine.core_steps import CORE_STEP_TYPES
from vwmp_engine.step_types import StepTypeInfo

log = logging.getLogger(__name__)
OFFLINE_CHECK_SECONDS = 0.5
HEALTH_CHECK_SECONDS = 2.0  # how often a host with an overdue heartbeat is asked directly
HEALTH_CHECK_TIMEOUT = 2.0
GREETING_TIMEOUT = 5.0


@dataclass
class PluginHost:
    """A live plugin host as announced in the KV bucket."""

    host_id: str
    address: str
    step_types: dict[str, StepTypeInfo]
    templates: list[dict[str, Any]]
    seen_at: float = field(default_factory=time.monotonic)


class StepTypeRegistry:
    """Built-in step types plus those announced by live plugin hosts."""

    def __init__(self, ttl: float = PLUGIN_HOST_TTL_SECONDS, connected: Callable[[], bool] | None = None) -> None:
        self._hosts: dict[str, PluginHost] = {}
        self._clients: dict[str, PluginStub] = {}
        self._ttl = ttl
        self._connected = connected or (lambda: True)
        self._round_robin = itertools.count()
        self._tasks: list[asyncio.Task[None]] = []
        self._greetings: set[asyncio.Task[bool]] = set()
        self.greeted: list[Callable[[PluginHost, PluginStub], Awaitable[None]]] = []
        """Called with each host that answered its greeting (e.g. to sweep its dry-run scratch copies)."""
        self.changed = asyncio.Event()

    def live_hosts(self) -> list[PluginHost]:
        now = time.monotonic()
        return [host for host in self._hosts.values() if now - host.seen_at <= self._ttl]

    def get(self, step_type: str) -> StepTypeInfo | None:
        """The step type's description, or None when no live host offers it."""
        if step_type in CORE_STEP_TYPES:
            return CORE_STEP_TYPES[step_type]
        for host in self.live_hosts():
            if step_type in host.step_types:
                return host.step_types[step_type]
        return None

    def all(self) -> list[StepTypeInfo]:
        found = dict(CORE_STEP_TYPES)
        for host in self.live_hosts():
            for name, info in host.step_types.items():
                found.setdefault(name, info)
        return sorted(found.values(), key=lambda info: info.type)

    def templates(self) -> list[dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for host in self.live_hosts():
            for template in host.templates:
                found.setdefault(template.get("name", ""), template)
        return [found[name] for name in sorted(found)]

    def hosts_for(self, step_type: str) -> list[tuple[str, PluginStub]]:
        """Live hosts offering `step_type`, rotated so calls spread across them."""
        hosts = [host for host in self.live_hosts() if step_type in host.step_types]
        if not hosts:
            return []
        start = next(self._round_robin) % len(hosts)
        ordered = hosts[start:] + hosts[:start]
        return [(host.host_id, self._client(host.address)) for host in ordered]

    def client_of(self, host: PluginHost) -> PluginStub:
        """The gRPC client of a known host."""
        return self._client(host.address)

    def _client(self, address: str) -> PluginStub:
        if address not in self._clients:
            self._clients[address] = plugin_client(address)
        return self._clients[address]

    def mark_unreachable(self, host_id: str) -> None:
        """Forget a host that refused a connection until it announces itself again.

        Its channel goes too: a restarted host on the same address must not wait
        out the old channel's reconnect backoff.
        """
        host = self._hosts.pop(host_id, None)
        if host is not None:
            self._clients.pop(host.address, None)

    async def wait_for_host(self, step_type: str, within: float) -> bool:
        """Wait up to `within` seconds for a live host offering `step_type` (a host restarting)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not self.hosts_for(step_type):
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), remaining)
        return True

    def apply(self, key: str, value: bytes | None) -> None:
        """Apply one KV update (None = deleted)."""
        if value is None:
            self._hosts.pop(key, None)
        else:
            try:
                host = _parse_announcement(key, json.loads(value))
            except (ValueError, KeyError, TypeError) as error:
                log.warning("ignoring a malformed plugin host announcement",
                            extra={"fields": {"key": key, "error": str(error)}})
                return
            known = self._hosts.get(key)
            self._hosts[key] = host
            if known is None or known.address != host.address:
                self._greet_later(host)
        self.changed.set()

    def _greet_later(self, host: PluginHost) -> None:
        try:
            task = asyncio.get_running_loop().create_task(self.greet(host), name=f"greet-{host.host_id}")
        except RuntimeError:  # applied outside an event loop (tests): nobody to greet with
            return
        self._greetings.add(task)
        task.add_done_callback(self._greetings.discard)

    async def greet(self, host: PluginHost) -> bool:
        """Call the new host once (Describe); log when the engine cannot reach its announced address."""
        try:
            client = self._client(host.address)
            await client.Describe(plugin_pb2.DescribeRequest(), timeout=GREETING_TIMEOUT)
        except grpc.aio.AioRpcError as error:
            log.warning(
                "a plugin host announced itself but the engine cannot call it at its advertised address; "
                "set the host's VWMP_PLUGIN_HOST_ADVERTISE_ADDRESS to an address the engine can reach",
                extra={"fields": {"host": host.host_id, "address": host.address, "code": error.code().name,
                                  "error": error.details() or ""}},
            )
            return False
        for hook in self.greeted:
            try:
                await hook(host, client)
            except Exception as error:  # a hook's failure must not make the host look unreachable
                log.warning("a plugin host greeting hook failed",
                            extra={"fields": {"host": host.host_id, "error": str(error)}})
        return True

    def start(self, bucket: KeyValue) -> None:
        self._tasks = [asyncio.create_task(self._watch(bucket), name="plugin-host-watch"),
                       asyncio.create_task(self._freeze_while_offline(), name="plugin-host-freeze"),
                       asyncio.create_task(self._check_overdue_hosts(), name="plugin-host-health")]

    async def stop(self) -> None:
        for task in [*self._tasks, *self._greetings]:
            task.cancel()
        for task in [*self._tasks, *self._greetings]:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def freeze(self, seconds: float) -> None:
        """Age no host by the last `seconds`: no heartbeat could reach us meanwhile."""
        for host in self._hosts.values():
            host.seen_at += seconds

    async def _freeze_while_offline(self) -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(OFFLINE_CHECK_SECONDS)
            now = time.monotonic()
            if not self._connected():
                self.freeze(now - last)
            last = now

    async def _check_overdue_hosts(self) -> None:
        while True:
            await asyncio.sleep(HEALTH_CHECK_SECONDS)
            try:
                await self.check_overdue_hosts()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # a health round must never end the loop
                log.warning("plugin host health check failed", extra={"fields": {"error": str(error)}})

    async def check_overdue_hosts(self) -> None:
        """Ask every host whose heartbeat is overdue whether it is alive.

        Overdue is older than half the TTL: a heartbeat (every 5 s, a third of the 15 s TTL) was missed,
        so a host whose heartbeats arrive is never asked.
        """
        now = time.monotonic()
        overdue = [host for host in self._hosts.values() if now - host.seen_at > self._ttl / 2]
        answers = await asyncio.gather(*(serving(host.address) for host in overdue))
        for host, alive in zip(overdue, answers, strict=True):
            if self._hosts.get(host.host_id) is not host:
                continue  # re-announced or forgotten meanwhile
            if alive:
                host.seen_at = time.monotonic()
            elif time.monotonic() - host.seen_at > self._ttl:
                log.info("forgetting a plugin host that neither announces itself nor answers its health check",
                         extra={"fields": {"host": host.host_id, "address": host.address}})
                self.mark_unreachable(host.host_id)

    async def _watch(self, bucket: KeyValue) -> None:
        while True:
            try:
                watcher = await bucket.watchall()
                async for entry in watcher:
                    if entry is None:  # end of the initial values
                        continue
                    deleted = entry.operation in ("DEL", "PURGE") or not entry.value
                    self.apply(entry.key, None if deleted else entry.value)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("plugin host watch interrupted; restarting", extra={"fields": {"error": str(error)}})
                await asyncio.sleep(1.0)


async def serving(address: str) -> bool:
    """True when the gRPC health service at `address` says SERVING (health needs no service token)."""
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            # types-grpcio-health-checking declares HealthStub without its methods; Check exists at run time.
            answer = await health_pb2_grpc.HealthStub(channel).Check(  # type: ignore[attr-defined]
                health_pb2.HealthCheckRequest(service=""), timeout=HEALTH_CHECK_TIMEOUT)
    except grpc.aio.AioRpcError:
        return False
    return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)


def _icon(value: Any) -> str:
    """A host's icon as the SDK checks it (a host not built with the SDK may announce anything)."""
    try:
        return check_icon(value, "icon") if isinstance(value, str) else ""
    except ValueError:
        return ""


def _parse_announcement(key: str, data: dict[str, Any]) -> PluginHost:
    step_types = {
        item["type"]: StepTypeInfo(
            type=item["type"], plugin=item.get("plugin", item["type"].split("/")[0]),
            title=item.get("title", ""), description=item.get("description", ""),
            config_schema=item.get("config_schema") or {"type": "object"},
            outputs_schema=item.get("outputs_schema") or {"type": "object"},
            icon=_icon(item.get("icon")),
            effects=item.get("effects") if item.get("effects") in ("local", "none") else "remote",
        )
        for item in data.get("step_types", [])
        if not item["type"].startswith("core/")
    }
    claimed = data.get("host_id")
    if claimed is not None and not _names_key(str(claimed), key):
        log.warning("a plugin host announcement claims another host's id; it is known by its key",
                    extra={"fields": {"key": key, "claimed_host_id": str(claimed)[:200]}})
    # The key is the identity: a host's NATS user may write only its own keys, the document is its say.
    return PluginHost(host_id=key, address=data["address"], step_types=step_types,
                      templates=list(data.get("templates", [])))


def _names_key(host_id: str, key: str) -> bool:
    """Whether an announced `host_id` is the one its KV key was made from (`[<user>.]<host id>`)."""
    cleaned = re.sub(r"[^A-Za-z0-9_=-]", "_", host_id).strip("_")
    return key == cleaned or key.endswith(f".{cleaned}")
