"""Pytest fixtures every VWMP suite may use, loaded through the `pytest11` entry point (no import needed).

pytest is a dependency of the test kit only, so no runtime package carries a fixture.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest

from vwmp_testkit.git import isolated_git_env
from vwmp_testkit.nats import NatsServer


def _serve_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with NatsServer(tmp_path_factory.mktemp("nats")) as server:
        yield server.url


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real nats-server with JetStream on a free port; yields its URL."""
    yield from _serve_nats(tmp_path_factory)


def own_nats_server(scope: Literal["session", "package", "module"]) -> Any:
    """A `nats_server` fixture of a suite's own, for a conftest: `nats_server = own_nats_server("module")`.

    A suite that starts plugin hosts needs it: hosts announce their step types on NATS, and an engine
    would otherwise route steps to the hosts of another suite's platform, with another workspace.
    """
    return pytest.fixture(scope=scope, name="nats_server")(_serve_nats)


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty workspace root, with git cut off from the machine's own config (see `isolated_git_env`)."""
    isolated_git_env(monkeypatch, tmp_path)
    root = tmp_path / "ws"
    root.mkdir()
    return root
