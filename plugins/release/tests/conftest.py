"""Fixtures: isolated git config and a sample Python project at 0.4.1 with a bare remote."""

from __future__ import annotations

from pathlib import Path

import pytest
from vwmp_plugin_release.testing import FILES
from vwmp_toolkit.testing import isolated_git_env, make_repo


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    isolated_git_env(monkeypatch, tmp_path)
    ws = tmp_path / "ws"
    ws.mkdir()
    return ws


@pytest.fixture
def shop(workspace: Path) -> tuple[Path, Path]:
    return make_repo(workspace, "shop", FILES)
