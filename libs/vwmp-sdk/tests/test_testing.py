"""`vwmp_sdk.testing` simulates a cancelled run: how a plugin author tests that a handler cleans up."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from pathlib import Path

import pytest
from pydantic import BaseModel
from vwmp_sdk import Plugin, StepContext
from vwmp_sdk.testing import StepTester

pytestmark = pytest.mark.timeout(30)
plugin = Plugin("files", title="Files")


class CopyConfig(BaseModel):
    target: str
    chunks: int = 100


@plugin.step("copy")
async def copy(ctx: StepContext, config: CopyConfig) -> dict:
    """Writes a partial file first and renames it at the end; a cancel must not leave the partial behind."""
    target = ctx.resolve_path(config.target, field="target")
    partial = target.with_name(target.name + ".partial")
    try:
        with partial.open("w") as out:
            for n in range(config.chunks):
                out.write(f"chunk {n}\n")
                ctx.log(f"copying chunk {n}")
                await asyncio.sleep(0.01)
        partial.rename(target)
    except asyncio.CancelledError:
        partial.unlink(missing_ok=True)
        ctx.log("cancelled: partial file removed")
        raise
    return {"chunks": config.chunks}


@plugin.step("sync-copy")
def sync_copy(ctx: StepContext, config: CopyConfig) -> dict:
    """A sync handler cannot be interrupted: it polls `ctx.cancelled` and stops by itself."""
    partial = ctx.resolve_path(config.target + ".partial", field="target")
    with partial.open("w") as out:
        for n in range(config.chunks):
            if ctx.cancelled:
                partial.unlink()
                ctx.log("stopped at a cancel")
                return {"chunks": n}
            out.write(f"chunk {n}\n")
            ctx.log(f"copying chunk {n}")
            time.sleep(0.01)
    partial.rename(ctx.resolve_path(config.target))
    return {"chunks": config.chunks}


@plugin.step("child")
def child(ctx: StepContext) -> dict:
    ctx.log("starting child")
    ctx.run([sys.executable, "-c", "import time; time.sleep(60)"], cwd=ctx.workspace_root, timeout=60)
    return {}


@plugin.step("swallows")
async def swallows(ctx: StepContext) -> dict:
    """A bug the tester reports: the cancel is caught and the handler returns as if nothing happened."""
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.sleep(30)
    return {}


@pytest.fixture
def tester(tmp_path: Path) -> StepTester:
    return StepTester(plugin, workspace_root=tmp_path)


async def test_cancel_at_a_checkpoint_lets_the_handler_clean_up(tester: StepTester, tmp_path: Path) -> None:
    outcome = await tester.execute("files/copy", {"target": "out.txt"}, cancel_on_log="copying chunk 3")
    assert outcome.cancelled and not outcome.ok and outcome.failure is None
    assert outcome.logs[-1] == "cancelled: partial file removed"
    assert "copying chunk 4" not in outcome.logs
    assert list(tmp_path.iterdir()) == []


def test_cancel_after_seconds_with_the_blocking_runner(tester: StepTester, tmp_path: Path) -> None:
    outcome = tester.run("files/copy", {"target": "out.txt"}, cancel_after=0.2)
    assert outcome.cancelled, outcome
    assert list(tmp_path.iterdir()) == []


def test_a_step_that_finishes_before_the_cancel_is_not_cancelled(tester: StepTester, tmp_path: Path) -> None:
    outcome = tester.run("files/copy", {"target": "out.txt", "chunks": 2}, cancel_after=5)
    assert outcome.ok and not outcome.cancelled and outcome.outputs == {"chunks": 2}
    assert (tmp_path / "out.txt").read_text() == "chunk 0\nchunk 1\n"


def test_a_sync_handler_sees_ctx_cancelled_and_the_tester_waits_for_it(tester: StepTester, tmp_path: Path) -> None:
    outcome = tester.run("files/sync-copy", {"target": "out.txt"}, cancel_on_log="copying chunk 5")
    assert outcome.cancelled, outcome
    assert outcome.logs[-1] == "stopped at a cancel"  # the thread ended before execute returned
    assert list(tmp_path.iterdir()) == []


def test_a_cancel_kills_the_program_ctx_run_started(tester: StepTester) -> None:
    started = time.monotonic()
    outcome = tester.run("files/child", {}, cancel_on_log="starting child")
    assert outcome.cancelled, outcome
    assert time.monotonic() - started < 10


def test_swallowing_the_cancellation_is_reported(tester: StepTester) -> None:
    outcome = tester.run("files/swallows", {}, cancel_after=0.1)
    assert not outcome.cancelled
    assert outcome.failure is not None and "CancelledError" in outcome.failure.message
