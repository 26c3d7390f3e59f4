"""The spine end to end: every service a real process, driven through REST, the WebSocket and the CLI."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets
from vwmp_cli.up import Platform

from .conftest import platform_env, running

pytestmark = pytest.mark.e2e

WORKFLOW_YAML = """\
apiVersion: vwmp/v1
kind: Workflow
metadata: {name: mixed, description: "parallel and sequential, core and plugin"}
spec:
  parameters:
    type: object
    required: [who]
    properties:
      who: {type: string}
  steps:
    - id: start
      uses: core/noop
    - id: greet
      uses: hello/greet
      needs: [start]
      with: {name: "${{ params.who }}"}
    - id: nap
      uses: core/sleep
      needs: [start]
      with: {seconds: 0.2}
    - id: again
      uses: hello/greet
      needs: [greet, nap]
      with: {name: "${{ steps.greet.outputs.greeting }}"}
"""


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    with running(Platform(env=platform_env(tmp_path_factory.mktemp("platform"), VWMP_PLUGINS="hello"))) as platform:
        yield platform



def test_the_admin_token_file_is_private(platform: Platform) -> None:
    assert platform.admin_token_file.stat().st_mode & 0o777 == 0o600


async def test_a_workflow_applied_as_yaml_runs_and_its_events_arrive_live(platform: Platform, api, token) -> None:
    created = await api.post("/workflows", content=WORKFLOW_YAML, headers={"Content-Type": "application/yaml"})
    assert created.status_code == 201, created.text
    assert created.json()["version"] == 1
    started = await api.post("/workflows/mixed/runs", json={"parameters": {"who": "Ada"}})
    assert started.status_code == 201, started.text
    run = started.json()
    assert set(run) >= {"id", "workflow", "version", "state", "parameters", "created_at", "started_at",
                        "finished_at", "steps"}
    ws_url = platform.url.replace("http", "ws") + f"/api/v1/runs/{run['id']}/stream?after=0"
    events = []
    async with websockets.connect(ws_url, additional_headers={"Authorization": f"Bearer {token}"}) as socket:
        async with asyncio.timeout(30):
            while not events or not events[-1]["type"].startswith("run.succeeded"):
                events.append(json.loads(await socket.recv()))
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert set(events[0]) == {"seq", "run_id", "type", "step_id", "attempt", "at", "data"}
    assert events[0]["type"] == "run.queued" and events[-1]["type"] == "run.succeeded"
    final = (await api.get(f"/runs/{run['id']}")).json()
    assert final["state"] == "succeeded"
    steps = {s["id"]: s for s in final["steps"]}
    assert steps["again"]["outputs"] == {"greeting": "Hello, Hello, Ada!!"}
    assert set(steps["greet"]) >= {"id", "uses", "state", "attempt", "outputs", "error", "started_at", "finished_at"}
    logs = (await api.get(f"/runs/{run['id']}/steps/greet/logs")).json()
    assert any("Ada" in line["line"] for line in logs["items"])
    history = (await api.get(f"/runs/{run['id']}/events", params={"after": 3})).json()["items"]
    assert [e["seq"] for e in history] == list(range(4, len(events) + 1))


async def test_bad_definitions_get_pointed_errors_never_a_500(api) -> None:
    bad = {"apiVersion": "vwmp/v1", "kind": "Workflow", "metadata": {"name": "broken"},
           "spec": {"steps": [{"id": "a", "uses": "core/noop", "needs": ["b"]},
                              {"id": "b", "uses": "hello/greet", "needs": ["a"], "with": {"nme": "x"}}]}}
    response = await api.post("/workflows", json=bad)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    pointers = {e["pointer"] for e in response.json()["errors"]}
    assert {"/spec/steps/0/needs/0", "/spec/steps/1/with/nme", "/spec/steps/1/with/name"} <= pointers
    validation = (await api.post("/workflows/validate", json=bad)).json()
    assert validation["valid"] is False and validation["errors"]
    for body, content_type in (("{not json", "application/json"), ("a: [1, 2", "application/yaml")):
        response = await api.post("/workflows", content=body, headers={"Content-Type": content_type})
        assert response.status_code == 400, response.text
        assert response.headers["content-type"].startswith("application/problem+json")


async def test_parameters_are_checked_against_the_parameter_schema(api) -> None:
    response = await api.post("/workflows/mixed/runs", json={"parameters": {"who": 42}})
    assert response.status_code == 422
    assert any(e["pointer"].endswith("/who") for e in response.json()["errors"])


async def test_every_request_without_a_token_is_refused_but_health(platform: Platform) -> None:
    async with httpx.AsyncClient(base_url=f"{platform.url}/api/v1") as anonymous:
        assert (await anonymous.get("/health")).status_code == 200
        refused = await anonymous.get("/workflows")
        assert refused.status_code == 401
        assert refused.headers["content-type"].startswith("application/problem+json")


def test_the_cli_applies_runs_and_watches_a_workflow(platform: Platform, token: str, tmp_path: Path) -> None:
    definition = tmp_path / "cli.yaml"
    definition.write_text(WORKFLOW_YAML.replace("name: mixed", "name: from-cli"))
    env = {**platform.env, "VWMP_URL": platform.url, "VWMP_TOKEN": token}

    def vwmp(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(Path(sys.executable).parent / "vwmp"), *args], env=env, capture_output=True,
                              text=True, timeout=60)

    applied = vwmp("apply", "-f", str(definition))
    assert applied.returncode == 0, applied.stderr
    watched = vwmp("run", "from-cli", "-p", "who=Grace", "--watch")
    assert watched.returncode == 0, watched.stdout + watched.stderr
    assert "again" in watched.stdout and "succeeded" in watched.stdout
    runs = vwmp("runs", "--workflow", "from-cli")
    assert runs.returncode == 0 and "succeeded" in runs.stdout
    created = vwmp("token", "create", "--role", "viewer", "--name", "ci-viewer")
    assert created.returncode == 0, created.stderr
    assert "vwmp_" in created.stdout


async def test_every_service_exposes_prometheus_metrics(platform: Platform, api) -> None:
    await api.get("/workflows")
    async with httpx.AsyncClient() as client:
        gateway = await client.get(f"{platform.url}/metrics")
        assert gateway.status_code == 200
        for name, metric in (("storage", "vwmp_rpc_latency_seconds"), ("engine", "vwmp_steps_total"),
                             ("engine", "vwmp_dispatch_queue_depth"), ("plugin-host", "vwmp_rpc_latency_seconds")):
            port = platform.services[name].metrics_port
            text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
            assert metric in text, (name, metric)
        engine = (await client.get(f"http://127.0.0.1:{platform.services['engine'].metrics_port}/metrics")).text
        assert 'vwmp_runs_total{state="succeeded"}' in engine
