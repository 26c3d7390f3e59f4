"""Every built-in step delivered twice with one idempotency key (the engine lost the first answer), on the
real plugin host process, a real repository with a bare remote and a loopback forge: the second delivery
gets the same outputs and nothing is done twice (one bump, one changelog section, one commit, one tag,
one push, one card move, one validator run, one forge release)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from vwmp_common.ports import free_port
from vwmp_proto.plugin.v1 import plugin_pb2, plugin_pb2_grpc
from vwmp_testkit.forge import FakeForge
from vwmp_testkit.git import git, make_repo

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

CHANGELOG = """# Changelog

## [Unreleased]

### Added

- Redelivered steps run once (KAN-7)

## [1.2.0] - 2024-05-01

- First (KAN-3)
"""
BOARD = """columns:
  - name: Done
    cards:
      - id: KAN-7
        title: Run once
  - name: Released
    cards: []
"""
PYPROJECT = '[project]\nname = "app"\nversion = "1.2.0"\n'
COUNTING_VALIDATOR = '#!/bin/sh\necho checked >> "$VWMP_REPO/../validator-runs.txt"\necho "all good"\n'


@dataclass
class Host:
    target: str
    workspace: Path
    repo: Path
    remote: Path
    forge: FakeForge
    log: Path


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Host]:
    root = tmp_path_factory.mktemp("redelivery")
    config = root / "gitconfig"
    config.write_text('[init]\n\tdefaultBranch = main\n[protocol "file"]\n\tallow = always\n')
    git_env = {"GIT_CONFIG_GLOBAL": str(config), "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(root),
               "GIT_AUTHOR_NAME": "VWMP Test", "GIT_AUTHOR_EMAIL": "test@vwmp.invalid",
               "GIT_COMMITTER_NAME": "VWMP Test", "GIT_COMMITTER_EMAIL": "test@vwmp.invalid"}
    os.environ.update(git_env)  # make_repo and git() run in this process
    validators = root / "validators"
    validators.mkdir()
    (validators / "count.sh").write_text(COUNTING_VALIDATOR)
    (validators / "count.sh").chmod(0o755)
    workspace = root / "ws"
    repo, remote = make_repo(workspace, "app", {"CHANGELOG.md": CHANGELOG, "kanban.yaml": BOARD,
                                                "pyproject.toml": PYPROJECT, "README.md": "app\n"})
    port = free_port()
    env = {**os.environ, **git_env, "VWMP_PLUGIN_HOST_PORT": str(port), "VWMP_PLUGIN_HOST_ID": f"redeliver-{port}",
           "VWMP_WORKSPACE_ROOT": str(workspace), "VWMP_VALIDATORS_DIR": str(validators),
           "VWMP_NATS_URL": "nats://127.0.0.1:1"}  # announcing is not needed: the test calls the host directly
    log = root / "host.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "vwmp_plugin_host"], env=env, stdout=out, stderr=out)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=30,
                                                      wait_for_ready=True)
        with FakeForge("gitea", token="forge-t0ken") as forge:
            yield Host(f"127.0.0.1:{port}", workspace, repo, remote, forge, log)
    finally:
        process.terminate()
        process.wait(timeout=10)


def deliver(host: Host, step_type: str, config: dict[str, Any], key: str) -> tuple[str, Any, list[str]]:
    """One delivery: ("result", outputs, logs) or ("failure", (kind, message), logs)."""
    run, step, attempt = key.split("/")
    request = plugin_pb2.ExecuteRequest(type=step_type, config_json=json.dumps(config), run_id=run, step_id=step,
                                        attempt=int(attempt), idempotency_key=key)
    with grpc.insecure_channel(host.target) as channel:
        responses = list(plugin_pb2_grpc.PluginServiceStub(channel).Execute(request, timeout=60))
    logs = [r.log.line for r in responses if r.HasField("log")]
    last = responses[-1]
    if last.HasField("result"):
        return "result", json.loads(last.result.outputs_json), logs
    return "failure", (last.failure.kind, last.failure.message), logs


def effects(host: Host, step_type: str) -> str:
    """What the step type declares it changes, as the host describes it to the engine."""
    with grpc.insecure_channel(host.target) as channel:
        described = plugin_pb2_grpc.PluginServiceStub(channel).Describe(plugin_pb2.DescribeRequest(), timeout=30)
    return next(t.effects for t in described.step_types if t.type == step_type)


def twice(host: Host, step_type: str, config: dict[str, Any], step: str) -> dict[str, Any]:
    """Deliver the step, then deliver it again with the same key; both answers must be the same success.

    A step with effects answers the second delivery with the first one's outcome; a step without
    effects keeps no outcome and simply runs again (libs/vwmp-sdk/README.md, "Idempotency keys")."""
    key = f"run-redeliver/{step}/1"
    first, outputs, _ = deliver(host, step_type, config, key)
    assert first == "result", outputs
    again, repeated, logs = deliver(host, step_type, config, key)
    assert (again, repeated) == ("result", outputs), f"{step_type}: the second delivery answered differently"
    remembered = any("delivered before and finished" in line for line in logs)
    assert remembered == (effects(host, step_type) != "none"), (step_type, logs)
    return outputs


def commits(repo: Path) -> list[str]:
    return git(repo, "log", "--format=%s").splitlines()


def test_every_built_in_step_delivered_twice_with_one_key_does_its_work_once(host: Host) -> None:
    repo = "app"
    twice(host, "validators/branch-context", {"repo": repo, "allowed": ["main"], "require_clean": True}, "branch")
    twice(host, "validators/changelog-format", {"repo": repo}, "lint")
    twice(host, "validators/custom-rules", {"repo": repo, "rules": [
        {"files": "README.md", "must_match": "app", "message": "names the app"}]}, "rules")
    analyzed = twice(host, "release/analyze-commits", {"repo": repo}, "analyze")
    assert analyzed  # read-only: the same answer again

    bump = twice(host, "release/version-bump", {"repo": repo, "part": "minor"}, "bump")
    assert (bump["previous_version"], bump["version"]) == ("1.2.0", "1.3.0")
    assert 'version = "1.3.0"' in (host.repo / "pyproject.toml").read_text()  # bumped once, not to 1.4.0

    section = twice(host, "release/changelog", {"repo": repo, "version": "1.3.0", "date": "2024-06-01"}, "changelog")
    assert section["section"].startswith("## [1.3.0] - 2024-06-01")
    assert (host.repo / "CHANGELOG.md").read_text().count("## [1.3.0]") == 1

    twice(host, "project/kb-update", {"repo": repo, "version": "1.3.0"}, "kb")
    moved = twice(host, "project/kanban-update", {"repo": repo, "version": "1.3.0"}, "kanban")
    assert moved == {"moved": ["KAN-7"]}
    validated = twice(host, "project/run-validator", {"repo": repo, "validator": "count.sh"}, "validator")
    assert validated["passed"] is True
    assert (host.workspace / "validator-runs.txt").read_text().splitlines() == ["checked"]

    twice(host, "git/status", {"repo": repo}, "status")
    staged = twice(host, "git/stage", {"repo": repo, "paths": ["."]}, "stage")
    assert "pyproject.toml" in staged["staged"]
    made = twice(host, "git/commit", {"repo": repo, "message": "chore: release 1.3.0"}, "commit")
    assert commits(host.repo) == ["chore: release 1.3.0", "initial"]
    assert made["sha"] == git(host.repo, "rev-parse", "HEAD")
    tagged = twice(host, "git/tag", {"repo": repo, "name": "v1.3.0"}, "tag")
    assert tagged == {"name": "v1.3.0", "sha": made["sha"]}
    assert git(host.repo, "tag", "--list").splitlines() == ["v1.3.0"]
    twice(host, "git/branch", {"repo": repo, "name": "release/1.3", "action": "create"}, "branch-create")
    pushed = twice(host, "git/push", {"repo": repo, "refs": ["main"], "tags": ["v1.3.0"]}, "push")
    assert pushed == {"pushed": ["refs/heads/main", "refs/tags/v1.3.0"]}
    assert git(host.remote, "rev-parse", "main") == made["sha"]
    assert git(host.remote, "tag", "--list").splitlines() == ["v1.3.0"]

    released = twice(host, "forge/release", {
        "provider": "gitea", "api_url": host.forge.api_url, "repository": "acme/app", "tag": "v1.3.0",
        "notes": section["section"], "token": host.forge.token}, "forge")
    assert released["action"] == "created"  # the second delivery says what the step did, not "unchanged"
    assert len(host.forge.releases) == 1
    assert [e.method for e in host.forge.exchanges].count("POST") == 1

    assert git(host.repo, "status", "--porcelain") == ""  # the run folder stays out of the repositories


def test_a_second_delivery_with_the_key_of_another_step_is_refused_not_answered(host: Host) -> None:
    key = "run-refuse/bump/1"
    assert deliver(host, "git/stage", {"repo": "app", "paths": ["README.md"]}, key)[0] == "result"
    kind, (failure_kind, message), _ = deliver(host, "git/tag", {"repo": "app", "name": "v9.9.9"}, key)
    assert (kind, failure_kind) == ("failure", "config")
    assert "idempotency key was delivered before with another step type or config" in message
    assert "v9.9.9" not in git(host.repo, "tag", "--list")
