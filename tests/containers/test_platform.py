"""The platform as containers (issue 17, item 2), driven through the gateway container only.

One stack per module (tests/containers/stack.py): a workflow of core and plugin steps (a built-in
plugin host and the example plugin's own container) with a WebSocket client receiving every event;
the engine container SIGKILLed mid-run and the run finishing (the restart policy brings it back, the
lease hands it the run); a tag and a branch pushed by the built-in git plugin to a bare remote on a
mounted volume; then a second engine and a second plugin host, and 50 concurrent runs with
none lost or doubled.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from .conftest import Containers, eventually
from .stack import Stack, stand_in_images

pytestmark = [pytest.mark.e2e, pytest.mark.containers]
TERMINAL = {"succeeded", "failed", "cancelled"}


@pytest.fixture(scope="module")
def stack(images: dict[str, float]) -> Iterator[Stack]:
    stand_in_images()
    made = Stack(Containers())
    try:
        made.start()
        yield made
    finally:
        made.containers.remove_all()
        for shared in (made.workspace, made.remotes):
            shutil.rmtree(shared, ignore_errors=True)


def apply(stack: Stack, name: str, steps: list[dict[str, Any]]) -> None:
    workflow = {"apiVersion": "vwmp/v1", "kind": "Workflow", "metadata": {"name": name}, "spec": {"steps": steps}}
    created = httpx.post(f"{stack.url}/api/v1/workflows", json=workflow, headers=stack.headers, timeout=30)
    assert created.status_code == 201, created.text


def start(stack: Stack, name: str) -> str:
    started = httpx.post(f"{stack.url}/api/v1/workflows/{name}/runs", json={}, headers=stack.headers, timeout=30)
    assert started.status_code in (200, 201, 202), started.text
    return str(started.json()["id"])


def get_run(stack: Stack, run_id: str) -> dict[str, Any]:
    got = httpx.get(f"{stack.url}/api/v1/runs/{run_id}", headers=stack.headers, timeout=30)
    assert got.status_code == 200, got.text
    return dict(got.json())


def wait_finished(stack: Stack, run_id: str, timeout: float) -> dict[str, Any]:
    assert eventually(lambda: get_run(stack, run_id)["state"] in TERMINAL, timeout=timeout, period=0.5), \
        f"run {run_id} still {get_run(stack, run_id)['state']} after {timeout}s"
    return get_run(stack, run_id)


def events(stack: Stack, run_id: str) -> list[dict[str, Any]]:
    got = httpx.get(f"{stack.url}/api/v1/runs/{run_id}/events", params={"after": 0}, headers=stack.headers,
                    timeout=30)
    assert got.status_code == 200, got.text
    return list(got.json()["items"])


STEPS = [
    {"id": "start", "uses": "core/noop"},
    {"id": "greet", "uses": "hello/greet", "needs": ["start"], "with": {"name": "containers"}},
    {"id": "nap", "uses": "core/sleep", "needs": ["start"], "with": {"seconds": 1}},
    {"id": "again", "uses": "hello/greet", "needs": ["greet", "nap"],
     "with": {"name": "${{ steps.greet.outputs.greeting }}"}},
]


@pytest.mark.timeout(1500)
def test_a_workflow_of_core_and_plugin_steps_streams_every_event(stack: Stack) -> None:
    print(f"\nstart-up to healthy (s): { {k: round(v, 1) for k, v in stack.started.items()} }")
    palette = httpx.get(f"{stack.url}/api/v1/step-types", headers=stack.headers, timeout=30).json()["items"]
    types = {item["type"] for item in palette}
    assert {"core/noop", "core/sleep", "hello/greet"} <= types, types
    assert any(t.startswith("git/") for t in types), "the built-in plugin host's step types are in the palette"
    apply(stack, "in-containers", STEPS)
    run_id = start(stack, "in-containers")
    received: list[dict[str, Any]] = []

    async def listen() -> None:
        url = stack.url.replace("http", "ws") + f"/api/v1/runs/{run_id}/stream?after=0"
        async with websockets.connect(url, subprotocols=["vwmp.v1", f"bearer.{stack.admin_token}"],
                                      origin=stack.url) as ws:
            async with asyncio.timeout(60):
                while not (received and received[-1].get("type", "").startswith("run.")
                           and received[-1].get("type") in ("run.succeeded", "run.failed", "run.cancelled")):
                    received.append(json.loads(await ws.recv()))

    asyncio.run(listen())
    run = wait_finished(stack, run_id, 60)
    assert run["state"] == "succeeded", (run["steps"], stack.containers.logs(stack.name("engine-1"))[-3000:])
    outputs = {step["id"]: step.get("outputs") for step in run["steps"]}
    assert outputs["again"] == {"greeting": "Hello, Hello, containers!!"}, outputs
    stored = events(stack, run_id)
    assert [e["seq"] for e in received] == [e["seq"] for e in stored] == list(range(1, len(stored) + 1))


def git(*args: str, cwd: Path | None = None) -> str:
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_CONFIG_GLOBAL": "/dev/null",
           # the trees belong to the containers' user 10001; this process reads them as root
           "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "safe.directory", "GIT_CONFIG_VALUE_0": "*"}
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True, timeout=30)
    return done.stdout.strip()


@pytest.mark.timeout(300)
def test_a_release_tag_and_branch_are_pushed_to_a_bare_remote_on_a_volume(stack: Stack) -> None:
    remote, work = stack.remotes / "shop.git", stack.workspace / "shop"
    git("init", "-q", "--bare", "--initial-branch", "main", str(remote))
    git("init", "-q", "--initial-branch", "main", str(work))
    (work / "README.md").write_text("shop\n")
    git("add", "README.md", cwd=work)
    git("-c", "user.name=Ada", "-c", "user.email=ada@example.com", "commit", "-q", "-m", "first", cwd=work)
    git("remote", "add", "origin", "/remotes/shop.git", cwd=work)  # the path inside the plugin host
    for tree in (remote, work):
        subprocess.run(["chown", "-R", "10001:10001", str(tree)], check=True)
    head = git("rev-parse", "HEAD", cwd=work)
    apply(stack, "release-shop", [
        {"id": "start", "uses": "core/noop"},
        {"id": "tag", "uses": "git/tag", "needs": ["start"],
         "with": {"repo": "shop", "name": "v1.0.0", "message": "Release 1.0.0"}},
        {"id": "push", "uses": "git/push", "needs": ["tag"],
         "with": {"repo": "shop", "remote": "origin", "refs": ["refs/heads/main"], "tags": ["v1.0.0"]}}])
    run = wait_finished(stack, start(stack, "release-shop"), 60)
    assert run["state"] == "succeeded", run["steps"]
    assert git("--git-dir", str(remote), "rev-parse", "refs/heads/main") == head
    assert git("--git-dir", str(remote), "cat-file", "-t", "refs/tags/v1.0.0") == "tag"
    assert git("--git-dir", str(remote), "rev-parse", "v1.0.0^{commit}") == head
    assert git("--git-dir", str(remote), "tag", "-l", "--format=%(contents:subject)", "v1.0.0") == "Release 1.0.0"


@pytest.mark.timeout(300)
def test_the_engine_container_sigkilled_mid_run_the_run_finishes(stack: Stack) -> None:
    steps = [{"id": f"s{i}", "uses": "core/sleep", "with": {"seconds": 1}, **({"needs": [f"s{i - 1}"]} if i else {})}
             for i in range(6)]
    apply(stack, "survives-a-crash", steps)
    run_id = start(stack, "survives-a-crash")
    assert eventually(lambda: any(s["state"] == "succeeded" for s in get_run(stack, run_id)["steps"]), timeout=30)
    engine = stack.name("engine-1")
    before = stack.main_pid(engine)
    stack.crash(engine)
    # The restart policy brings the container back; its engine takes the run when the lease expires.
    assert eventually(lambda: stack.main_pid(engine) not in (0, before), timeout=60), stack.containers.logs(engine)
    run = wait_finished(stack, run_id, 90)
    assert run["state"] == "succeeded", run
    succeeded = Counter(e["step_id"] for e in events(stack, run_id) if e.get("type") == "step.succeeded")
    assert succeeded == {f"s{i}": 1 for i in range(6)}, succeeded


@pytest.mark.timeout(900)
def test_two_engines_two_plugin_hosts_fifty_concurrent_runs(stack: Stack) -> None:
    stack.timed("engine-2", lambda: stack.engine("engine-2"), 50052)
    stack.timed("plugin-hello-2", lambda: stack.plugin_host("plugin-hello-2", "plugin-hello"), 50053)
    for engine in ("engine-1", "engine-2"):
        for host in ("plugin-host-1", "plugin-hello", "plugin-hello-2"):
            assert stack.reachable(stack.name(engine), stack.name(host), 50053), f"{engine} cannot reach {host}"
    apply(stack, "fifty", STEPS)
    began = time.monotonic()
    with ThreadPoolExecutor(10) as pool:
        run_ids = list(pool.map(lambda _: start(stack, "fifty"), range(50)))
    assert len(set(run_ids)) == 50
    finished = [wait_finished(stack, run_id, 300) for run_id in run_ids]
    took = time.monotonic() - began
    assert Counter(run["state"] for run in finished) == {"succeeded": 50}
    for run_id in run_ids:
        per_step = Counter(e["step_id"] for e in events(stack, run_id) if e.get("type") == "step.succeeded")
        assert per_step == {"start": 1, "greet": 1, "nap": 1, "again": 1}, (run_id, per_step)
    print(f"\n50 concurrent runs on 2 engines and 2 hello hosts: {took:.1f}s")
