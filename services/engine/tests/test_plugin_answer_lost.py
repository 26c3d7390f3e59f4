"""Commit-then-timeout between the engine and a plugin host: the host finishes a step (the version is
bumped, the commit made) and its answer is lost on the way back. A real TCP proxy in front of a real
plugin host process loses that answer and the connection; the engine delivers the same request again
with the same idempotency key, the host answers with the first outcome, and the repository shows
one bump and one commit, done in attempt 1.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from vwmp_common.ports import free_port
from vwmp_common.states import EventType
from vwmp_proto.plugin.v1 import plugin_pb2
from vwmp_testkit.fixtures import own_nats_server
from vwmp_testkit.git import git, make_repo
from vwmp_testkit.grpc_proxy import GrpcProxy

from .conftest import Services, replica, start_process, wait_serving

nats_server = own_nats_server("module")  # this module's plugin host is the only one its engine sees

WORKFLOW = {"apiVersion": "vwmp/v1", "kind": "Workflow", "metadata": {"name": "bump-and-commit"}, "spec": {"steps": [
    {"id": "bump", "uses": "release/version-bump", "with": {"repo": "app", "part": "minor"}},
    {"id": "stage", "uses": "git/stage", "needs": ["bump"], "with": {"repo": "app", "paths": ["pyproject.toml"]}},
    {"id": "commit", "uses": "git/commit", "needs": ["stage"], "with": {"repo": "app", "message": "release 1.3.0"}},
]}}


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    root = tmp_path_factory.mktemp("answer-lost")
    port = free_port()
    env = {**os.environ, "VWMP_DATA_DIR": str(root / "data"), "VWMP_STORAGE_PORT": str(port)}
    process = start_process("vwmp_storage", env, root / "storage.log")
    try:
        wait_serving(f"127.0.0.1:{port}", timeout=60)
        yield f"127.0.0.1:{port}", root
    finally:
        process.terminate()
        process.wait(timeout=10)


def git_env(root: Path) -> dict[str, str]:
    config = root / "gitconfig"
    config.write_text('[init]\n\tdefaultBranch = main\n[protocol "file"]\n\tallow = always\n')
    return {"GIT_CONFIG_GLOBAL": str(config), "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(root),
            "GIT_AUTHOR_NAME": "VWMP Test", "GIT_AUTHOR_EMAIL": "test@vwmp.invalid",
            "GIT_COMMITTER_NAME": "VWMP Test", "GIT_COMMITTER_EMAIL": "test@vwmp.invalid"}


def is_result(message: bytes) -> bool:
    return plugin_pb2.ExecuteResponse.FromString(message).HasField("result")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("lost", ["release/version-bump", "git/commit"])
async def test_a_lost_plugin_answer_is_delivered_again_with_the_same_key_and_the_work_is_done_once(
    storage: tuple[str, Path], nats_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lost: str
) -> None:
    storage_target, _ = storage
    identity = git_env(tmp_path)
    for name, value in identity.items():
        monkeypatch.setenv(name, value)
    workspace = tmp_path / "ws"
    repo, _ = make_repo(workspace, "app", {"pyproject.toml": '[project]\nname = "app"\nversion = "1.2.0"\n'})
    host_port = free_port()
    async with GrpcProxy(f"127.0.0.1:{host_port}") as proxy:
        fault = proxy.lose_answer(
            "Execute", request=lambda body: plugin_pb2.ExecuteRequest.FromString(body).type == lost
            and not plugin_pb2.ExecuteRequest.FromString(body).dry_run, answer=is_result)
        env = {**os.environ, **identity, "VWMP_NATS_URL": nats_server, "VWMP_WORKSPACE_ROOT": str(workspace),
               "VWMP_PLUGIN_HOST_PORT": str(host_port), "VWMP_PLUGIN_HOST_ID": f"proxied-{host_port}",
               "VWMP_PLUGIN_HOST_ADVERTISE_ADDRESS": proxy.target}
        host = start_process("vwmp_plugin_host", env, tmp_path / "plugin-host.log")
        try:
            services = Services(env, storage_target, host, tmp_path, "", tmp_path)
            async with replica(services, nats_server, owner=f"engine-{free_port()}") as engine:
                await engine.apply(WORKFLOW)
                run_id = await engine.start("bump-and-commit")
                run = await engine.wait(run_id, timeout=90)
                assert fault.lost.is_set(), "the proxy never lost the answer"
                assert run.state == "succeeded", [(s.id, s.state, s.error) for s in run.steps]
                assert {s.id: s.attempt for s in run.steps} == {"bump": 1, "stage": 1, "commit": 1}
                events = await engine.events(run_id)
                assert not [e for e in events if e.type in (EventType.STEP_RETRYING, EventType.STEP_FAILED)]
                assert collections.Counter(e.step_id for e in events if e.type == EventType.STEP_SUCCEEDED) == {
                    "bump": 1, "stage": 1, "commit": 1}
        finally:
            host.terminate()
            host.wait(timeout=10)
    assert 'version = "1.3.0"' in (repo / "pyproject.toml").read_text()  # one bump: not 1.4.0
    assert git(repo, "log", "--format=%s").splitlines() == ["release 1.3.0", "initial"]
    assert proxy.connections >= 2  # the same request went again over a new connection
