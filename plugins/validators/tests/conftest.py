"""Fixtures: isolated git config and a repository with a changelog."""

from __future__ import annotations

from pathlib import Path

import pytest
from vwmp_plugin_validators import plugin
from vwmp_sdk.testing import StepTester
from vwmp_testkit.git import make_repo

GOOD_CHANGELOG = """# Changelog

## [Unreleased]

### Added

- Something (KAN-7)

## [0.4.1] - 2024-05-01

### Fixed

- Bug

## [0.4.0] - 2024-04-01

### Added

- Start

[unreleased]: https://example.com/o/r/compare/v0.4.1...HEAD
[0.4.1]: https://example.com/o/r/compare/v0.4.0...v0.4.1
[0.4.0]: https://example.com/o/r/releases/tag/v0.4.0
"""



@pytest.fixture
def repo(workspace: Path) -> Path:
    files = {"CHANGELOG.md": GOOD_CHANGELOG, "src/app.py": "import os\n\nDEBUG = False\n", "LICENSE": "MIT\n"}
    return make_repo(workspace, "app", files)[0]


@pytest.fixture
def tester(workspace: Path) -> StepTester:
    return StepTester(plugin, workspace_root=workspace, platform_config={"release": {"allowed_branches": ["main"]}})
