"""`ctx.plan(...)`: a dry run returns the recorded items as `outputs.plan`; a real run returns none."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel
from vwmp_sdk import PlanItem, Plugin, StepContext
from vwmp_sdk.testing import StepTester

plugin = Plugin("plans", title="Plans")


class WriteConfig(BaseModel):
    file: str
    text: str


class WriteOutputs(BaseModel):
    file: str


@plugin.step("write")
def write(ctx: StepContext, config: WriteConfig) -> WriteOutputs:
    path = ctx.resolve_path(config.file, field="file")
    old = path.read_text() if path.exists() else None
    ctx.plan("create file" if old is None else "update file", config.file, diff=f"+{config.text}")
    if not ctx.dry_run:
        path.write_text(config.text)
    return WriteOutputs(file=config.file)


@plugin.step("read-only")
def read_only(ctx: StepContext) -> None:
    """Plans nothing: a dry run still says so with an empty plan."""


@plugin.step("item-and-returned")
async def item_and_returned(ctx: StepContext) -> dict:
    ctx.plan(PlanItem(action="second", target="b"))
    return {"plan": [PlanItem(action="first", target="a")]}


@pytest.fixture
def tester(tmp_path: Path) -> StepTester:
    return StepTester(plugin, workspace_root=tmp_path)


def test_dry_run_returns_recorded_items_and_changes_nothing(tester: StepTester, tmp_path: Path) -> None:
    outcome = tester.run("plans/write", {"file": "notes.txt", "text": "hi"}, dry_run=True)
    assert outcome.ok, outcome.failure
    assert outcome.outputs == {"file": "notes.txt", "plan": [{"action": "create file", "target": "notes.txt",
                                                              "diff": "+hi"}]}
    assert not (tmp_path / "notes.txt").exists()


def test_real_run_has_no_plan_output(tester: StepTester, tmp_path: Path) -> None:
    outcome = tester.run("plans/write", {"file": "notes.txt", "text": "hi"})
    assert outcome.outputs == {"file": "notes.txt"}
    assert (tmp_path / "notes.txt").read_text() == "hi"


def test_dry_run_without_changes_has_an_empty_plan(tester: StepTester) -> None:
    assert tester.run("plans/read-only", {}, dry_run=True).outputs == {"plan": []}
    assert tester.run("plans/read-only", {}).outputs == {}


async def test_returned_plan_comes_first_then_recorded_items(tester: StepTester) -> None:
    outcome = await tester.execute("plans/item-and-returned", {}, dry_run=True)
    assert [item["action"] for item in outcome.plan] == ["first", "second"]


def test_plan_outside_the_workspace_is_refused_before_anything_is_planned(tester: StepTester) -> None:
    outcome = tester.run("plans/write", {"file": "../escape.txt", "text": "x"}, dry_run=True)
    assert outcome.failure is not None and outcome.failure.kind == "denied"
    assert outcome.failure.message.startswith("file: ")
    assert outcome.outputs == {}


def test_plan_needs_a_target(tmp_path: Path) -> None:
    ctx = StepContext(run_id="r", step_id="s", attempt=1, idempotency_key="r/s/1", dry_run=True,
                      workspace_root=tmp_path, platform_config=None, log_sink=lambda line, stream: None)
    with pytest.raises(TypeError, match="target"):
        ctx.plan("create tag")  # type: ignore[call-overload]  # the mistake this test is about
    assert ctx.plan("create tag", "v1") == PlanItem(action="create tag", target="v1")
    assert ctx.planned == [PlanItem(action="create tag", target="v1")]
