"""The NATS configuration shipped in deploy/: one user per service, a plugin host's user confined to its own entry.

deploy/nats/nats.conf runs in a real nats-server (its passwords from the environment, as in compose)
and every user is tried: the plugin host may keep its own plugin-hosts KV entries and nothing else,
the gateway reads run events but publishes none, a client without a user is turned away. The Helm
values for the cluster hold the same users and permissions as `vwmp_common.nats_auth`, the one the
embedded NATS of `vwmp up` is configured from; the manifests hand each service its own user.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats
import pytest
import yaml
from nats.errors import Error as NatsError
from vwmp_cli.embedded_nats import nats_server_binary
from vwmp_common.nats import ensure_events_stream, plugin_hosts_bucket
from vwmp_common.nats_auth import NatsUser, engine_user, gateway_user, plugin_host_inbox, plugin_host_user
from vwmp_common.ports import free_port, wait_for_port

from .conftest import DEPLOY, K8S, containers, objects

PASSWORDS = {"engine": "pw-engine", "gateway": "pw-gateway", "plugin-host": "pw-plugin-host"}
CONFIG_USERS = [engine_user("engine", ""), gateway_user("gateway", ""), plugin_host_user("plugin-host", "")]


@pytest.fixture
async def shipped_nats(tmp_path: Path) -> AsyncIterator[str]:
    """nats-server running deploy/nats/nats.conf (ports and store moved to free ones)."""
    port, monitor = free_port(), free_port()
    env = {**os.environ, **{f"VWMP_NATS_{u.upper().replace('-', '_')}_PASSWORD": pw for u, pw in PASSWORDS.items()}}
    argv = [nats_server_binary(), "-c", str(DEPLOY / "nats" / "nats.conf"), "-a", "127.0.0.1", "-p", str(port),
            "-m", str(monitor), "-sd", str(tmp_path / "store")]
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        yield f"nats://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


async def _client(url: str, user: str, errors: list[str]) -> Any:
    async def collect(error: Exception) -> None:
        errors.append(str(error).lower())

    prefix = plugin_host_inbox(user) if user.startswith("plugin-host") else "_INBOX"
    return await nats.connect(url, user=user, password=PASSWORDS[user], inbox_prefix=prefix, error_cb=collect,
                              allow_reconnect=False)


async def test_a_plugin_host_may_keep_its_own_entry_and_nothing_else(shipped_nats: str) -> None:
    engine = await _client(shipped_nats, "engine", [])
    await ensure_events_stream(engine.jetstream())
    await plugin_hosts_bucket(engine.jetstream())
    errors: list[str] = []
    host = await _client(shipped_nats, "plugin-host", errors)
    try:
        kv = await plugin_hosts_bucket(host.jetstream(timeout=2))
        await kv.put("plugin-host.pod-1", b'{"address": "10.0.0.1:50053"}')  # its own: accepted
        with pytest.raises(Exception):  # noqa: B017 - the server drops it: the client times out
            await kv.put("plugin-hello.pod-1", b"{}")
        await host.publish("vwmp.events.run-1", b"forged")
        await host.subscribe("vwmp.events.>")
        await host.flush()
        await asyncio.sleep(0.3)
    finally:
        await host.close()
    stored = await (await plugin_hosts_bucket(engine.jetstream())).keys()
    await engine.close()
    assert stored == ["plugin-host.pod-1"]
    joined = "\n".join(errors)
    assert 'publish to "$kv.vwmp_plugin_hosts.plugin-hello.pod-1"' in joined, joined
    assert 'publish to "vwmp.events.run-1"' in joined, joined
    assert 'subscription to "vwmp.events.>"' in joined, joined


async def test_the_gateway_reads_events_and_publishes_none(shipped_nats: str) -> None:
    errors: list[str] = []
    gateway = await _client(shipped_nats, "gateway", errors)
    try:
        await ensure_events_stream(gateway.jetstream())
        await gateway.subscribe("vwmp.events.>")
        await gateway.publish("vwmp.events.run-1", b"forged")
        await gateway.publish("vwmp.engine.control.run-1", b"{}")
        await gateway.flush()
        await asyncio.sleep(0.3)
    finally:
        await gateway.close()
    joined = "\n".join(errors)
    assert "subscription" not in joined, joined
    assert 'publish to "vwmp.events.run-1"' in joined and 'publish to "vwmp.engine.control.run-1"' in joined


async def test_a_client_without_a_user_is_turned_away(shipped_nats: str) -> None:
    with pytest.raises(NatsError, match="Authorization Violation"):
        await nats.connect(shipped_nats, allow_reconnect=False, max_reconnect_attempts=0)


def _helm_users(values: Path) -> dict[str, tuple[list[str], list[str]]]:
    users = yaml.safe_load(values.read_text())["config"]["merge"]["authorization"]["users"]
    return {u["user"]: (u["permissions"]["publish"]["allow"], u["permissions"]["subscribe"]["allow"]) for u in users}


def _permissions(users: list[NatsUser]) -> dict[str, tuple[list[str], list[str]]]:
    return {u.name: (list(u.publish), list(u.subscribe)) for u in users}


@pytest.mark.parametrize("values", ["nats-values.yaml", "nats-values-dev.yaml"])
def test_the_helm_values_hold_the_users_vwmp_up_configures(values: str) -> None:
    assert _helm_users(K8S / "dependencies" / values) == _permissions(CONFIG_USERS)


def test_the_cluster_passwords_come_from_the_nats_users_secret() -> None:
    values = yaml.safe_load((K8S / "dependencies" / "nats-values.yaml").read_text())
    env = values["container"]["env"]
    for user in yaml.safe_load((K8S / "dependencies" / "nats-values.yaml").read_text())["config"]["merge"][
            "authorization"]["users"]:
        variable = user["password"].removeprefix("<< $").removesuffix(" >>")
        assert env[variable]["valueFrom"]["secretKeyRef"] == {"name": "vwmp-nats-users", "key": user["user"]}


def test_every_service_that_talks_to_nats_has_its_own_user(rendered: dict[str, list[dict[str, Any]]],
                                                            compose: dict[str, Any]) -> None:
    expected = {"engine": "engine", "api-gateway": "gateway", "plugin-host": "plugin-host"}
    for name, deployment in objects(rendered["base"], "Deployment").items():
        env = {v["name"]: v for v in containers(deployment)[0].get("env", [])}
        if name in expected:
            assert env["VWMP_NATS_USER"]["value"] == expected[name]
            ref = env["VWMP_NATS_PASSWORD"]["valueFrom"]["secretKeyRef"]
            assert ref == {"name": "vwmp-nats-users", "key": expected[name]}
        else:
            assert "VWMP_NATS_PASSWORD" not in env, name
    for name, user in expected.items():
        environment = compose["services"][name]["environment"]
        assert environment["VWMP_NATS_USER"] == user
    assert "VWMP_SERVICE_TOKEN" not in compose["services"]["plugin-host"]["environment"]
    assert "-c" in compose["services"]["nats"]["command"]
    dev = {s["metadata"]["name"]: s for s in objects(rendered["dev"], "Secret").values()}
    assert set(dev["vwmp-nats-users"]["data"]) == set(PASSWORDS)
