"""CLI tests run against a real gateway on a free port in front of the real platform (vwmp_testkit)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from vwmp_testkit.fixtures import own_nats_server
from vwmp_testkit.platform import Backend, LiveGateway

# This suite starts plugin hosts: a NATS server of its own keeps other suites' hosts out of its runs.
nats_server = own_nats_server("session")


@pytest.fixture(scope="session")
def backend(nats_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    started = Backend(nats_server, tmp_path_factory.mktemp("platform"))
    started.start()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="session")
def gateway(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    settings = backend.settings(data_dir=tmp_path_factory.mktemp("gw"), ws_idle_backfill_seconds=0.3)
    with LiveGateway(settings) as live:
        yield live


@pytest.fixture
def env(gateway: LiveGateway, backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("VWMP_DATA_DIR", str(tmp_path / "no-data"))
    monkeypatch.delenv("VWMP_TOKEN", raising=False)
    return {"VWMP_URL": gateway.url, "VWMP_TOKEN": backend.tokens["admin"]}


@pytest.fixture
def approver_env(env: dict[str, str], backend: Backend) -> dict[str, str]:
    """The CLI as a second operator: a gate refuses the approval of whoever started the run."""
    return {**env, "VWMP_TOKEN": backend.tokens["approver"]}
