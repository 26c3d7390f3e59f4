"""deploy/compose.yaml runs the whole stack on one host with the same names as Kubernetes."""

from __future__ import annotations

from typing import Any

from .conftest import DEPLOY, REPO, service_folders


def test_compose_names_every_service_and_its_dependencies(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {p.name for p in service_folders()} | {"postgres", "nats"}


def test_every_service_builds_from_its_own_dockerfile_as_one_image(compose: dict[str, Any]) -> None:
    for folder in service_folders():
        spec = compose["services"][folder.name]
        assert (DEPLOY / spec["build"]["context"]).resolve() == REPO
        assert spec["build"]["dockerfile"] == f"services/{folder.name}/Dockerfile"
        assert spec["image"].startswith(f"vwmp/{folder.name}:")


def test_services_run_locked_down_like_on_kubernetes(compose: dict[str, Any]) -> None:
    for folder in service_folders():
        spec = compose["services"][folder.name]
        assert spec["read_only"] is True and spec["cap_drop"] == ["ALL"], folder.name
        assert spec["user"] == "10001:10001" and "/tmp" in spec["tmpfs"], folder.name


def test_nats_runs_jetstream_and_storage_uses_postgresql(compose: dict[str, Any]) -> None:
    assert "--jetstream" in compose["services"]["nats"]["command"]
    services = compose["services"]
    assert services["storage"]["environment"]["VWMP_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert services["storage"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for folder in service_folders():
        assert services[folder.name]["environment"]["VWMP_NATS_URL"] == "nats://nats:4222"
    # Only the gateway is published, and only on loopback.
    published = {name for name, spec in services.items() if spec.get("ports")}
    assert published == {"api-gateway"}
    assert all(port.startswith("127.0.0.1:") for port in services["api-gateway"]["ports"])
