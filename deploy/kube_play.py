"""Rendered Kubernetes manifests made playable by `podman kube play` (podman 4.3 and later).

    kubectl kustomize deploy/k8s/overlays/dev \\
      | python3 deploy/kube_play.py --publish api-gateway=127.0.0.1:8080 \\
          --host nats.vwmp-data.svc.cluster.local=10.89.0.5 \\
          --host vwmp-postgres-rw.vwmp-data.svc.cluster.local=10.89.0.6 \\
          --entrypoint vwmp/plugin-host:dev=vwmp-plugin-host >play.yaml
    podman kube play --network vwmp play.yaml        # ... podman kube down play.yaml

What a cluster gives that podman does not, and what `adapt` does instead (each printed as a note):
- Services: podman's network DNS knows a pod by its name, so each Deployment (or StatefulSet) that a
  Service selects becomes a Pod named like the Service; the Service's port is the container port it
  targets (pods dial `storage:50051`). `--publish SERVICE=[IP:]PORT` maps a Service to the host.
- NetworkPolicies, HPAs, PDBs, Ingresses, ServiceAccounts, the Namespace: dropped (every pod of the
  play reaches every other; one pod per workload).
- Secrets (podman 4.3 reads secretKeyRef from its own secret store) and ConfigMaps: their values are
  written into the env of the containers that read them. Only for development credentials.
- `$(VAR)` in env values: expanded here; `fieldRef` metadata.name/namespace: written in; status.podIP:
  read at start by a shell (`hostname -i`), which then execs the image's entrypoint.
- emptyDir volumes: podman names their volume after the volume, so two pods' `tmp` would be one
  volume; here they are named `<pod>-<volume>`. An optional Secret/ConfigMap volume whose object is
  not in the manifests becomes an emptyDir, as the kubelet mounts an empty folder for it.
- Probes: podman 4.3 has no gRPC probe and runs the others as healthchecks through systemd timers,
  which a host without systemd refuses: all are dropped; wait for health from outside.
- Container ports: podman 4.3 publishes every containerPort on the host (every pod's metrics port
  9090 would collide), so only the published ones are kept; pods reach each other on any port.
- Names outside the manifests (NATS, PostgreSQL in another namespace): `--host NAME=IP` adds them to
  every pod's /etc/hosts (hostAliases).
"""

from __future__ import annotations

import argparse
import base64
import copy
import re
import shlex
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

Doc = dict[str, Any]
WORKLOADS = ("Deployment", "StatefulSet", "Pod")
DROPPED = {
    "Namespace": "podman has no namespaces: every pod of the play is on the one network it is given",
    "ServiceAccount": "podman gives pods no Kubernetes API credentials",
    "NetworkPolicy": "podman enforces no NetworkPolicy: every pod on the network reaches every other "
                     "(tests/deploy/test_network_policies.py checks the policies instead)",
    "HorizontalPodAutoscaler": "podman does not autoscale: one pod per workload",
    "PodDisruptionBudget": "podman evicts nothing, so there is nothing to budget",
    "Ingress": "podman has no ingress controller: publish the Service with --publish instead",
}
POD_IP = "status.podIP"
VARIABLE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


class AdaptationError(ValueError):
    """A manifest `podman kube play` cannot run and this adaptation cannot rewrite."""


@dataclass(frozen=True)
class Note:
    """What became of one object, and why."""

    kind: str
    name: str
    what: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}: {self.what}"


@dataclass
class Play:
    """The documents to give `podman kube play`, and the notes saying how they differ from the input."""

    documents: list[Doc]
    notes: list[Note] = field(default_factory=list)

    def yaml(self) -> str:
        return yaml.safe_dump_all(self.documents, sort_keys=False)


def adapt(
    documents: Sequence[Doc],
    *,
    images: Mapping[str, str] | None = None,
    publish: Mapping[str, str] | None = None,
    hosts: Mapping[str, str] | None = None,
    entrypoints: Mapping[str, Sequence[str]] | None = None,
) -> Play:
    """Rewrite rendered manifests into what `podman kube play` accepts (see the module docstring).

    images: image reference (as the manifests have it) -> the one to run; publish: Service name ->
    `[IP:]PORT` on the host; hosts: name -> IP for every pod's /etc/hosts; entrypoints: image (after
    `images`) -> its entrypoint and command, needed only by containers that read status.podIP.
    """
    docs = [doc for doc in documents if doc]
    for doc in docs:
        if not isinstance(doc, dict) or "kind" not in doc or "name" not in doc.get("metadata", {}):
            raise AdaptationError(f"not a Kubernetes object (kind and metadata.name): {str(doc)[:80]}")
    sources = Sources.of(docs)
    services = [doc for doc in docs if doc["kind"] == "Service"]
    publish = dict(publish or {})
    unknown = set(publish) - {service["metadata"]["name"] for service in services}
    if unknown:
        raise AdaptationError(f"--publish names no Service of the manifests: {', '.join(sorted(unknown))}")
    play = Play([])
    selected: set[str] = set()
    for doc in docs:
        kind, name = doc["kind"], doc["metadata"]["name"]
        if kind in WORKLOADS:
            chosen = [s for s in services if selects(s, pod_labels(doc))]
            if len(chosen) > 1:
                names = ", ".join(s["metadata"]["name"] for s in chosen)
                raise AdaptationError(f"{kind}/{name}: selected by several Services ({names}); a pod has one name")
            service = chosen[0] if chosen else None
            if service is not None:
                selected.add(service["metadata"]["name"])
            play.documents.append(workload(doc, service, sources, play.notes, images=images or {},
                                           publish=publish, hosts=hosts or {}, entrypoints=entrypoints or {}))
        elif kind == "PersistentVolumeClaim":
            play.documents.append(copy.deepcopy(doc))
        elif kind in ("ConfigMap", "Secret"):
            play.notes.append(Note(kind, name, "dropped: its values are written into the env of the containers "
                                               "that read them (podman 4.3 reads secretKeyRef from its own store)"))
        elif kind == "Service":
            continue  # noted with the workload it names, below
        else:
            why = DROPPED.get(kind, f"podman kube play does not play a {kind}")
            play.notes.append(Note(kind, name, f"dropped: {why}"))
    for service in services:
        name = service["metadata"]["name"]
        if name not in selected:
            play.notes.append(Note("Service", name, "dropped: it selects no pod of the manifests"))
    return play


@dataclass
class Sources:
    """ConfigMap and Secret values by object name (Secrets decoded)."""

    config_maps: dict[str, dict[str, str]]
    secrets: dict[str, dict[str, str]]

    @classmethod
    def of(cls, docs: Sequence[Doc]) -> Sources:
        config_maps: dict[str, dict[str, str]] = {}
        secrets: dict[str, dict[str, str]] = {}
        for doc in docs:
            name = doc["metadata"]["name"]
            if doc["kind"] == "ConfigMap":
                config_maps[name] = {k: str(v) for k, v in (doc.get("data") or {}).items()}
            elif doc["kind"] == "Secret":
                values = {}
                for key, encoded in (doc.get("data") or {}).items():
                    try:
                        values[key] = base64.b64decode("".join(str(encoded).split()), validate=True).decode()
                    except (ValueError, UnicodeDecodeError) as error:
                        raise AdaptationError(f"Secret/{name}: data.{key} is not base64 text") from error
                values.update({k: str(v) for k, v in (doc.get("stringData") or {}).items()})
                secrets[name] = values
        return cls(config_maps, secrets)

    def table(self, kind: str, name: str) -> dict[str, str] | None:
        return (self.config_maps if kind == "configMap" else self.secrets).get(name)


def pod_labels(doc: Doc) -> dict[str, str]:
    if doc["kind"] == "Pod":
        return dict(doc["metadata"].get("labels") or {})
    return dict(doc.get("spec", {}).get("template", {}).get("metadata", {}).get("labels") or {})


def selects(service: Doc, labels: Mapping[str, str]) -> bool:
    selector = service.get("spec", {}).get("selector") or {}
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


def workload(doc: Doc, service: Doc | None, sources: Sources, notes: list[Note], *, images: Mapping[str, str],
             publish: Mapping[str, str], hosts: Mapping[str, str], entrypoints: Mapping[str, Sequence[str]]) -> Doc:
    """One Deployment, StatefulSet or Pod as the Pod (or Deployment) podman plays."""
    kind, name = doc["kind"], doc["metadata"]["name"]
    where = f"{kind}/{name}"
    if kind == "Pod":
        metadata, spec = copy.deepcopy(doc["metadata"]), copy.deepcopy(doc.get("spec") or {})
    else:
        template = doc.get("spec", {}).get("template") or {}
        metadata, spec = copy.deepcopy(template.get("metadata") or {}), copy.deepcopy(template.get("spec") or {})
        spec.setdefault("restartPolicy", "Always")
        replicas = doc.get("spec", {}).get("replicas", 1)
        if replicas != 1:
            notes.append(Note(kind, name, f"one pod of its {replicas} replicas: podman plays one pod per workload"))
    kept = kind == "Deployment" and service is None  # no name to give it: podman names its pod <name>-pod-0
    pod_name = service["metadata"]["name"] if service is not None else f"{name}-pod-0" if kept else name
    namespace = doc["metadata"].get("namespace", "default")
    if not spec.get("containers"):
        raise AdaptationError(f"{where}: no containers")
    rename_volumes(spec, pod_name, sources, notes, where)
    if hosts:
        aliases = spec.setdefault("hostAliases", [])
        for host_name, ip in hosts.items():
            aliases.append({"ip": ip, "hostnames": [host_name]})
    for group in ("initContainers", "containers"):
        for index, container in enumerate(spec.get(group) or []):
            at = f"{where}: spec.{group}[{index}] ({container.get('name', '?')})"
            adapt_container(container, at, pod_name=pod_name, namespace=namespace, sources=sources, notes=notes,
                            images=images, entrypoints=entrypoints, owner=(kind, name))
    if service is not None:
        publish_service(service, spec, publish, notes, where)
    for container in spec["containers"]:  # podman 4.3 publishes every containerPort on the host
        container["ports"] = [declared for declared in container.get("ports") or [] if "hostPort" in declared]
        if not container["ports"]:
            del container["ports"]
    if kept:
        played = copy.deepcopy(doc)
        played["metadata"].pop("namespace", None)
        played["spec"]["template"] = {"metadata": metadata, "spec": spec}
        return played
    if kind == "StatefulSet" and service is None:
        notes.append(Note(kind, name, f"played as Pod {name}: podman 4.3 plays no StatefulSet"))
    metadata["name"] = pod_name
    metadata.pop("namespace", None)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def publish_service(service: Doc, spec: Doc, publish: Mapping[str, str], notes: list[Note], where: str) -> None:
    """Note how each Service port is reached; give the published one a host port."""
    name = service["metadata"]["name"]
    ports = service.get("spec", {}).get("ports") or []
    reached = []
    for index, port in enumerate(ports):
        container_port = target_port(port, spec, where)
        if port.get("port") != container_port:
            reached.append(f"port {port.get('port')} is reached at the container port {container_port}")
        if index == 0 and name in publish:
            host_ip, _, host_port = publish[name].rpartition(":")
            if not host_port.isdigit() or not 0 < int(host_port) < 65536:
                raise AdaptationError(f"--publish {name}={publish[name]}: not [IP:]PORT")
            declared = [p for c in spec["containers"] for p in c.get("ports") or []
                        if p.get("containerPort") == container_port]
            if not declared:
                raise AdaptationError(f"{where}: --publish {name}: no container declares port {container_port}")
            for found in declared:
                found["hostPort"] = int(host_port)
                if host_ip:
                    found["hostIP"] = host_ip
            reached.append(f"published on {publish[name]}")
    notes.append(Note("Service", name, f"played as the pod name {name} ({where})"
                                       + (f"; {'; '.join(reached)}" if reached else "")))


def target_port(port: Doc, spec: Doc, where: str) -> int:
    target = port.get("targetPort", port.get("port"))
    if isinstance(target, int):
        return target
    for container in spec["containers"]:
        for declared in container.get("ports") or []:
            if declared.get("name") == target:
                return int(declared["containerPort"])
    raise AdaptationError(f"{where}: no container port named {target!r} (a Service's targetPort)")


def rename_volumes(spec: Doc, pod_name: str, sources: Sources, notes: list[Note], where: str) -> None:
    renamed: dict[str, str] = {}
    for volume in spec.get("volumes") or []:
        name = volume.get("name", "")
        for kind, key in (("configMap", "name"), ("secret", "secretName")):
            if kind in volume:
                source = volume[kind]
                if sources.table(kind, source.get(key, "")) is not None or not source.get("optional"):
                    raise AdaptationError(f"{where}: volume {name}: podman 4.3 plays no {kind} volume")
                notes.append(Note(kind.capitalize() if kind == "secret" else "ConfigMap", source.get(key, ""),
                                  f"optional volume {name} of {where} is absent: an empty folder instead"))
                del volume[kind]
                volume["emptyDir"] = {}
        if "emptyDir" in volume:
            renamed[name] = f"{pod_name}-{name}"
            volume["name"] = renamed[name]
            volume["emptyDir"] = {}  # podman 4.3 ignores medium and sizeLimit
        elif not ({"hostPath", "persistentVolumeClaim"} & set(volume)):
            raise AdaptationError(f"{where}: volume {name}: podman 4.3 plays only hostPath, emptyDir and "
                                  "persistentVolumeClaim volumes")
    for group in ("initContainers", "containers"):
        for container in spec.get(group) or []:
            for mount in container.get("volumeMounts") or []:
                mount["name"] = renamed.get(mount.get("name", ""), mount.get("name", ""))


def adapt_container(container: Doc, at: str, *, pod_name: str, namespace: str, sources: Sources,
                    notes: list[Note], images: Mapping[str, str], entrypoints: Mapping[str, Sequence[str]],
                    owner: tuple[str, str]) -> None:
    if container.get("image") in images:
        container["image"] = images[container["image"]]
    probes = [probe for probe in ("startupProbe", "readinessProbe", "livenessProbe") if probe in container]
    for probe in probes:
        del container[probe]
    if probes:
        notes.append(Note(*owner, f"{', '.join(probes)} of {container.get('name')} dropped: podman "
                                                "4.3 has no gRPC probe and runs the others as systemd timers, "
                                                "which a host without systemd refuses"))
    literal, at_start = environment(container, at, pod_name=pod_name, namespace=namespace, sources=sources)
    container.pop("envFrom", None)
    container["env"] = [{"name": key, "value": value} for key, value in literal.items()]
    if at_start:
        image = container.get("image", "")
        argv = [*(container.get("command") or entrypoints.get(image) or []), *(container.get("args") or [])]
        if not container.get("command") and image not in entrypoints:
            raise AdaptationError(f"{at}: reads {POD_IP}, which podman does not give: pass the entrypoint of "
                                  f"{image} (--entrypoint {image}=...)")
        container["command"] = ["/bin/sh", "-c", start_script(at_start), "sh", *argv]
        container.pop("args", None)
        notes.append(Note(*owner, f"{', '.join(at_start)} of {container.get('name')} set at start "
                                                "from the pod's address (hostname -i)"))


def environment(container: Doc, at: str, *, pod_name: str, namespace: str,
                sources: Sources) -> tuple[dict[str, str], dict[str, list[str | None]]]:
    """The container's variables: literal values, and those known only at start (parts; None = pod IP)."""
    values: dict[str, str] = {}
    for index, source in enumerate(container.get("envFrom") or []):
        for kind in ("configMap", "secret"):
            ref = source.get(f"{kind}Ref")
            if ref is None:
                continue
            table = sources.table(kind, ref.get("name", ""))
            if table is None:
                if ref.get("optional"):
                    continue
                raise AdaptationError(f"{at}: envFrom[{index}]: no {kind} {ref.get('name')!r} in the manifests")
            values.update({f"{source.get('prefix', '')}{key}": value for key, value in table.items()})
    at_start: dict[str, list[str | None]] = {}
    for index, entry in enumerate(container.get("env") or []):
        name = entry.get("name", "")
        if "value" in entry or "valueFrom" not in entry:
            parts = expand(str(entry.get("value", "")), values, at_start)
            if any(part is None for part in parts):
                at_start[name] = parts
                values.pop(name, None)
            else:
                values[name] = "".join(p for p in parts if p is not None)
                at_start.pop(name, None)
            continue
        value_from = entry["valueFrom"]
        if "fieldRef" in value_from:
            path = value_from["fieldRef"].get("fieldPath", "")
            if path == POD_IP:
                at_start[name] = [None]
                values.pop(name, None)
                continue
            known = {"metadata.name": pod_name, "metadata.namespace": namespace}
            if path not in known:
                raise AdaptationError(f"{at}: env[{index}] ({name}): fieldRef {path} is not one podman gives")
            values[name] = known[path]
            continue
        for kind in ("configMap", "secret"):
            ref = value_from.get(f"{kind}KeyRef")
            if ref is None:
                continue
            table = sources.table(kind, ref.get("name", "")) or {}
            if ref.get("key") in table:
                values[name] = table[ref["key"]]
            elif not ref.get("optional"):
                raise AdaptationError(f"{at}: env[{index}] ({name}): no key {ref.get('key')!r} in {kind} "
                                      f"{ref.get('name')!r} of the manifests")
            break
        else:
            raise AdaptationError(f"{at}: env[{index}] ({name}): only fieldRef, configMapKeyRef and secretKeyRef "
                                  "are understood")
    return values, at_start


def expand(value: str, known: Mapping[str, str], at_start: Mapping[str, list[str | None]]) -> list[str | None]:
    """Kubernetes' `$(VAR)` expansion: `$$` is a `$`, unknown names stay as written; None marks the pod IP."""
    parts: list[str | None] = []
    position = 0
    for match in VARIABLE.finditer(value):
        parts.append(value[position:match.start()])
        position = match.end()
        variable = match.group(1)
        if variable is None:
            parts.append("$")
        elif variable in known:
            parts.append(known[variable])
        elif variable in at_start:
            parts.extend(at_start[variable])
        else:
            parts.append(match.group(0))
    parts.append(value[position:])
    return [part for part in parts if part != ""]


def start_script(at_start: Mapping[str, list[str | None]]) -> str:
    """A POSIX shell line that sets the start-time variables, then execs the container's command ("$@")."""
    lines = ["ip=$(hostname -i | cut -d' ' -f1)"]
    for name, parts in at_start.items():
        value = "".join('"$ip"' if part is None else shlex.quote(part) for part in parts)
        lines.append(f"export {name}={value}")
    return " && ".join([*lines, 'exec "$@"'])


def pairs(values: Sequence[str], option: str) -> dict[str, str]:
    found = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key or not rest:
            raise AdaptationError(f"{option} {value}: expected NAME=VALUE")
        found[key] = rest
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Make rendered Kubernetes manifests playable by podman kube play.")
    parser.add_argument("--image", action="append", default=[], help="REF=LOCAL: run LOCAL where REF is named")
    parser.add_argument("--publish", action="append", default=[], help="SERVICE=[IP:]PORT on the host")
    parser.add_argument("--host", action="append", default=[], help="NAME=IP in every pod's /etc/hosts")
    parser.add_argument("--entrypoint", action="append", default=[],
                        help="IMAGE=COMMAND: the image's entrypoint, for containers that read status.podIP")
    args = parser.parse_args(argv)
    try:
        play = adapt(
            list(yaml.safe_load_all(sys.stdin)),
            images=pairs(args.image, "--image"),
            publish=pairs(args.publish, "--publish"),
            hosts=pairs(args.host, "--host"),
            entrypoints={k: shlex.split(v) for k, v in pairs(args.entrypoint, "--entrypoint").items()},
        )
    except (AdaptationError, yaml.YAMLError) as error:
        print(f"kube_play: {error}", file=sys.stderr)
        return 2
    for note in play.notes:
        print(f"kube_play: {note}", file=sys.stderr)
    sys.stdout.write(play.yaml())
    return 0


if __name__ == "__main__":
    sys.exit(main())
