"""Fixtures: an isolated git config, a workspace with one repository and its bare remote, a step context."""

from __future__ import annotations

from pathlib import Path

import pytest
from vwmp_sdk import StepContext
from vwmp_testkit.git import make_repo


@pytest.fixture
def repo(workspace: Path) -> tuple[Path, Path]:
    return make_repo(workspace, "app", {"README.md": "hello\n", "docs/a.md": "a\n"})


@pytest.fixture
def logs() -> list[tuple[str, str]]:
    return []


@pytest.fixture
def ctx(workspace: Path, logs: list[tuple[str, str]]) -> StepContext:
    return StepContext(
        run_id="r", step_id="s", attempt=1, idempotency_key="r/s/1", dry_run=False, workspace_root=workspace,
        platform_config=None, log_sink=lambda line, stream: logs.append((stream, line)),
    )
