"""Fixtures: isolated git config and a small repository with changelog, board and KB."""

from __future__ import annotations

from pathlib import Path

import pytest
from vwmp_plugin_project import plugin
from vwmp_sdk.testing import StepTester
from vwmp_testkit.git import make_repo

CHANGELOG = """# Changelog

## [Unreleased]

### Added

- Cards move on release (KAN-7, KAN-12)

## [0.4.1] - 2024-05-01

- Fix (KAN-3)
"""
BOARD = """columns:
  - name: Done  # finished work
    cards:
      - id: KAN-7
        title: "Move cards"
      - id: KAN-8
        title: Other
  - name: Released
    cards: []
"""



@pytest.fixture
def repo(workspace: Path) -> Path:
    return make_repo(workspace, "app", {"CHANGELOG.md": CHANGELOG, "kanban.yaml": BOARD})[0]


@pytest.fixture
def tester(workspace: Path) -> StepTester:
    return StepTester(plugin, workspace_root=workspace)
