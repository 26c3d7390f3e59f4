"""Security end to end: every service a real process in cluster mode (shared service token).

- a secret canary resolved by `${{ secrets.CANARY }}` goes through a whole run and appears nowhere a
  user or operator can see it: REST, events, logs, both WebSockets, the audit trail, every log file;
- gRPC servers bind to loopback by default and refuse calls without the service token (health open);
- expression injection (n8n CVE-2025-68613 style) is refused at validation and never evaluated;
- every run control is audited exactly once with actor, action, target and outcome;
- peer CVEs: viewers cannot read admin data (Airflow CVE-2026-34538), fake/expired/revoked tokens get
  401 on archived workflows and every read (Argo CVE-2024-53862).
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
import websockets
from grpc_health.v1 import health_pb2, health_pb2_grpc
from vwmp_cli.up import Platform
from vwmp_common.states import RUN_END_EVENTS, TERMINAL_RUN_STATES
from vwmp_proto.engine.v1 import engine_pb2, engine_pb2_grpc
from vwmp_proto.plugin.v1 import plugin_pb2, plugin_pb2_grpc
from vwmp_proto.storage.v1 import storage_pb2, storage_pb2_grpc
from websockets.exceptions import InvalidStatus

from .conftest import platform_env, running

pytestmark = pytest.mark.e2e

CANARY = f"canary-{uuid.uuid4().hex}"
SERVICE_TOKEN = f"svc-{uuid.uuid4().hex}"
GRPC_PORTS = ("VWMP_STORAGE_PORT", "VWMP_ENGINE_PORT", "VWMP_PLUGIN_HOST_PORT")


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    env = platform_env(tmp_path_factory.mktemp("security"), VWMP_SECRET_CANARY=CANARY,
                       VWMP_SERVICE_TOKEN=SERVICE_TOKEN)
    assert "VWMP_GRPC_HOST" not in env  # the default bind address is under test
    with running(Platform(env=env)) as platform:
        yield platform



async def _token(api: httpx.AsyncClient, role: str, **extra: Any) -> tuple[str, str, str]:
    name = f"{role}-{uuid.uuid4().hex[:6]}"
    created = await api.post("/tokens", json={"name": name, "role": role, **extra})
    assert created.status_code == 201, created.text
    return name, created.json()["id"], created.json()["token"]


async def _apply(api: httpx.AsyncClient, name: str, steps: list[dict[str, Any]], **spec: Any) -> None:
    definition = {"apiVersion": "vwmp/v1", "kind": "Workflow", "metadata": {"name": name},
                  "spec": {"steps": steps, **spec}}
    created = await api.post("/workflows", json=definition)
    assert created.status_code == 201, created.text


async def _start(api: httpx.AsyncClient, name: str, parameters: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None) -> str:
    started = await api.post(f"/workflows/{name}/runs", json={"parameters": parameters or {}}, headers=headers)
    assert started.status_code == 201, started.text
    return str(started.json()["id"])


async def _wait(api: httpx.AsyncClient, run_id: str, done: Any, timeout: float = 60) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while not done(run := (await api.get(f"/runs/{run_id}")).json()):
            await asyncio.sleep(0.1)
    return run


def _finished(run: dict[str, Any]) -> bool:
    return run["state"] in TERMINAL_RUN_STATES


def _step_in(step_id: str, state: str) -> Any:
    return lambda run: any(s["id"] == step_id and s["state"] == state for s in run["steps"])


# --- the secrets canary --------------------------------------------------------------------------

CANARY_STEPS = [
    {"id": "show", "uses": "testkit/echo", "with": {"value": "password=${{ secrets.CANARY }}"}},
    {"id": "again", "uses": "testkit/echo", "needs": ["show"],
     "with": {"value": "got ${{ steps.show.outputs.value }} / ${{ params.note }}"}},
    {"id": "leak-error", "uses": "testkit/fail", "needs": ["show"], "optional": True,
     "with": {"message": "could not log in with ${{ secrets.CANARY }}"}},
    {"id": "gated", "uses": "testkit/echo", "needs": ["again"], "if": "${{ secrets.CANARY != '' }}",
     "with": {"value": "${{ secrets.CANARY }}"}},
]


async def _collect(ws_url: str, token: str, until: Any, timeout: float = 60) -> list[str]:
    messages: list[str] = []
    async with websockets.connect(ws_url, subprotocols=["vwmp.v1", f"bearer.{token}"]) as socket:
        async with asyncio.timeout(timeout):
            while True:
                message = await socket.recv()
                messages.append(str(message))
                if until(json.loads(message)):
                    return messages


async def test_a_secret_canary_appears_nowhere_a_user_or_operator_can_see_it(
    platform: Platform, api: httpx.AsyncClient, token: str
) -> None:
    name = f"canary-{uuid.uuid4().hex[:8]}"
    await _apply(api, name, CANARY_STEPS,
                 parameters={"type": "object", "properties": {"note": {"type": "string"}}})
    ws_base = platform.url.replace("http", "ws") + "/api/v1"
    run_holder: dict[str, str] = {}
    all_runs = asyncio.create_task(_collect(
        f"{ws_base}/stream", token, lambda e: e["type"] in RUN_END_EVENTS and
        e["run_id"] == run_holder.get("id")))
    await asyncio.sleep(0.5)  # the all-runs socket is open before the run starts
    # A parameter that *looks* like a secret reference is data: it is never evaluated (second order).
    run_holder["id"] = run_id = await _start(api, name, {"note": "${{ secrets.CANARY }}"})
    run = await _wait(api, run_id, _finished)
    run_messages = await _collect(f"{ws_base}/runs/{run_id}/stream?after=0", token,
                                  lambda e: e["type"] in RUN_END_EVENTS)
    all_messages = await all_runs

    steps = {s["id"]: s for s in run["steps"]}
    assert run["state"] == "succeeded_with_warnings", json.dumps(run, indent=1)
    assert steps["show"]["outputs"] == {"value": "password=***"}  # the secret was resolved, then masked
    assert steps["again"]["outputs"] == {"value": "got password=*** / ${{ secrets.CANARY }}"}
    assert steps["leak-error"]["state"] == "failed" and "***" in json.dumps(steps["leak-error"]["error"])
    assert steps["gated"]["state"] == "succeeded"  # the condition saw the real value

    seen: dict[str, str] = {
        "run": json.dumps(run),
        "runs": (await api.get("/runs", params={"workflow": name})).text,
        "events": (await api.get(f"/runs/{run_id}/events")).text,
        "run websocket": "\n".join(run_messages),
        "all-runs websocket": "\n".join(all_messages),
        "workflow": (await api.get(f"/workflows/{name}")).text,
        "audit": (await api.get("/audit", params={"limit": 1000})).text,
    }
    for step in steps:
        seen[f"logs of {step}"] = (await api.get(f"/runs/{run_id}/steps/{step}/logs")).text
    assert "password=***" in seen["logs of show"]
    assert run_id in seen["all-runs websocket"]
    await asyncio.sleep(1)  # let the services flush their log files
    for path in sorted(p for p in platform.data_dir.rglob("*") if p.is_file()):
        seen[str(path.relative_to(platform.data_dir))] = path.read_bytes().decode("utf-8", "replace")
    assert any(key.startswith("logs/") for key in seen)
    leaks = [where for where, text in seen.items() if CANARY in text or SERVICE_TOKEN in text]
    assert not leaks, f"the canary or the service token leaked into: {leaks}"


FAULT_STEPS = [
    {"id": "sleep", "uses": "core/sleep", "with": {"seconds": "${{ secrets.CANARY }}"}},
    {"id": "gate", "uses": "core/approval", "with": {"timeout": "${{ secrets.CANARY }}"}},
    {"id": "sdk-config", "uses": "testkit/slow", "with": {"seconds": "${{ secrets.CANARY }}"}},
    {"id": "sdk-raise", "uses": "testkit/misbehave", "retry": {"max_attempts": 1},
     "with": {"how": "raise", "value": "${{ secrets.CANARY }}"}},
    {"id": "sdk-outputs", "uses": "testkit/misbehave", "retry": {"max_attempts": 1},
     "with": {"how": "bad-outputs", "value": "${{ secrets.CANARY }}"}},
]


async def test_a_secret_canary_in_failing_step_configs_ends_the_run_and_leaks_into_no_file(
    platform: Platform, api: httpx.AsyncClient
) -> None:
    name = f"faults-{uuid.uuid4().hex[:8]}"
    await _apply(api, name, FAULT_STEPS)
    run_id = await _start(api, name)
    run = await _wait(api, run_id, _finished, timeout=30)
    steps = {s["id"]: s for s in run["steps"]}
    assert run["state"] == "failed"
    assert {step_id: (s["state"], s["attempt"]) for step_id, s in steps.items()} == {
        step["id"]: ("failed", 1) for step in FAULT_STEPS}
    seen = {"run": json.dumps(run), "events": (await api.get(f"/runs/{run_id}/events")).text}
    await asyncio.sleep(1)  # let the services flush their log files
    for path in sorted(p for p in platform.data_dir.rglob("*") if p.is_file()):
        seen[str(path.relative_to(platform.data_dir))] = path.read_bytes().decode("utf-8", "replace")
    assert "logs/engine.log" in seen
    leaks = [where for where, text in seen.items() if CANARY in text]
    assert not leaks, f"the canary leaked into: {leaks}"


# --- between services -----------------------------------------------------------------------------


def _listening(port: int) -> set[str]:
    """Local addresses of the LISTEN sockets on `port`, from /proc/net/tcp and tcp6."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, port_hex = local.split(":")
            if state == "0A" and int(port_hex, 16) == port:
                found.add(address)
    return found


# 127.0.0.1 as /proc shows it: plain IPv4, or IPv4-mapped on an IPv6 socket (gRPC's choice); ::1.
LOOPBACK = {"0100007F", "0000000000000000FFFF00000100007F", "00000000000000000000000001000000"}


def test_grpc_servers_listen_on_loopback_only_by_default(platform: Platform) -> None:
    for variable in GRPC_PORTS:
        port = int(platform.env[variable])
        addresses = _listening(port)
        # A wildcard bind would show 00000000 or the IPv6 any address (all zeros).
        assert addresses and addresses <= LOOPBACK, f"{variable}={port} listens on {addresses}"


async def test_every_grpc_server_refuses_calls_without_the_service_token(platform: Platform) -> None:
    calls = {
        "VWMP_STORAGE_PORT": lambda ch, md: storage_pb2_grpc.StorageServiceStub(ch).ListWorkflows(
            storage_pb2.ListWorkflowsRequest(), timeout=5, metadata=md),
        "VWMP_ENGINE_PORT": lambda ch, md: engine_pb2_grpc.EngineServiceStub(ch).ListStepTypes(
            engine_pb2.ListStepTypesRequest(), timeout=5, metadata=md),
        "VWMP_PLUGIN_HOST_PORT": lambda ch, md: plugin_pb2_grpc.PluginServiceStub(ch).Describe(
            plugin_pb2.DescribeRequest(), timeout=5, metadata=md),
    }
    for variable, call in calls.items():
        async with grpc.aio.insecure_channel(f"127.0.0.1:{platform.env[variable]}") as channel:
            for metadata in ((), (("authorization", "Bearer not-the-token"),)):
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await call(channel, metadata)
                assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED, variable
            # Plugin hosts hold a token of their own, never the service token that opens storage.
            token = platform.env["VWMP_PLUGIN_HOST_TOKEN"] if variable == "VWMP_PLUGIN_HOST_PORT" else SERVICE_TOKEN
            if variable == "VWMP_PLUGIN_HOST_PORT":
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await call(channel, (("authorization", f"Bearer {SERVICE_TOKEN}"),))
                assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
            await call(channel, (("authorization", f"Bearer {token}"),))
            health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert health.status == health_pb2.HealthCheckResponse.SERVING


# --- expression injection ---------------------------------------------------------------------------

INJECTIONS = [
    "${{ constructor.constructor('return process')() }}",
    "${{ __import__('os').system('touch /tmp/pwned') }}",
    "${{ 7*7 }}",
    "${{ params.__class__.__mro__ }}",
    "${{ ''.join(['a']) }}",
    "${{ steps['x'].outputs }}",
    "${{ secrets }}",
    "${{ params.who }}${{ }}",
]


@pytest.mark.parametrize("payload", INJECTIONS)
async def test_expression_injection_is_refused_at_validation_with_a_pointer(
    api: httpx.AsyncClient, payload: str
) -> None:
    definition = {"apiVersion": "vwmp/v1", "kind": "Workflow", "metadata": {"name": "inject"},
                  "spec": {"parameters": {"type": "object", "properties": {"who": {"type": "string"}}},
                           "steps": [{"id": "a", "uses": "testkit/echo", "with": {"value": payload}},
                                     {"id": "b", "uses": "core/noop", "if": payload}]}}
    validated = await api.post("/workflows/validate", json=definition)
    assert validated.status_code == 200, validated.text
    body = validated.json()
    assert body["valid"] is False
    pointers = {e["pointer"] for e in body["errors"]}
    assert {"/spec/steps/0/with/value", "/spec/steps/1/if"} <= pointers, body
    created = await api.post("/workflows", json=definition)
    assert created.status_code == 422 and created.headers["content-type"] == "application/problem+json"


async def test_template_syntax_of_other_engines_is_plain_text_and_never_evaluated(
    api: httpx.AsyncClient, tmp_path: Path
) -> None:
    name = f"literal-{uuid.uuid4().hex[:8]}"
    texts = ["{{ 7*7 }}", "{{ constructor.constructor('return process')() }}", "#{7*7}", "<%= 7*7 %>", "$((7*7))"]
    await _apply(api, name, [{"id": f"s{i}", "uses": "testkit/echo", "with": {"value": text}}
                             for i, text in enumerate(texts)])
    run = await _wait(api, await _start(api, name), _finished)
    assert run["state"] == "succeeded", run
    assert [s["outputs"]["value"] for s in sorted(run["steps"], key=lambda s: s["id"])] == texts
    assert all(s["outputs"]["value"] != "49" for s in run["steps"])
    assert not Path("/tmp/pwned").exists()


# --- audit of every run control ---------------------------------------------------------------------


async def test_every_run_control_is_audited_exactly_once_on_the_real_platform(api: httpx.AsyncClient) -> None:
    operator, _, secret = await _token(api, "operator")
    as_operator = {"Authorization": f"Bearer {secret}"}
    slow, gate, failing = (f"{kind}-{uuid.uuid4().hex[:6]}" for kind in ("slow", "gate", "failing"))
    await _apply(api, slow, [{"id": "nap", "uses": "core/sleep", "with": {"seconds": 30}},
                             {"id": "after", "uses": "core/noop", "needs": ["nap"]}])
    # this test is about the audit trail: one operator starts and decides, so the gate allows it
    await _apply(api, gate, [{"id": "approve", "uses": "core/approval",
                              "with": {"allow_self_approval": True, "pin_plan": False}}])
    await _apply(api, failing, [{"id": "boom", "uses": "testkit/fail", "with": {"message": "no"}}])

    controls: list[tuple[str, str, str]] = []  # (action, target, path)
    slow_run = await _start(api, slow, headers=as_operator)
    await _wait(api, slow_run, _step_in("nap", "running"))
    for verb in ("pause", "resume", "cancel"):
        response = await api.post(f"/runs/{slow_run}/{verb}", headers=as_operator)
        assert response.status_code == 200, (verb, response.text)
        controls.append((f"run.{verb}", f"runs/{slow_run}", verb))
    failed_run = await _start(api, failing, headers=as_operator)
    await _wait(api, failed_run, _finished)
    assert (await api.post(f"/runs/{failed_run}/retry", headers=as_operator)).status_code == 200
    controls.append(("run.retry", f"runs/{failed_run}", "retry"))
    for decision in ("approve", "reject"):
        run_id = await _start(api, gate, headers=as_operator)
        await _wait(api, run_id, _step_in("approve", "awaiting_approval"))
        response = await api.post(f"/runs/{run_id}/steps/approve/{decision}", json={"comment": "checked"},
                                  headers=as_operator)
        assert response.status_code == 200, response.text
        controls.append((f"step.{decision}", f"runs/{run_id}/steps/approve", decision))
        await _wait(api, run_id, _finished)

    entries = (await api.get("/audit", params={"limit": 1000})).json()["items"]
    for action, target, verb in controls:
        matching = [e for e in entries if e["action"] == action and e["target"] == target]
        assert len(matching) == 1, (verb, target, matching)
        assert (matching[0]["actor"], matching[0]["outcome"]) == (operator, "ok")
        assert re.match(r"\d{4}-\d\d-\d\dT", matching[0]["at"])
    started = [e for e in entries if e["action"] == "run.start" and e["actor"] == operator]
    assert len(started) == 4


# --- peer CVEs ------------------------------------------------------------------------------------------

ADMIN_READS = ["/tokens", "/audit"]


async def test_cve_2026_34538_viewers_and_other_non_admins_cannot_read_admin_data(
    platform: Platform, api: httpx.AsyncClient
) -> None:
    await api.put("/config", json={"document": {"git": {"author_name": "Release Bot"}}})
    for role in ("viewer", "editor", "operator"):
        _, _, secret = await _token(api, role)
        async with httpx.AsyncClient(base_url=f"{platform.url}/api/v1",
                                     headers={"Authorization": f"Bearer {secret}"}) as client:
            for path in ADMIN_READS:
                response = await client.get(path, params={"limit": 1000})
                assert response.status_code == 403, (role, path, response.text)
                assert response.headers["content-type"] == "application/problem+json"
                assert "token.create" not in response.text and "config.update" not in response.text
            config = (await client.get("/config")).json()  # defaults are readable, who changed them is not
            assert "token" not in json.dumps(config).lower() or "token" not in config
            assert (await client.put("/config", json={"document": {}})).status_code == 403
            assert (await client.post("/tokens", json={"name": "x", "role": "admin"})).status_code == 403
    entries = (await api.get("/audit", params={"limit": 1000})).json()["items"]
    assert {("token.list", "denied"), ("audit.list", "denied")} <= {(e["action"], e["outcome"]) for e in entries}


async def test_cve_2024_53862_fake_expired_and_revoked_tokens_get_401_on_archived_workflows(
    platform: Platform, api: httpx.AsyncClient
) -> None:
    name = f"archived-{uuid.uuid4().hex[:8]}"
    await _apply(api, name, [{"id": "a", "uses": "core/noop"}])
    run_id = await _start(api, name)
    await _wait(api, run_id, _finished)
    assert (await api.delete(f"/workflows/{name}")).status_code == 204
    _, revoked_id, revoked = await _token(api, "admin")
    assert (await api.delete(f"/tokens/{revoked_id}")).status_code == 204
    _, _, expiring = await _token(api, "admin", expires_in=1)
    await asyncio.sleep(1.5)
    real_prefix = (await _token(api, "viewer"))[2]
    bad = {
        "none": None, "garbage": "garbage", "empty": "", "fake": "vwmp_" + "A" * 40,
        "truncated": real_prefix[:-1], "revoked": revoked, "expired": expiring,
        "service token": SERVICE_TOKEN, "unicode": "t\u00f6ken",
    }
    reads = [f"/workflows/{name}", f"/workflows/{name}/versions", f"/workflows/{name}/versions/1",
             "/workflows", "/runs", f"/runs/{run_id}", f"/runs/{run_id}/events", f"/runs/{run_id}/steps/a/logs",
             "/step-types", "/templates", "/config", "/tokens", "/audit", "/schemas/workflow"]
    async with httpx.AsyncClient(base_url=f"{platform.url}/api/v1") as anonymous:
        for label, token in bad.items():
            headers = {} if token is None else {"Authorization": f"Bearer {token}".strip().encode("latin-1")}
            for path in reads:
                response = await anonymous.get(path, headers=headers)
                assert response.status_code == 401, (label, path, response.status_code)
                assert name not in response.text
            ws_url = platform.url.replace("http", "ws") + f"/api/v1/runs/{run_id}/stream"
            protocols = ["vwmp.v1", f"bearer.{token}"] if token and token.isascii() else None
            with pytest.raises(InvalidStatus) as refused:
                async with websockets.connect(ws_url, subprotocols=protocols):
                    pass
            assert refused.value.response.status_code == 401, label
