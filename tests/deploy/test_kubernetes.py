"""Rendered manifests are valid Kubernetes objects and give every service what it needs to run."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest
import yaml

from .conftest import (
    DEPLOY,
    GRPC_PORTS,
    HTTP_SERVICES,
    KUSTOMIZATIONS,
    containers,
    objects,
    service_folders,
)

KUBERNETES_VERSION = "1.33.0"
# Custom resources of other projects: kubernetes-validate has no schema for them.
FOREIGN_API_GROUPS = ("monitoring.coreos.com/", "postgresql.cnpg.io/")
SERVICE_OVERLAYS = ["base", "dev", "prod"]


def validate(doc: dict[str, Any]) -> None:
    """Fail with the object's name when it does not match the Kubernetes schema (strict)."""
    try:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        pytest.fail(f"{doc['kind']}/{doc['metadata']['name']}: {error.message} at {list(error.path)}")


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_every_rendered_object_matches_the_kubernetes_schema(rendered: dict, name: str) -> None:
    docs = rendered[name]
    assert docs
    for doc in docs:
        assert not doc["apiVersion"].startswith(FOREIGN_API_GROUPS)
        validate(doc)


def test_dependency_policies_match_the_kubernetes_schema() -> None:
    docs = list(yaml.safe_load_all((DEPLOY / "k8s" / "dependencies" / "networkpolicies.yaml").read_text()))
    assert {d["metadata"]["name"] for d in docs} == {"vwmp-postgres", "nats"}
    for doc in docs:
        validate(doc)


@pytest.mark.parametrize("overlay", SERVICE_OVERLAYS)
@pytest.mark.parametrize("folder", service_folders(), ids=lambda p: p.name)
def test_every_service_has_a_deployment_a_service_and_probes(rendered: dict, overlay: str, folder) -> None:
    name = folder.name
    docs = rendered[overlay]
    deployment = objects(docs, "Deployment").get(name)
    service = objects(docs, "Service").get(name)
    assert deployment is not None, f"no Deployment {name}"
    assert service is not None, f"no Service {name}"
    # One name everywhere: folder, Deployment, Service, `app` label, container, image.
    assert deployment["spec"]["selector"]["matchLabels"] == {"app": name}
    assert deployment["spec"]["template"]["metadata"]["labels"]["app"] == name
    assert service["spec"]["selector"] == {"app": name}
    (container,) = containers(deployment)
    assert container["name"] == name
    assert container["image"].rsplit(":", 1)[0].rsplit("/", 1)[-1] == name
    for probe in ("readinessProbe", "livenessProbe"):
        if name in GRPC_PORTS:
            assert container[probe]["grpc"]["port"] == GRPC_PORTS[name], f"{name} {probe}"
        else:
            assert container[probe]["httpGet"]["path"] == "/api/v1/health", f"{name} {probe}"
    port = GRPC_PORTS.get(name) or HTTP_SERVICES[name]
    assert port in [p["containerPort"] for p in container["ports"]]
    target = service["spec"]["ports"][0]["targetPort"]
    assert target in (port, *[p["name"] for p in container["ports"] if p["containerPort"] == port])


@pytest.mark.parametrize("overlay", [*SERVICE_OVERLAYS, "plugin-example"])
def test_pods_are_locked_down_and_sized(rendered: dict, overlay: str) -> None:
    for name, deployment in objects(rendered[overlay], "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["automountServiceAccountToken"] is False, name
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"]["drop"] == ["ALL"], name
            # The root filesystem is read-only: /tmp and the data folder must be volumes.
            mounts = {m["mountPath"] for m in container["volumeMounts"]}
            assert "/tmp" in mounts, name
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][kind]), f"{name} {kind}"


@pytest.mark.parametrize("overlay", SERVICE_OVERLAYS)
def test_gateway_engine_and_plugin_hosts_autoscale_and_the_engine_has_a_disruption_budget(
    rendered: dict, overlay: str
) -> None:
    docs = rendered[overlay]
    hpas = objects(docs, "HorizontalPodAutoscaler")
    deployments = objects(docs, "Deployment")
    assert set(hpas) == {"api-gateway", "engine", "plugin-host"}
    for name, hpa in hpas.items():
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert name in deployments
        assert 1 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
        # CPU utilisation targets only work when the containers request CPU.
        assert all("cpu" in c["resources"]["requests"] for c in containers(deployments[name]))
    (pdb,) = objects(docs, "PodDisruptionBudget").values()
    assert pdb["spec"]["selector"] == {"matchLabels": {"app": "engine"}}


@pytest.mark.parametrize("overlay", SERVICE_OVERLAYS)
def test_secrets_come_from_a_secret_and_settings_from_the_configmap(rendered: dict, overlay: str) -> None:
    docs = rendered[overlay]
    (config,) = objects(docs, "ConfigMap").values()
    assert all(key.startswith("VWMP_") for key in config["data"])
    assert not {"VWMP_DATABASE_URL", "VWMP_SERVICE_TOKEN", "VWMP_ADMIN_TOKEN"} & set(config["data"])
    secret_refs: dict[str, set[str]] = {}
    for name, deployment in objects(docs, "Deployment").items():
        (container,) = containers(deployment)
        assert {"configMapRef": {"name": config["metadata"]["name"]}} in container["envFrom"], name
        for var in container.get("env", []):
            ref = var.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                expected = "vwmp-nats-users" if var["name"] == "VWMP_NATS_PASSWORD" else "vwmp-secrets"
                assert ref["name"] == expected, name
                secret_refs.setdefault(var["name"], set()).add(name)
    assert secret_refs["VWMP_DATABASE_URL"] == {"storage"}, "only storage knows the database"
    # Plugin hosts run plugins the platform may not trust: their own token, never the one storage accepts.
    assert secret_refs["VWMP_SERVICE_TOKEN"] == {"api-gateway", "engine", "storage"}
    assert secret_refs["VWMP_PLUGIN_HOST_TOKEN"] == {"engine", "plugin-host"}
    assert secret_refs["VWMP_NATS_PASSWORD"] == {"api-gateway", "engine", "plugin-host"}


def test_plugin_hosts_advertise_their_pod_address(rendered: dict) -> None:
    for overlay in ("base", "plugin-example"):
        for deployment in objects(rendered[overlay], "Deployment").values():
            labels = deployment["spec"]["template"]["metadata"]["labels"]
            if labels.get("vwmp.io/component") != "plugin-host":
                continue
            env = {v["name"]: v for v in containers(deployment)[0]["env"]}
            assert env["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
            assert env["VWMP_PLUGIN_HOST_ADVERTISE_ADDRESS"]["value"] == "$(POD_IP):50053"
            names = list(env)
            assert names.index("POD_IP") < names.index("VWMP_PLUGIN_HOST_ADVERTISE_ADDRESS")


def test_prod_gives_plugin_hosts_a_shared_workspace(rendered: dict) -> None:
    docs = rendered["prod"]
    claim = objects(docs, "PersistentVolumeClaim")["plugin-workspace"]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    volumes = {v["name"]: v for v in objects(docs, "Deployment")["plugin-host"]["spec"]["template"]["spec"]["volumes"]}
    assert volumes["workspace"] == {"name": "workspace", "persistentVolumeClaim": {"claimName": "plugin-workspace"}}


def test_dependencies_are_charts_not_hand_rolled_statefulsets(rendered: dict) -> None:
    for docs in rendered.values():
        assert not objects(docs, "StatefulSet")
    nats = yaml.safe_load((DEPLOY / "k8s" / "dependencies" / "nats-values.yaml").read_text())
    assert nats["config"]["jetstream"]["enabled"] is True
    assert nats["config"]["jetstream"]["fileStore"]["pvc"]["enabled"] is True
    postgres = yaml.safe_load((DEPLOY / "k8s" / "dependencies" / "postgresql-values.yaml").read_text())
    assert postgres["fullnameOverride"] == "vwmp-postgres"
    assert postgres["cluster"]["initdb"] == {"database": "vwmp", "owner": "vwmp"}
