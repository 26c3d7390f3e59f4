"""A step delivered again with the same idempotency key (the engine lost the answer): over real gRPC, the
plugin server answers with the first delivery's outcome, waits for a delivery still running, and lets
a delivery that was cut off resume from its saved progress."""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from pydantic import BaseModel
from vwmp_proto.plugin.v1 import plugin_pb2, plugin_pb2_grpc
from vwmp_sdk import Plugin, PluginServer, StepContext, StepError
from vwmp_sdk.testing import StepTester

pytestmark = pytest.mark.timeout(30)

plugin = Plugin("once", title="Once")
gates: dict[str, threading.Event] = {}


class CountConfig(BaseModel):
    name: str
    fail: bool = False
    hold: str = ""  # wait for this gate before finishing


class CountOutputs(BaseModel):
    count: int
    resumed_from: int | None = None


def bump(ctx: StepContext, name: str) -> int:
    """The work a step must not do twice: one line more in a file of the workspace."""
    path = ctx.workspace_root / f"{name}.txt"
    with path.open("a") as out:
        out.write(f"{ctx.idempotency_key}\n")
    return len(path.read_text().splitlines())


@plugin.step("count")
def count(ctx: StepContext, config: CountConfig) -> CountOutputs:
    if ctx.dry_run:
        return CountOutputs(count=0)
    if config.hold:
        gates[config.hold].wait(10)
    done = bump(ctx, config.name)
    if config.fail:
        raise StepError(f"failed after {done}")
    return CountOutputs(count=done)


@plugin.step("count-async")
async def count_async(ctx: StepContext, config: CountConfig) -> CountOutputs:
    earlier = ctx.progress.get("count")
    if earlier is not None:
        return CountOutputs(count=earlier, resumed_from=earlier)
    done = bump(ctx, config.name)
    ctx.save_progress(count=done)
    if config.hold:
        ctx.log("counted")
        await asyncio.sleep(30)  # cut off here by the test
    return CountOutputs(count=done)


@pytest.fixture
async def stub(tmp_path: Path) -> AsyncIterator[plugin_pb2_grpc.PluginServiceStub]:
    async with (
        PluginServer(plugin, workspace_root=tmp_path) as server,
        grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel,
    ):
        yield plugin_pb2_grpc.PluginServiceStub(channel)


def request(step_type: str, key: str = "run-1/count/1", dry_run: bool = False, redact: tuple[str, ...] = (),
            **config: Any) -> plugin_pb2.ExecuteRequest:
    run, step, attempt = key.split("/")
    return plugin_pb2.ExecuteRequest(type=step_type, config_json=json.dumps(config), run_id=run, step_id=step,
                                     attempt=int(attempt) if attempt.isdigit() else 1, idempotency_key=key,
                                     dry_run=dry_run, redact=redact)


async def deliver(stub: plugin_pb2_grpc.PluginServiceStub, message: plugin_pb2.ExecuteRequest
                  ) -> tuple[dict[str, Any] | tuple[str, str], list[str]]:
    """(outputs, or (kind, message) of the failure), and the log lines."""
    logs: list[str] = []
    async for response in stub.Execute(message):
        if response.HasField("log"):
            logs.append(response.log.line)
        elif response.HasField("result"):
            return json.loads(response.result.outputs_json), logs
        else:
            return (response.failure.kind, response.failure.message), logs
    raise AssertionError("no result")


async def test_a_second_delivery_of_a_finished_key_gets_its_outcome_and_the_work_is_done_once(
    stub: plugin_pb2_grpc.PluginServiceStub, tmp_path: Path
) -> None:
    first, _ = await deliver(stub, request("once/count", name="a"))
    again, logs = await deliver(stub, request("once/count", name="a"))
    assert first == again == {"count": 1, "resumed_from": None}
    assert (tmp_path / "a.txt").read_text().splitlines() == ["run-1/count/1"]
    assert any("delivered before and finished" in line for line in logs)
    # A new attempt is a new key: it runs.
    third, _ = await deliver(stub, request("once/count", key="run-1/count/2", name="a"))
    assert third == {"count": 2, "resumed_from": None}


async def test_a_recorded_failure_is_given_again_with_its_kind(
    stub: plugin_pb2_grpc.PluginServiceStub, tmp_path: Path
) -> None:
    first, _ = await deliver(stub, request("once/count", name="f", fail=True))
    again, _ = await deliver(stub, request("once/count", name="f", fail=True))
    assert first == again == ("error", "failed after 1")
    assert len((tmp_path / "f.txt").read_text().splitlines()) == 1


async def test_a_delivery_while_the_first_still_runs_waits_for_it_and_gets_its_outcome(
    stub: plugin_pb2_grpc.PluginServiceStub, tmp_path: Path
) -> None:
    gates["g"] = threading.Event()
    first = asyncio.create_task(deliver(stub, request("once/count", name="c", hold="g")))
    second = asyncio.create_task(deliver(stub, request("once/count", name="c", hold="g")))
    await asyncio.sleep(0.5)
    assert not (tmp_path / "c.txt").exists()
    gates["g"].set()
    (one, _), (two, _) = await asyncio.gather(first, second)
    assert one == two == {"count": 1, "resumed_from": None}
    assert len((tmp_path / "c.txt").read_text().splitlines()) == 1


async def test_a_delivery_cut_off_mid_step_leaves_its_progress_for_the_next(
    stub: plugin_pb2_grpc.PluginServiceStub, tmp_path: Path
) -> None:
    call = stub.Execute(request("once/count-async", name="p", hold="x"))
    async for response in call:
        if response.log.line == "counted":
            call.cancel()  # the connection is gone before the step finished
            break
    await asyncio.sleep(0.2)
    again, _ = await deliver(stub, request("once/count-async", name="p", hold="x"))
    assert again == {"count": 1, "resumed_from": 1}
    assert len((tmp_path / "p.txt").read_text().splitlines()) == 1


async def test_dry_runs_are_not_remembered_and_the_same_key_with_another_config_is_refused(
    stub: plugin_pb2_grpc.PluginServiceStub, tmp_path: Path
) -> None:
    await deliver(stub, request("once/count", key="run-2/s/plan", dry_run=True, name="d"))
    await deliver(stub, request("once/count", key="run-2/s/plan", dry_run=True, name="other"))
    assert not (tmp_path / ".vwmp" / "runs" / "run-2").exists()
    await deliver(stub, request("once/count", key="run-2/s/1", name="d"))
    refused, _ = await deliver(stub, request("once/count", key="run-2/s/1", name="e"))
    assert refused == ("config", "this idempotency key was delivered before with another step type or config")


async def test_the_run_folder_holds_masked_outcomes_and_keeps_a_repository_at_the_root_clean(
    stub: plugin_pb2_grpc.PluginServiceStub, tmp_path: Path
) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "tracked.txt").write_text("x\n")
    subprocess.run(["git", "-C", str(tmp_path), "add", "tracked.txt"], check=True)
    secret = "s3cr3t-canary-value"
    await deliver(stub, request("once/count", key="run-3/s/1", redact=(secret,), name=secret))
    status = subprocess.run(["git", "-C", str(tmp_path), "status", "--porcelain", "--", ".vwmp"],
                            capture_output=True, text=True, check=True).stdout
    assert status == ""
    records = list((tmp_path / ".vwmp" / "runs" / "run-3").glob("*.json"))
    assert len(records) == 1 and secret not in records[0].read_text()


def test_the_tester_shows_what_a_second_delivery_gets(tmp_path: Path) -> None:
    tester = StepTester(plugin, workspace_root=tmp_path, outcomes=True)
    first = tester.run("once/count", {"name": "t"}, idempotency_key="r/s/1")
    again = tester.run("once/count", {"name": "t"}, idempotency_key="r/s/1")
    assert first.outputs == again.outputs == {"count": 1, "resumed_from": None}
    assert any("delivered before" in line for line in again.logs)


class PeekConfig(BaseModel):
    path: str


@plugin.step("peek")
def peek(ctx: StepContext, config: PeekConfig) -> dict[str, Any]:
    return {"path": str(ctx.resolve_path(config.path))}


@pytest.mark.parametrize("path", [".vwmp/runs/r/x.json", ".vwmp", "link/runs"])
def test_no_step_path_reaches_into_the_run_folder(tmp_path: Path, path: str) -> None:
    (tmp_path / ".vwmp").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / ".vwmp")
    outcome = StepTester(plugin, workspace_root=tmp_path).run("once/peek", {"path": path})
    assert outcome.failure is not None and outcome.failure.kind == "denied", outcome
    assert ".vwmp" in outcome.failure.message
