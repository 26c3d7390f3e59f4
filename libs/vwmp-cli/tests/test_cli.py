"""The `vwmp` command against a real gateway: apply, validate, run (--watch), runs, tokens, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import yaml
from typer.testing import CliRunner
from vwmp_cli.main import app
from vwmp_common.ports import free_port
from vwmp_testkit.platform import definition

runner = CliRunner()


def invoke(env: dict[str, str], *args: str) -> Any:
    return runner.invoke(app, list(args), env=env)


def write(tmp_path: Path, document: dict[str, Any], suffix: str = ".yaml") -> Path:
    path = tmp_path / f"wf{suffix}"
    path.write_text(json.dumps(document) if suffix == ".json" else yaml.safe_dump(document))
    return path


def applied(env: dict[str, str], tmp_path: Path) -> str:
    name = f"wf-{uuid.uuid4().hex[:10]}"
    result = invoke(env, "apply", "-f", str(write(tmp_path, definition(name))))
    assert result.exit_code == 0, result.output
    return name


def test_apply_creates_then_saves_a_new_version(env, tmp_path) -> None:
    name = f"wf-{uuid.uuid4().hex[:10]}"
    path = write(tmp_path, definition(name))
    first = invoke(env, "apply", "-f", str(path))
    assert first.exit_code == 0, first.output
    assert f"created {name} version 1" in first.output
    second = invoke(env, "apply", "-f", str(path))
    assert second.exit_code == 0 and "version 2" in second.output


def test_apply_json_file(env, tmp_path) -> None:
    name = f"wf-{uuid.uuid4().hex[:10]}"
    result = invoke(env, "apply", "-f", str(write(tmp_path, definition(name), ".json")))
    assert result.exit_code == 0, result.output


def test_invalid_definition_is_one_clear_line_and_exit_1(env, tmp_path) -> None:
    bad = definition(f"wf-{uuid.uuid4().hex[:10]}")
    bad["spec"]["steps"][1]["needs"] = ["ghost"]
    result = invoke(env, "apply", "-f", str(write(tmp_path, bad)))
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: 422")
    assert "/spec/steps/1/needs/0: needs unknown step 'ghost'" in lines[0]


def test_validate_lists_pointers(env, tmp_path) -> None:
    good = invoke(env, "validate", "-f", str(write(tmp_path, definition("ok"))))
    assert good.exit_code == 0 and "is valid" in good.output
    bad = definition("ok")
    bad["spec"]["steps"][0]["uses"] = "BAD"
    result = invoke(env, "validate", "-f", str(write(tmp_path, bad)))
    assert result.exit_code == 1
    assert "/spec/steps/0/uses:" in result.output


def test_bad_yaml_file_is_a_clear_error(env, tmp_path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("a: [1, 2\n")
    result = invoke(env, "apply", "-f", str(path))
    assert result.exit_code == 1 and "error:" in result.output and "Traceback" not in result.output


def test_unreachable_gateway_and_bad_token(env, tmp_path) -> None:
    down = invoke({**env, "VWMP_URL": "http://127.0.0.1:9"}, "runs")
    assert down.exit_code == 1 and "cannot reach the gateway" in down.output
    denied = invoke({**env, "VWMP_TOKEN": "nope"}, "runs")
    assert denied.exit_code == 1 and denied.output.startswith("error: 401")


def test_token_file_is_the_default(env, tmp_path, backend) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "admin-token").write_text(backend.tokens["viewer"] + "\n")
    result = runner.invoke(app, ["runs"], env={"VWMP_URL": env["VWMP_URL"], "VWMP_DATA_DIR": str(data),
                                               "VWMP_TOKEN": ""})
    assert result.exit_code == 0, result.output


def _wait_run(env: dict[str, str], run_id: str, done: Any, timeout: float = 15.0) -> dict[str, Any]:
    """Poll the gateway until `done(run)` (the engine works in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        run = httpx.get(f"{env['VWMP_URL']}/api/v1/runs/{run_id}",
                        headers={"Authorization": f"Bearer {env['VWMP_TOKEN']}"}).json()
        if done(run) or time.monotonic() > deadline:
            return run
        time.sleep(0.05)


def _step_state(run: dict[str, Any], step_id: str) -> str:
    return str(next(s["state"] for s in run["steps"] if s["id"] == step_id))


def test_run_runs_show_cancel(env, tmp_path) -> None:
    name = applied(env, tmp_path)
    dry = invoke(env, "run", name, "-p", "part=minor", "--dry-run")
    assert dry.exit_code == 0, dry.output
    dry_id = dry.output.split()[1]
    assert _wait_run(env, dry_id, lambda r: r["state"] == "succeeded")["state"] == "succeeded"  # gates pass
    shown = invoke(env, "runs", "show", dry_id)
    assert shown.exit_code == 0 and "dry run" in shown.output and "approve" in shown.output
    finished = invoke(env, "cancel", dry_id)
    assert finished.exit_code == 1 and finished.output.startswith("error: 409")

    started = invoke(env, "run", name, "-p", "part=minor")
    assert started.exit_code == 0, started.output
    run_id = started.output.split()[1]
    listed = invoke(env, "runs", "--workflow", name)
    assert listed.exit_code == 0 and run_id[:8] in listed.output and dry_id[:8] in listed.output
    assert invoke(env, "run-show", run_id).exit_code == 0
    _wait_run(env, run_id, lambda r: _step_state(r, "approve") == "awaiting_approval")
    cancelled = invoke(env, "cancel", run_id)
    assert cancelled.exit_code == 0 and "cancelled" in cancelled.output
    again = invoke(env, "cancel", run_id)
    assert again.exit_code == 1 and again.output.startswith("error: 409")


def test_bad_parameter_is_a_pointed_error(env, tmp_path) -> None:
    name = applied(env, tmp_path)
    result = invoke(env, "run", name, "-p", "part=huge")
    assert result.exit_code == 1 and "/parameters/part" in result.output
    malformed = invoke(env, "run", name, "-p", "nokey")
    assert malformed.exit_code == 1 and "key=value" in malformed.output


def _decide(env: dict[str, str], workflow: str, decision: str) -> None:
    """The approver: once the run waits at its gate, approve (the plan it shows) or reject it via the gateway."""
    auth = {"Authorization": f"Bearer {env['VWMP_TOKEN']}"}
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        page = httpx.get(f"{env['VWMP_URL']}/api/v1/runs", params={"workflow": workflow}, headers=auth).json()
        if page["items"] and _step_state(page["items"][0], "approve") == "awaiting_approval":
            run = page["items"][0]
            digest = next(s for s in run["steps"] if s["id"] == "approve")["outputs"]["plan_digest"]
            httpx.post(f"{env['VWMP_URL']}/api/v1/runs/{run['id']}/steps/approve/{decision}",
                       json={"plan_digest": digest} if decision == "approve" else {}, headers=auth)
            return
        time.sleep(0.1)


def _watch(env: dict[str, str], approver_env: dict[str, str], tmp_path: Path, decision: str) -> Any:
    name = applied(env, tmp_path)
    approver = threading.Thread(target=_decide, args=(approver_env, name, decision))
    approver.start()
    try:
        return invoke(env, "run", name, "-p", "part=patch", "--watch")
    finally:
        approver.join(timeout=30)


def test_watch_shows_steps_and_exits_0_on_success(env, approver_env, tmp_path) -> None:
    result = _watch(env, approver_env, tmp_path, "approve")
    assert result.exit_code == 0, result.output
    assert "build" in result.output and "approve" in result.output
    run_id = result.output.split()[1]
    assert f"step approve awaits approval; a permitted approver runs: vwmp approve {run_id} approve" in result.output
    assert result.output.rstrip().endswith("succeeded")


def test_watch_exits_1_when_the_run_fails(env, approver_env, tmp_path) -> None:
    result = _watch(env, approver_env, tmp_path, "reject")
    assert result.exit_code == 1, result.output
    assert "failed" in result.output


def test_approve_and_reject(env, approver_env, tmp_path) -> None:
    name = f"wf-{uuid.uuid4().hex[:10]}"
    slow = definition(name, [{"id": "build", "uses": "core/sleep", "with": {"seconds": 2}},
                             {"id": "approve", "uses": "core/approval", "needs": ["build"]}])
    assert invoke(env, "apply", "-f", str(write(tmp_path, slow))).exit_code == 0
    run_id = invoke(env, "run", name, "-p", "part=patch").output.split()[1]
    _wait_run(env, run_id, lambda r: _step_state(r, "build") == "running")
    early = invoke(approver_env, "approve", run_id, "approve")
    assert early.exit_code == 1 and "error: 409" in early.output
    _wait_run(env, run_id, lambda r: _step_state(r, "approve") == "awaiting_approval")
    own = invoke(env, "approve", run_id, "approve")  # admin-bot started the run
    assert own.exit_code == 1 and "error: 403" in own.output and "started this run" in own.output
    ok = invoke(approver_env, "approve", run_id, "approve", "--comment", "ship it")
    assert ok.exit_code == 0, ok.output
    digest = _wait_run(env, run_id, lambda r: True)["steps"][1]["outputs"].get("plan_digest", "")
    assert "plan of the steps after the gate (0 items)" in ok.output and f"plan digest: {digest}" in ok.output
    done = _wait_run(env, run_id, lambda r: r["state"] == "succeeded")
    outputs = next(s["outputs"] for s in done["steps"] if s["id"] == "approve")
    assert (outputs["approved_by"], outputs["comment"]) == ("approver-bot", "ship it")
    assert invoke(approver_env, "reject", run_id, "approve").exit_code == 1


def test_approve_sends_the_inputs_the_gate_asks_for(env, approver_env, tmp_path) -> None:
    name = f"wf-{uuid.uuid4().hex[:10]}"
    gate = definition(name, [{"id": "approve", "uses": "core/approval", "with": {"inputs": {
        "type": "object", "required": ["ticket"], "properties": {"ticket": {"type": "string"},
                                                                 "count": {"type": "integer"}}}}}])
    assert invoke(env, "apply", "-f", str(write(tmp_path, gate))).exit_code == 0
    run_id = invoke(env, "run", name, "-p", "part=patch").output.split()[1]
    _wait_run(env, run_id, lambda r: _step_state(r, "approve") == "awaiting_approval")
    wrong = invoke(approver_env, "approve", run_id, "approve", "-i", "count=many")
    assert wrong.exit_code == 1 and "/inputs/count" in wrong.output and "/inputs/ticket" in wrong.output
    ok = invoke(approver_env, "approve", run_id, "approve", "-i", "ticket=REL-9", "-i", "count=2")
    assert ok.exit_code == 0, ok.output
    done = _wait_run(env, run_id, lambda r: r["state"] == "succeeded")
    assert done["steps"][0]["outputs"]["inputs"] == {"ticket": "REL-9", "count": 2}


def test_tokens_create_list_revoke(env) -> None:
    created = invoke(env, "token", "create", "--role", "viewer", "--name", "ci-bot", "--expires-in", "1d")
    assert created.exit_code == 0, created.output
    secret = created.output.strip().splitlines()[-1]
    token_id = created.output.split()[1]
    assert secret.startswith("vwmp_")
    listed = invoke(env, "token", "list")
    assert listed.exit_code == 0 and "ci-bot" in listed.output and secret not in listed.output
    assert invoke({**env, "VWMP_TOKEN": secret}, "runs").exit_code == 0
    revoked = invoke(env, "token", "revoke", token_id)
    assert revoked.exit_code == 0, revoked.output
    assert invoke({**env, "VWMP_TOKEN": secret}, "runs").exit_code == 1
    bad = invoke(env, "token", "create", "--role", "root", "--name", "x")
    assert bad.exit_code == 1 and "/body/role" in bad.output


def test_runs_shows_the_concurrency_key_and_what_a_waiting_run_waits_for(env, tmp_path) -> None:
    name = f"wf-{uuid.uuid4().hex[:10]}"
    document = definition(name)
    document["spec"]["concurrency"] = {"key": "k-${{ params.part }}"}
    assert invoke(env, "apply", "-f", str(write(tmp_path, document))).exit_code == 0
    holder = invoke(env, "run", name, "-p", "part=minor").output.split()[1]
    waiter = invoke(env, "run", name, "-p", "part=minor").output.split()[1]
    _wait_run(env, holder, lambda r: _step_state(r, "approve") == "awaiting_approval")
    wide = {**env, "COLUMNS": "250"}
    listed = runner.invoke(app, ["runs", "--workflow", name], env=wide)
    assert listed.exit_code == 0, listed.output
    assert f"k-minor #1 behind {holder[:8]}" in listed.output
    shown = runner.invoke(app, ["runs", "show", waiter], env=wide)
    assert "concurrency: k-minor (limit 1, queue) · waiting, position 1, blocked by " + holder in shown.output
    held = runner.invoke(app, ["runs", "show", holder], env=wide)
    assert "holds a slot" in held.output  # waiting at its approval, it keeps its slot
    for run_id in (waiter, holder):
        assert invoke(env, "cancel", run_id).exit_code == 0


def test_watch_shows_a_fan_out_as_one_progress_row_and_prints_the_outputs(env, tmp_path) -> None:
    # Needs the engine's for_each and outputs (issue 12); tests/test_watch.py plays the same events offline.
    name = f"wf-{uuid.uuid4().hex[:10]}"
    document = definition(name, [{"id": "greet", "uses": "core/noop", "for_each": [f"n{i}" for i in range(30)],
                                  "max_parallel": 5}])
    document["spec"]["parameters"] = {"type": "object", "properties": {}}
    document["spec"]["outputs"] = {"count": "${{ length(steps.greet.outputs) }}"}
    assert invoke(env, "apply", "-f", str(write(tmp_path, document))).exit_code == 0
    result = invoke(env, "run", name, "--watch")
    assert result.exit_code == 0, result.output
    assert "greet 30/30" in result.output
    assert "greet[" not in result.output
    assert "outputs:\n  count: 30" in result.output
    assert result.output.rstrip().endswith("succeeded")


class LosesTheFirstAnswer:
    """A TCP proxy to the gateway that delivers the first request but drops the connection before the answer."""

    def __init__(self, upstream: str) -> None:
        import socket

        host, port = upstream.removeprefix("http://").split(":")
        self.upstream = (host, int(port))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        import socket

        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            server = socket.create_connection(self.upstream)
            if self.connections == 1:
                threading.Thread(target=self._lose_answer, args=(client, server), daemon=True).start()
            else:
                for source, target in ((client, server), (server, client)):
                    threading.Thread(target=self._pipe, args=(source, target), daemon=True).start()

    @staticmethod
    def _lose_answer(client: Any, server: Any) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            request += client.recv(65536)
        head, _, body = request.partition(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length"))
        while len(body) < length:
            body += client.recv(65536)
        server.sendall(head + b"\r\n\r\n" + body)
        server.recv(65536)  # the gateway answered: the run exists, the client never hears of it
        server.close()
        client.close()

    @staticmethod
    def _pipe(source: Any, target: Any) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            target.close()

    def close(self) -> None:
        self.listener.close()


def test_run_retries_a_lost_answer_once_with_the_same_key_and_gets_one_run(env, tmp_path) -> None:
    name = applied(env, tmp_path)
    proxy = LosesTheFirstAnswer(env["VWMP_URL"])
    try:
        started = invoke({**env, "VWMP_URL": proxy.url}, "run", name, "-p", "part=minor")
    finally:
        proxy.close()
    assert started.exit_code == 0, started.output
    assert proxy.connections == 2
    listed = httpx.get(f"{env['VWMP_URL']}/api/v1/runs", params={"workflow": name},
                       headers={"Authorization": f"Bearer {env['VWMP_TOKEN']}"}).json()
    assert [run["id"] for run in listed["items"]] == [started.output.split()[1]]


def test_the_cli_finds_the_platform_by_its_http_port_or_the_url_file_make_run_writes(env, tmp_path) -> None:
    port = env["VWMP_URL"].rsplit(":", 1)[1]
    by_port = invoke({"VWMP_HTTP_PORT": port, "VWMP_TOKEN": env["VWMP_TOKEN"], "VWMP_URL": ""}, "runs")
    assert by_port.exit_code == 0, by_port.output
    assert "runs (" in by_port.output
    data = tmp_path / "data"
    data.mkdir()
    (data / "gateway-url").write_text(env["VWMP_URL"] + "\n")
    by_file = invoke({"VWMP_DATA_DIR": str(data), "VWMP_TOKEN": env["VWMP_TOKEN"], "VWMP_URL": "",
                      "VWMP_HTTP_PORT": ""}, "runs")
    assert by_file.exit_code == 0, by_file.output
    nowhere = invoke({"VWMP_DATA_DIR": str(tmp_path / "none"), "VWMP_URL": "", "VWMP_HTTP_PORT": "1"}, "runs")
    assert nowhere.exit_code == 1 and "cannot reach the gateway at http://127.0.0.1:1" in nowhere.output


def test_runs_show_prints_multi_line_outputs_as_text_after_the_table(env, tmp_path) -> None:
    name = f"wf-{uuid.uuid4().hex[:10]}"
    text = "--- a/CHANGELOG.md\n+++ b/CHANGELOG.md\n+## 1.2.0"
    echo = definition(name, [{"id": "diff", "uses": "testkit/echo", "with": {"value": text}}])
    assert invoke(env, "apply", "-f", str(write(tmp_path, echo))).exit_code == 0
    run_id = invoke(env, "run", name, "-p", "part=patch").output.split()[1]
    _wait_run(env, run_id, lambda r: r["state"] == "succeeded")
    shown = invoke(env, "runs", "show", run_id)
    assert shown.exit_code == 0, shown.output
    assert "\\n" not in shown.output, "a diff is shown as text, not as escaped JSON"
    assert "diff · outputs.value:\n--- a/CHANGELOG.md\n+++ b/CHANGELOG.md\n+## 1.2.0" in shown.output


def _plugins_output(env: dict[str, str], until: Any, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        result = invoke({**env, "COLUMNS": "250"}, "plugins")
        assert result.exit_code == 0, result.output
        if until(result.output) or time.monotonic() > deadline:
            return result.output
        time.sleep(0.2)


def test_plugins_lists_the_hosts_the_platform_sees_until_one_stops(env, backend, tmp_path) -> None:
    host_id = f"cli-hello-{uuid.uuid4().hex[:6]}"
    host = subprocess.Popen(
        [sys.executable, "-m", "vwmp_plugin_host"],
        env={**os.environ, "VWMP_NATS_URL": backend.nats_url, "VWMP_PLUGINS": "hello", "VWMP_PLUGIN_HOST_ID": host_id,
             "VWMP_PLUGIN_HOST_PORT": str(free_port()), "VWMP_WORKSPACE_ROOT": str(tmp_path),
             "VWMP_METRICS_PORT": "0"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        shown = _plugins_output(env, lambda text: host_id in text)
        assert host_id in shown and "hello/greet" in shown, shown
        assert "testkit/echo" in shown  # the platform's own host
    finally:
        host.terminate()
        host.wait(10)
    gone = _plugins_output(env, lambda text: host_id not in text)
    assert host_id not in gone and "testkit/echo" in gone, gone


def test_runs_searches_by_parameter_value_and_actor(env, tmp_path) -> None:
    name = applied(env, tmp_path)
    started = [invoke(env, "run", name, "-p", f"part={part}") for part in ("minor", "patch")]
    assert all(result.exit_code == 0 for result in started), [r.output for r in started]
    wide = {**env, "COLUMNS": "250"}
    found = invoke(wide, "runs", "--workflow", name, "--param", "part=patch")
    assert found.exit_code == 0 and "runs (1 of 1)" in found.output, found.output
    assert invoke(wide, "runs", "--workflow", name, "--actor", "admin-bot").output.count(name) == 2
    assert invoke(wide, "runs", "--workflow", name, "--actor", "nobody").output.count(name) == 0
    assert invoke(wide, "runs", "--workflow", name, "--since", "2000-01-01").output.count(name) == 2
    assert invoke(wide, "runs", "--workflow", name, "--until", "2000-01-01T12:00").output.count(name) == 0
    assert "expected an ISO 8601" in invoke(wide, "runs", "--since", "yesterday").output
    bad = invoke(wide, "runs", "--param", "part")
    assert bad.exit_code != 0 and "expected name=value" in bad.output
