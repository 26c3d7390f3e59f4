"""Pytest fixtures every VWMP suite may use, loaded through the `pytest11` entry point (no import needed).

pytest is a dependency of the test kit only, so no runtime package carries a fixture.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from vwmp_testkit.git import isolated_git_env
from vwmp_testkit.nats import NatsServer


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real nats-server with JetStream on a free port; yields its URL."""
    with NatsServer(tmp_path_factory.mktemp("nats")) as server:
        yield server.url


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty workspace root, with git cut off from the machine's own config (see `isolated_git_env`)."""
    isolated_git_env(monkeypatch, tmp_path)
    root = tmp_path / "ws"
    root.mkdir()
    return root
