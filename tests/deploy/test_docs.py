"""docs/deploy.md tells how to run, scale and extend the deployment, and points at files that exist."""

from __future__ import annotations

import re

from .conftest import REPO, service_folders

DOC = REPO / "docs" / "deploy.md"


def test_every_deploy_path_the_guide_names_exists() -> None:
    paths = set(re.findall(r"(?<![\w/])((?:deploy|services|tests|examples)/[\w./-]+[\w/])", DOC.read_text()))
    assert "deploy/k8s/overlays/prod" in paths
    missing = sorted(p for p in paths if "<" not in p and not (REPO / p).exists())
    assert not missing, f"docs/deploy.md names missing paths: {missing}"


def test_the_guide_covers_install_scaling_plugins_credentials_and_every_service() -> None:
    text = DOC.read_text()
    assert "kubectl apply -k deploy/k8s/overlays/prod" in text
    assert "nats-values.yaml" in text and "postgresql-values.yaml" in text
    for heading in ("## Scaling each service", "## Adding a plugin container", "### Cluster-mode credentials"):
        assert heading in text
    for folder in service_folders():
        assert f"| `{folder.name}` |" in text, f"{folder.name} missing from the what-runs-where table"
