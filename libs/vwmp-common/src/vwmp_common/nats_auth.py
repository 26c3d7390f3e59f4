"""NATS users of one platform and what each may publish and subscribe to.

A plugin host runs plugins the platform may not trust, so its NATS user can do one thing: keep its
own entries in the plugin-hosts KV bucket, the keys `<user>.<host id>` (`$KV.vwmp_plugin_hosts.<user>.>`;
the replicas of one plugin host Deployment share a user), with replies only on its own inbox prefix.
It cannot publish or read run events, send engine controls, or write another user's entry: the
server refuses them (a permissions violation), whatever the plugin's code does; and the engine knows
a host by its key alone, so no announcement can claim another identity.
The engine may do everything; the gateway reads run events. `vwmp up` writes such a configuration
for its embedded NATS; deploy/nats/nats.conf is the same for a cluster.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from vwmp_common.subjects import EVENTS_STREAM, EVENTS_WILDCARD, PLUGIN_HOSTS_BUCKET

__all__ = [
    "USER_NAME",
    "NatsUser",
    "credentials_from_env",
    "engine_user",
    "gateway_user",
    "new_password",
    "plugin_host_inbox",
    "plugin_host_user",
    "render_config",
    "write_config",
]


@dataclass(frozen=True)
class NatsUser:
    """One NATS user: name, password and the subjects it may publish and subscribe to."""

    name: str
    password: str
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]


def new_password() -> str:
    """A random password (256 bits, URL-safe characters: nothing to quote in a NATS configuration)."""
    return secrets.token_urlsafe(32)


def credentials_from_env() -> tuple[str | None, str | None]:
    """`VWMP_NATS_USER` and `VWMP_NATS_PASSWORD` (None when unset: connect without a user)."""
    user = os.environ.get("VWMP_NATS_USER", "").strip() or None
    password = os.environ.get("VWMP_NATS_PASSWORD", "").strip() or None
    return user, password


USER_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""A NATS user name usable as one subject token (it heads a plugin host's KV keys and inbox)."""


def plugin_host_inbox(user: str) -> str:
    """The inbox prefix of the plugin hosts of NATS user `user`: their replies, and only theirs, arrive there."""
    return f"_INBOX_{user}"


def engine_user(name: str, password: str) -> NatsUser:
    """The engine: publishes events and controls, owns the JetStream stream and the KV bucket."""
    return NatsUser(name, password, (">",), (">",))


def gateway_user(name: str, password: str) -> NatsUser:
    """The gateway: live run events, and a look at (or the creation of) their stream."""
    api = "$JS.API"
    return NatsUser(
        name, password,
        (f"{api}.INFO", f"{api}.STREAM.INFO.{EVENTS_STREAM}", f"{api}.STREAM.CREATE.{EVENTS_STREAM}"),
        (EVENTS_WILDCARD, "_INBOX.>"),
    )


def plugin_host_user(name: str, password: str) -> NatsUser:
    """Plugin hosts announcing as `<name>.<host id>`: those KV entries and replies on their inbox, nothing else.

    The engine creates the bucket; a host may look it up (stream info) but not create or change it.

    Raises:
        ValueError: `name` is not one subject token.
    """
    if not USER_NAME.fullmatch(name):
        raise ValueError(f"plugin host NATS user {name!r} must match {USER_NAME.pattern}")
    return NatsUser(
        name, password,
        (f"$KV.{PLUGIN_HOSTS_BUCKET}.{name}.>", f"$JS.API.STREAM.INFO.KV_{PLUGIN_HOSTS_BUCKET}"),
        (f"{plugin_host_inbox(name)}.>",),
    )


def _user_block(user: NatsUser) -> str:
    def subjects(items: Iterable[str]) -> str:
        return "[" + ", ".join(json.dumps(s) for s in items) + "]"

    return (
        f"    {{user: {json.dumps(user.name)}, password: {json.dumps(user.password)},\n"
        f"     permissions: {{publish: {{allow: {subjects(user.publish)}}}, "
        f"subscribe: {{allow: {subjects(user.subscribe)}}}}}}}"
    )


def render_config(port: int, store_dir: Path, users: Iterable[NatsUser], host: str = "127.0.0.1") -> str:
    """A nats-server configuration: JetStream in `store_dir`, on host:port, only these users."""
    blocks = ",\n".join(_user_block(u) for u in users)
    return (
        "# Written by `vwmp up` at every start (new passwords each time); mode 0600.\n"
        f"listen: {json.dumps(f'{host}:{port}')}\n"
        f"jetstream {{store_dir: {json.dumps(str(store_dir))}}}\n"
        f"authorization {{\n  users: [\n{blocks}\n  ]\n}}\n"
    )


def write_config(path: Path, text: str) -> None:
    """Write a configuration holding passwords: readable by its owner only, from the first byte."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    path.chmod(0o600)
