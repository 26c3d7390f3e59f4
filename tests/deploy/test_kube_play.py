"""deploy/kube_play.py: the rendered dev overlay rewritten into what `podman kube play` accepts.

A pure function over the documents `kubectl kustomize` renders (tests/containers/test_kube_play.py
plays the result); the start script it writes for the pod IP is run here by a real /bin/sh.
"""

from __future__ import annotations

import base64
import copy
import importlib.util
import io
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from .conftest import DEPLOY

SERVICES = {"api-gateway", "engine", "plugin-host", "storage"}
HOSTS = {"nats.vwmp-data.svc.cluster.local": "10.89.0.5", "vwmp-postgres-rw.vwmp-data.svc.cluster.local": "10.89.0.6"}
ENTRYPOINT = ["vwmp-plugin-host"]


def load() -> ModuleType:
    """deploy/kube_play.py (a script beside the manifests, not an installed package)."""
    if "kube_play" not in sys.modules:
        spec = importlib.util.spec_from_file_location("kube_play", DEPLOY / "kube_play.py")
        assert spec is not None and spec.loader is not None
        sys.modules["kube_play"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules["kube_play"])
    return sys.modules["kube_play"]


kube_play = load()


def adapt_dev(dev: list[dict[str, Any]], **overrides: Any) -> Any:
    options: dict[str, Any] = {
        "images": {f"vwmp/{name}:dev": f"localhost/vwmp/{name}:t1" for name in SERVICES},
        "publish": {"api-gateway": "127.0.0.1:18080"}, "hosts": HOSTS,
        "entrypoints": {"localhost/vwmp/plugin-host:t1": ENTRYPOINT}}
    options.update(overrides)
    return kube_play.adapt(copy.deepcopy(dev), **options)


def pods(play: Any) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in play.documents if doc["kind"] == "Pod"}


def env(pod: dict[str, Any]) -> dict[str, str]:
    entries = pod["spec"]["containers"][0]["env"]
    assert all(set(entry) == {"name", "value"} for entry in entries), entries
    return {entry["name"]: entry["value"] for entry in entries}


def decoded(dev: list[dict[str, Any]], secret: str, key: str) -> str:
    doc = next(d for d in dev if d["kind"] == "Secret" and d["metadata"]["name"] == secret)
    return base64.b64decode("".join(doc["data"][key].split())).decode()


def test_each_service_becomes_the_pod_its_name_resolves_to_and_the_rest_is_noted(rendered: dict) -> None:
    dev = rendered["dev"]
    play = adapt_dev(dev)
    assert [doc["kind"] for doc in play.documents] == ["Pod"] * 4
    assert set(pods(play)) == SERVICES
    text = [str(note) for note in play.notes]
    # Every object of the overlay is either played or noted, with what became of it and why.
    for doc in dev:
        label = f"{doc['kind']}/{doc['metadata']['name']}"
        if doc["kind"] != "Deployment":
            assert any(line.startswith(f"{label}: ") for line in text), f"nothing says what became of {label}"
    for kind in ("NetworkPolicy", "HorizontalPodAutoscaler", "PodDisruptionBudget", "ServiceAccount", "Namespace"):
        assert all("dropped: " in line for line in text if line.startswith(f"{kind}/")), kind
    assert "Service/api-gateway: played as the pod name api-gateway (Deployment/api-gateway); port 80 is reached " \
           "at the container port 8080; published on 127.0.0.1:18080" in text
    for pod in pods(play).values():
        assert "namespace" not in pod["metadata"]
        assert pod["spec"]["restartPolicy"] == "Always"
        assert pod["spec"]["hostAliases"] == [{"ip": ip, "hostnames": [name]} for name, ip in HOSTS.items()]
        container = pod["spec"]["containers"][0]
        assert container["image"] == f"localhost/vwmp/{pod['metadata']['name']}:t1"
        assert not {"startupProbe", "readinessProbe", "livenessProbe", "envFrom"} & set(container)
        assert container["securityContext"]["readOnlyRootFilesystem"] is True, "the hardening stays"


def test_secrets_and_the_config_map_are_written_into_the_env(rendered: dict) -> None:
    dev = rendered["dev"]
    played = pods(adapt_dev(dev))
    storage, engine, gateway = env(played["storage"]), env(played["engine"]), env(played["api-gateway"])
    assert storage["VWMP_DATABASE_URL"] == decoded(dev, "vwmp-secrets", "database-url")
    assert storage["VWMP_DATABASE_URL"].startswith("postgresql+psycopg://vwmp:")
    assert engine["VWMP_NATS_PASSWORD"] == decoded(dev, "vwmp-nats-users", "engine")
    assert gateway["VWMP_ADMIN_TOKEN"] == decoded(dev, "vwmp-secrets", "admin-token")
    assert "VWMP_SERVICE_TOKEN" not in env(played["plugin-host"]), "a plugin host never holds the service token"
    assert engine["VWMP_LOG_LEVEL"] == "DEBUG", "the overlay's merged ConfigMap, not the base's"
    assert engine["VWMP_STORAGE_ADDRESS"] == "storage:50051", "a pod named storage answers it"
    assert engine["VWMP_ENGINE_ID"] == "engine", "fieldRef metadata.name is the pod's name"


def test_only_the_published_port_reaches_the_host_and_no_two_pods_share_a_volume(rendered: dict) -> None:
    played = pods(adapt_dev(rendered["dev"]))
    ports = {name: [p for c in pod["spec"]["containers"] for p in c.get("ports", [])] for name, pod in played.items()}
    assert ports == {"api-gateway": [{"name": "http", "containerPort": 8080, "hostPort": 18080, "hostIP": "127.0.0.1"}],
                     "engine": [], "plugin-host": [], "storage": []}, "podman would publish every metrics port 9090"
    names = Counter(v["name"] for pod in played.values() for v in pod["spec"]["volumes"])
    assert names and max(names.values()) == 1, names
    for name, pod in played.items():
        volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
        assert all(set(v) == {"name", "emptyDir"} for v in volumes.values()), volumes
        assert all(v.startswith(f"{name}-") for v in volumes)
        assert {m["name"] for m in pod["spec"]["containers"][0]["volumeMounts"]} <= set(volumes)


def test_the_plugin_host_announces_the_address_its_start_script_reads(rendered: dict, tmp_path: Path) -> None:
    pod = pods(adapt_dev(rendered["dev"]))["plugin-host"]
    container = pod["spec"]["containers"][0]
    assert "VWMP_PLUGIN_HOST_ADVERTISE_ADDRESS" not in env(pod) and "POD_IP" not in env(pod)
    shell, flag, script, zero, *argv = container["command"]
    assert (shell, flag, zero, argv) == ("/bin/sh", "-c", "sh", ENTRYPOINT)
    # Run it: a `hostname` that answers like the one in a podman pod, and `env` as the entrypoint.
    (tmp_path / "hostname").write_text("#!/bin/sh\n[ \"$1\" = -i ] && echo '10.89.0.7 fe80::1'\n")
    (tmp_path / "hostname").chmod(0o755)
    done = subprocess.run([shell, flag, script, zero, "env"], capture_output=True, text=True, check=True,
                          env={"PATH": f"{tmp_path}:{os.environ['PATH']}"})
    seen = dict(line.split("=", 1) for line in done.stdout.splitlines())
    assert seen["POD_IP"] == "10.89.0.7"
    assert seen["VWMP_PLUGIN_HOST_ADVERTISE_ADDRESS"] == "10.89.0.7:50053"


def deployment(name: str, env: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "vwmp"},
            "spec": {"replicas": spec.pop("replicas", 1), "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": name, "image": "x/y:1", "env": env}], **spec}}}}


def test_dollar_references_expand_as_kubernetes_expands_them() -> None:
    play = kube_play.adapt([deployment("solo", [
        {"name": "A", "value": "one"}, {"name": "B", "value": "$(A)-two"}, {"name": "C", "value": "$$(A) $(NOPE)"},
        {"name": "D", "value": "$(D_LATER)"}, {"name": "D_LATER", "value": "x"}])])
    (doc,) = play.documents
    assert doc["kind"] == "Deployment", "selected by no Service: left a Deployment"
    values = {e["name"]: e["value"] for e in doc["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert values == {"A": "one", "B": "one-two", "C": "$(A) $(NOPE)", "D": "$(D_LATER)", "D_LATER": "x"}


def test_replicas_and_stateful_sets_are_noted() -> None:
    stateful = deployment("db", [])
    stateful["kind"] = "StatefulSet"
    play = kube_play.adapt([deployment("many", [], replicas=3), stateful])
    assert [d["kind"] for d in play.documents] == ["Deployment", "Pod"]
    assert {str(n) for n in play.notes} == {
        "Deployment/many: one pod of its 3 replicas: podman plays one pod per workload",
        "StatefulSet/db: played as Pod db: podman 4.3 plays no StatefulSet"}


def service(name: str, selector: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": selector, "ports": [{"port": 80, "targetPort": 8080}]}}


@pytest.mark.parametrize(("documents", "options", "message"), [
    ([deployment("a", [{"name": "T", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}])], {},
     "Deployment/a: spec.containers[0] (a): env[0] (T): no key 'k' in secret 's' of the manifests"),
    ([deployment("a", [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}])], {},
     "Deployment/a: spec.containers[0] (a): env[0] (N): fieldRef spec.nodeName is not one podman gives"),
    ([deployment("a", [{"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}])], {},
     "reads status.podIP, which podman does not give: pass the entrypoint of x/y:1 (--entrypoint x/y:1=...)"),
    ([deployment("a", [{"name": "R", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}}])], {},
     "env[0] (R): only fieldRef, configMapKeyRef and secretKeyRef are understood"),
    ([deployment("a", []), service("one", {"app": "a"}), service("two", {"app": "a"})], {},
     "Deployment/a: selected by several Services (one, two); a pod has one name"),
    ([deployment("a", [])], {"publish": {"nope": "8080"}}, "--publish names no Service of the manifests: nope"),
    ([deployment("a", []), service("a", {"app": "a"})], {"publish": {"a": "127.0.0.1:http"}},
     "--publish a=127.0.0.1:http: not [IP:]PORT"),
    ([deployment("a", []), service("a", {"app": "a"})], {"publish": {"a": "80"}},
     "Deployment/a: --publish a: no container declares port 8080"),
    ([deployment("a", [], volumes=[{"name": "v", "configMap": {"name": "c"}}])], {},
     "Deployment/a: volume v: podman 4.3 plays no configMap volume"),
    ([deployment("a", [], volumes=[{"name": "v", "nfs": {"server": "n", "path": "/"}}])], {},
     "Deployment/a: volume v: podman 4.3 plays only hostPath, emptyDir and persistentVolumeClaim volumes"),
    ([{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"k": "not base64!"}}], {},
     "Secret/s: data.k is not base64 text"),
    (["just a string"], {}, "not a Kubernetes object (kind and metadata.name): just a string"),
])
def test_what_podman_cannot_play_is_refused_with_the_place_it_is_at(documents: list[Any], options: dict[str, Any],
                                                                    message: str) -> None:
    with pytest.raises(kube_play.AdaptationError) as refused:
        kube_play.adapt(documents, **options)
    assert message in str(refused.value)


def test_an_optional_reference_to_what_is_not_there_is_left_out() -> None:
    play = kube_play.adapt([deployment("a", [
        {"name": "T", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k", "optional": True}}}],
        volumes=[{"name": "v", "secret": {"secretName": "s", "optional": True}}])])
    spec = play.documents[0]["spec"]["template"]["spec"]
    assert spec["containers"][0]["env"] == []
    assert spec["volumes"] == [{"name": "a-pod-0-v", "emptyDir": {}}]


def run_main(text: str, *args: str, monkeypatch: pytest.MonkeyPatch,
             capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    code = kube_play.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_command_line_prints_the_play_and_the_notes(rendered: dict, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(yaml.safe_dump_all(rendered["dev"]), "--publish", "api-gateway=18080",
                              "--entrypoint", "vwmp/plugin-host:dev=vwmp-plugin-host --verbose",
                              monkeypatch=monkeypatch, capsys=capsys)
    assert code == 0, err
    assert {d["metadata"]["name"] for d in yaml.safe_load_all(out)} == SERVICES
    assert "kube_play: NetworkPolicy/default-deny: dropped: " in err
    command = pods(kube_play.Play(list(yaml.safe_load_all(out))))["plugin-host"]["spec"]["containers"][0]["command"]
    assert command[4:] == ["vwmp-plugin-host", "--verbose"]


@pytest.mark.parametrize(("text", "args", "message"), [
    ("kind: [unclosed", [], "kube_play: while parsing"),
    ("", ["--host", "no-equals-sign"], "kube_play: --host no-equals-sign: expected NAME=VALUE"),
    ("kind: Pod\nmetadata: {name: p}\nspec: {}\n", [], "kube_play: Pod/p: no containers"),
])
def test_the_command_line_refuses_bad_input_in_one_line(text: str, args: list[str], message: str,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(text, *args, monkeypatch=monkeypatch, capsys=capsys)
    assert (code, out) == (2, "")
    assert err.startswith(message) and "Traceback" not in err, err
