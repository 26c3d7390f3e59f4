"""Fixtures: GitHub's OpenAPI description (fetched once per session) and a loopback forge per provider."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from vwmp_plugin_forge import plugin
from vwmp_sdk.testing import StepTester
from vwmp_testkit.forge import FakeForge
from vwmp_testkit.github_openapi import GitHubOpenAPI, load_github_openapi


@pytest.fixture(scope="session")
def github_openapi() -> GitHubOpenAPI:
    return load_github_openapi()


@pytest.fixture(params=["github", "gitlab", "gitea"])
def forge(request: pytest.FixtureRequest, github_openapi: GitHubOpenAPI) -> Iterator[FakeForge]:
    with FakeForge(request.param, openapi=github_openapi if request.param == "github" else None) as server:
        yield server


@pytest.fixture
def tester(workspace: Path) -> StepTester:
    return StepTester(plugin, workspace_root=workspace)
