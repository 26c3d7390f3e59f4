"""Fixtures: isolated git config and a sample Python project at 0.4.1 with a bare remote."""

from __future__ import annotations

from pathlib import Path

import pytest
from vwmp_testkit.git import make_repo
from vwmp_testkit.release_project import FILES


@pytest.fixture
def shop(workspace: Path) -> tuple[Path, Path]:
    return make_repo(workspace, "shop", FILES)
