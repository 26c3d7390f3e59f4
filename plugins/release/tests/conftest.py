"""Fixtures: isolated git config and a sample Python project at 0.4.1 with a bare remote."""

from __future__ import annotations

from pathlib import Path

import pytest
from vwmp_plugin_git.testing import isolated_git_env, make_repo

CHANGELOG = """# Changelog

All notable changes to this project are documented in this file.

## [Unreleased]

### Added

- Release cards move on the board automatically (KAN-7)

## [0.4.1] - 2024-05-01

### Fixed

- Crash when the config file is empty (KAN-3)

[unreleased]: https://git.example.com/acme/shop/compare/v0.4.1...HEAD
[0.4.1]: https://git.example.com/acme/shop/compare/v0.4.0...v0.4.1
"""

BOARD = """# Team board
columns:
  - name: In progress
    cards:
      - id: KAN-9
        title: Dark mode
  - name: Done
    cards:
      - id: KAN-7
        title: Move release cards automatically   # shipped in the next release
      - id: KAN-8
        title: Not in this release
  - name: Released
    cards: []
"""

FILES = {
    "pyproject.toml": '[project]\nname = "shop"\nversion = "0.4.1"\nrequires-python = ">=3.11"\n',
    "src/shop/__init__.py": '"""Shop."""\n\n__version__ = "0.4.1"\n',
    "CHANGELOG.md": CHANGELOG,
    "kanban.yaml": BOARD,
    "kb/index.md": (
        "# Knowledge base\n\nHow the shop works.\n\n## Releases\n\n- [0.4.1](releases/0.4.1.md) - 2024-05-01\n"
    ),
}


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    isolated_git_env(monkeypatch, tmp_path)
    ws = tmp_path / "ws"
    ws.mkdir()
    return ws


@pytest.fixture
def shop(workspace: Path) -> tuple[Path, Path]:
    return make_repo(workspace, "shop", FILES)
