"""Fixtures: an isolated git config, a workspace with one repository and its bare remote."""

from __future__ import annotations

from pathlib import Path

import pytest
from vwmp_plugin_git import plugin
from vwmp_sdk.testing import StepTester
from vwmp_testkit.git import make_repo


@pytest.fixture
def repo(workspace: Path) -> tuple[Path, Path]:
    return make_repo(workspace, "app", {"README.md": "hello\n", "src/app.py": "x = 1\n"})


@pytest.fixture
def tester(workspace: Path) -> StepTester:
    return StepTester(
        plugin,
        workspace_root=workspace,
        platform_config={"git": {"author_name": "Release Bot", "author_email": "bot@vwmp.invalid"}},
    )
