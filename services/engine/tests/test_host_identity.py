"""The engine knows a plugin host by its KV key, never by the id its announcement claims.

A host's NATS user may write only its own keys (`<user>.<host id>`); what the document says is the
host's own word. So a host that claims another's id neither replaces it nor can make the engine
forget it.
"""

from __future__ import annotations

import json

from vwmp_engine.registry import StepTypeRegistry


def _announcement(host_id: str, address: str, step_type: str) -> bytes:
    return json.dumps({"host_id": host_id, "address": address,
                       "step_types": [{"type": step_type, "plugin": step_type.split("/")[0]}]}).encode()


async def test_a_host_claiming_another_hosts_id_is_known_by_its_own_key() -> None:
    registry = StepTypeRegistry()
    registry.apply("plugin-host.victim", _announcement("victim", "127.0.0.1:5001", "git/push"))
    registry.apply("hostile.h1", _announcement("victim", "127.0.0.1:5002", "git/push"))
    hosts = {host.host_id: host.address for host in registry.live_hosts()}
    assert hosts == {"plugin-host.victim": "127.0.0.1:5001", "hostile.h1": "127.0.0.1:5002"}
    # The engine reports an unreachable host by the id hosts_for gave it: the hostile one's key.
    hostile = next(host_id for host_id, _ in registry.hosts_for("git/push") if host_id.startswith("hostile"))
    registry.mark_unreachable(hostile)
    assert [host.host_id for host in registry.live_hosts()] == ["plugin-host.victim"]


async def test_a_host_is_its_key_whatever_id_it_announces() -> None:
    registry = StepTypeRegistry()
    registry.apply("plugin-host.my_host_1", _announcement("my host:1", "127.0.0.1:5001", "x/y"))
    (host,) = registry.live_hosts()
    assert host.host_id == "plugin-host.my_host_1"
    registry.mark_unreachable("my host:1")
    assert [h.host_id for h in registry.live_hosts()] == ["plugin-host.my_host_1"]
