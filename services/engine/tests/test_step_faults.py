"""Faults inside a step: a config the step cannot use, a handler that raises or returns garbage.

Whatever goes wrong, the step fails once (a config error is never retried), the run ends, and a
secret routed through the failure appears in no message, event, log line or file.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import pytest
from vwmp_common.logging import JsonFormatter
from vwmp_proto.storage.v1 import storage_pb2

from .conftest import Replica, Services

SECRET = "${{ secrets.FAULT_CANARY }}"
NO_RETRY = {"max_attempts": 1}

# Every error path of every built-in step and of the SDK, each with the canary in its way.
FAULTY_STEPS: list[dict[str, Any]] = [
    {"id": "sleep-secret", "uses": "core/sleep", "with": {"seconds": SECRET}},
    {"id": "sleep-param", "uses": "core/sleep", "with": {"seconds": "${{ params.nap }}"}},
    {"id": "sleep-negative", "uses": "core/sleep", "with": {"seconds": "${{ params.minus }}"}},
    {"id": "noop-default", "uses": "core/noop"},  # the platform's step_defaults give it a field it lacks
    {"id": "gate-timeout", "uses": "core/approval", "with": {"timeout": SECRET}},
    {"id": "gate-required", "uses": "core/approval", "with": {"required": SECRET}},
    {"id": "gate-message", "uses": "core/approval", "with": {"message": "${{ params.long }}" + SECRET}},
    {"id": "sdk-config", "uses": "testkit/slow", "with": {"seconds": SECRET}},
    {"id": "sdk-config-error", "uses": "testkit/fail", "with": {"kind": "config", "message": SECRET}},
    {"id": "sdk-denied", "uses": "testkit/fail", "with": {"kind": "denied", "message": "no " + SECRET}},
    {"id": "sdk-error", "uses": "testkit/fail", "retry": NO_RETRY, "with": {"message": "bad " + SECRET}},
    {"id": "sdk-raise", "uses": "testkit/misbehave", "retry": NO_RETRY, "with": {"how": "raise", "value": SECRET}},
    {"id": "sdk-outputs", "uses": "testkit/misbehave", "retry": NO_RETRY,
     "with": {"how": "outputs", "value": SECRET}},
    {"id": "sdk-bad-outputs", "uses": "testkit/misbehave", "retry": NO_RETRY,
     "with": {"how": "bad-outputs", "value": SECRET}},
    {"id": "sdk-not-json", "uses": "testkit/misbehave", "retry": NO_RETRY,
     "with": {"how": "not-json", "value": SECRET}},
]
CONFIG_ERRORS = {"sleep-secret", "sleep-param", "sleep-negative", "noop-default", "gate-timeout", "gate-required",
                 "gate-message", "sdk-config", "sdk-config-error"}


@pytest.fixture
def canary(services: Services) -> str:
    value = f"canary-{uuid.uuid4().hex}"
    (services.secrets_dir / "FAULT_CANARY").write_text(value)
    return value


async def _put_config(engine: Replica, document: dict[str, Any]) -> None:
    await engine.storage.PutConfig(storage_pb2.PutConfigRequest(document_json=json.dumps(document), actor="admin"))
    engine.engine.store.forget_platform_config()


@pytest.mark.timeout(60)
async def test_a_canary_through_every_step_error_path_fails_each_step_once_and_leaks_nowhere(
    engine: Replica, services: Services, canary: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await _put_config(engine, {"step_defaults": {"core/noop": {"oops": SECRET}}})
    name = f"faults-{uuid.uuid4().hex[:8]}"
    definition = {"apiVersion": "vwmp/v1", "kind": "Workflow", "metadata": {"name": name}, "spec": {
        "parameters": {"type": "object", "properties": {
            "nap": {"type": "string"}, "minus": {"type": "number"}, "long": {"type": "string"}}},
        "steps": FAULTY_STEPS}}
    await engine.apply(definition)
    try:
        run_id = await engine.start(name, {"nap": "forty winks", "minus": -1, "long": "x" * 4000})
        run = await engine.wait(run_id, timeout=45)
    finally:
        await _put_config(engine, {})

    assert run.state == "failed"
    steps = {step.id: step for step in run.steps}
    events = await engine.events(run_id)
    kinds = {event.step_id: event.data.get("kind") for event in events if event.type == "step.failed"}
    for step_id, step in steps.items():
        assert step.state == "failed", (step_id, step.error)
    assert {step_id for step_id, kind in kinds.items() if kind == "config"} == CONFIG_ERRORS
    assert {step_id: steps[step_id].attempt for step_id in CONFIG_ERRORS} == dict.fromkeys(CONFIG_ERRORS, 1)
    starts = [event.step_id for event in events if event.type == "step.started"]
    assert sorted(starts) == sorted(steps), "a step was attempted more than once"
    assert "***" in steps["sdk-error"].error and "***" in steps["sdk-raise"].error

    formatter = JsonFormatter("engine")
    seen = {"run": str(run), "events": str(events), "engine log": "\n".join(map(formatter.format, caplog.records))}
    for step_id in steps:
        logs = await engine.storage.GetStepLogs(storage_pb2.GetStepLogsRequest(run_id=run_id, step_id=step_id))
        seen[f"logs of {step_id}"] = str(logs)
    for path in sorted(p for p in services.logs.rglob("*") if p.is_file() and p.parent != services.secrets_dir):
        seen[str(path.relative_to(services.logs))] = path.read_bytes().decode("utf-8", "replace")
    assert any(key.endswith("plugin-host.log") for key in seen)
    leaks = [where for where, text in seen.items() if canary in text]
    assert not leaks, f"the canary leaked into: {leaks}"


@pytest.mark.timeout(30)
async def test_a_string_where_a_number_belongs_fails_the_sleep_once_as_config(engine: Replica) -> None:
    name = f"nap-{uuid.uuid4().hex[:8]}"
    await engine.apply({"apiVersion": "vwmp/v1", "kind": "Workflow", "metadata": {"name": name}, "spec": {
        "parameters": {"type": "object", "properties": {"nap": {"type": "string"}}},
        "steps": [{"id": "nap", "uses": "core/sleep", "with": {"seconds": "${{ params.nap }}"}},
                  {"id": "after", "uses": "core/noop", "needs": ["nap"]}]}})
    run = await engine.wait(await engine.start(name, {"nap": "soon"}), timeout=20)
    assert run.state == "failed"
    nap = next(step for step in run.steps if step.id == "nap")
    assert (nap.state, nap.attempt) == ("failed", 1)
    assert nap.error == "with: /seconds: fails type 'number'"


