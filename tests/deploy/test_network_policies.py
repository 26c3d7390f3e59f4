"""The NetworkPolicies allow exactly the connections of the architecture, evaluated like a CNI would.

A small evaluator of the NetworkPolicy rules we use (pod and namespace selectors by labels, ipBlock
with except, TCP/UDP ports): a connection is allowed when an egress rule of the source's policies and
an ingress rule of the destination's policies both admit it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

import pytest

from .conftest import objects

NAMESPACE = "vwmp"
DATA = "vwmp-data"


@dataclass(frozen=True)
class Endpoint:
    """A pod (namespace + labels) or an address outside the cluster."""

    name: str
    namespace: str | None
    labels: dict[str, str] = field(default_factory=dict)
    ip: str = "10.1.2.3"


def pod(name: str, **labels: str) -> Endpoint:
    return Endpoint(name, NAMESPACE, {"app": name, "app.kubernetes.io/part-of": "vwmp", **labels})


GATEWAY = pod("api-gateway", **{"vwmp.io/component": "api-gateway"})
ENGINE = pod("engine", **{"vwmp.io/component": "engine"})
STORAGE = pod("storage", **{"vwmp.io/component": "storage"})
PLUGIN = pod("plugin-host", **{"vwmp.io/component": "plugin-host"})
AUTHOR_PLUGIN = pod("plugin-hello", **{"vwmp.io/component": "plugin-host"})
NATS = Endpoint("nats", DATA, {"app.kubernetes.io/name": "nats"})
POSTGRES = Endpoint("postgres", DATA, {"cnpg.io/cluster": "vwmp-postgres"})
DNS = Endpoint("dns", "kube-system", {"k8s-app": "kube-dns"})
OUTSIDE = Endpoint("outside", None, ip="203.0.113.7")
STRANGER = Endpoint("stranger", "other", {"app": "stranger"})


def matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, f"evaluator does not know {selector}"
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def peer_matches(peer: dict[str, Any], other: Endpoint, policy_namespace: str) -> bool:
    if "ipBlock" in peer:
        address = ipaddress.ip_address(other.ip)
        block = peer["ipBlock"]
        return address in ipaddress.ip_network(block["cidr"]) and not any(
            address in ipaddress.ip_network(e) for e in block.get("except", [])
        )
    if other.namespace is None:
        return False
    if "namespaceSelector" in peer:
        namespace_ok = matches(peer["namespaceSelector"], {"kubernetes.io/metadata.name": other.namespace})
    else:
        namespace_ok = other.namespace == policy_namespace
    return namespace_ok and matches(peer.get("podSelector", {}), other.labels)


def rule_admits(rule: dict[str, Any], other: Endpoint, port: int, key: str, namespace: str) -> bool:
    peers = rule.get(key)
    ports = rule.get("ports")
    peer_ok = peers is None or any(peer_matches(p, other, namespace) for p in peers)
    port_ok = ports is None or any(p.get("port") == port for p in ports)
    return peer_ok and port_ok


def allowed(policies: list[dict[str, Any]], source: Endpoint, target: Endpoint, port: int) -> bool:
    """Whether `source` may open a connection to `target:port` (policies live in namespace vwmp)."""

    def side(endpoint: Endpoint, direction: str, other: Endpoint) -> bool:
        if endpoint.namespace != NAMESPACE:
            return True  # not governed by our policies
        selecting = [
            p for p in policies
            if direction in p["spec"]["policyTypes"] and matches(p["spec"]["podSelector"], endpoint.labels)
        ]
        if not selecting:
            return True
        key, rules = ("to", "egress") if direction == "Egress" else ("from", "ingress")
        return any(
            rule_admits(rule, other, port, key, NAMESPACE) for p in selecting for rule in p["spec"].get(rules, [])
        )

    return side(source, "Egress", target) and side(target, "Ingress", source)


ALLOWED = [
    (OUTSIDE, GATEWAY, 8080),
    (STRANGER, GATEWAY, 8080),
    (GATEWAY, STORAGE, 50051),
    (GATEWAY, ENGINE, 50052),
    (GATEWAY, NATS, 4222),
    (ENGINE, STORAGE, 50051),
    (ENGINE, PLUGIN, 50053),
    (ENGINE, AUTHOR_PLUGIN, 50053),
    (ENGINE, NATS, 4222),
    (STORAGE, POSTGRES, 5432),
    (PLUGIN, NATS, 4222),
    (AUTHOR_PLUGIN, NATS, 4222),
    (PLUGIN, Endpoint("git-remote", None, ip="198.51.100.20"), 443),
    (PLUGIN, DNS, 53),
    (STORAGE, DNS, 53),
]
DENIED = [
    (OUTSIDE, ENGINE, 50052),
    (OUTSIDE, STORAGE, 50051),
    (OUTSIDE, PLUGIN, 50053),
    (STRANGER, STORAGE, 50051),
    (GATEWAY, GATEWAY, 9999),
    (GATEWAY, PLUGIN, 50053),
    (GATEWAY, POSTGRES, 5432),
    (ENGINE, POSTGRES, 5432),
    (PLUGIN, POSTGRES, 5432),
    (AUTHOR_PLUGIN, POSTGRES, 5432),
    (PLUGIN, STORAGE, 50051),
    (AUTHOR_PLUGIN, STORAGE, 50051),
    (PLUGIN, ENGINE, 50052),
    (PLUGIN, Endpoint("in-cluster", None, ip="10.20.30.40"), 443),
    (STORAGE, NATS, 4222),
    (STORAGE, OUTSIDE, 443),
    (ENGINE, OUTSIDE, 443),
]


def name(case: tuple[Endpoint, Endpoint, int]) -> str:
    return f"{case[0].name}->{case[1].name}:{case[2]}"


@pytest.mark.parametrize("overlay", ["base", "prod"])
@pytest.mark.parametrize("case", ALLOWED, ids=name)
def test_architecture_connections_are_allowed(rendered: dict, overlay: str, case) -> None:
    policies = list(objects(rendered[overlay], "NetworkPolicy").values())
    assert allowed(policies, *case), f"{name(case)} must be allowed"


@pytest.mark.parametrize("overlay", ["base", "prod"])
@pytest.mark.parametrize("case", DENIED, ids=name)
def test_everything_else_is_denied(rendered: dict, overlay: str, case) -> None:
    policies = list(objects(rendered[overlay], "NetworkPolicy").values())
    assert not allowed(policies, *case), f"{name(case)} must be denied"


def test_default_deny_selects_every_pod(rendered: dict) -> None:
    deny = objects(rendered["base"], "NetworkPolicy")["default-deny"]["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def test_rendered_pods_carry_the_labels_the_policies_use(rendered: dict) -> None:
    expected = {d.name: d.labels for d in (GATEWAY, ENGINE, STORAGE, PLUGIN, AUTHOR_PLUGIN)}
    for overlay in ("base", "prod", "plugin-example"):
        for deployment_name, deployment in objects(rendered[overlay], "Deployment").items():
            labels = deployment["spec"]["template"]["metadata"]["labels"]
            assert expected[deployment_name].items() <= labels.items(), deployment_name
