"""The example plugin, tested with vwmp_sdk.testing only."""

from pathlib import Path

from vwmp_example_hello import plugin
from vwmp_sdk.testing import StepTester


def test_greet_returns_greeting_and_logs(tmp_path: Path) -> None:
    outcome = StepTester(plugin, workspace_root=tmp_path).run("hello/greet", {"name": "Ada"})
    assert outcome.ok, outcome.failure
    assert outcome.outputs == {"greeting": "Hello, Ada!"}
    assert outcome.logs == ["greeting Ada"]


def test_greet_dry_run_returns_a_plan(tmp_path: Path) -> None:
    outcome = StepTester(plugin, workspace_root=tmp_path).run("hello/greet", {"name": "Ada"}, dry_run=True)
    assert outcome.ok, outcome.failure
    assert outcome.plan == [{"action": "greet", "target": "Ada"}]


def test_greet_rejects_empty_name_with_pointer(tmp_path: Path) -> None:
    tester = StepTester(plugin, workspace_root=tmp_path)
    outcome = tester.run("hello/greet", {"name": ""})
    assert outcome.failure is not None and outcome.failure.kind == "config"
    assert [p.pointer for p in tester.validate("hello/greet", {})] == ["/name"]


async def test_noop_has_no_outputs(tmp_path: Path) -> None:
    outcome = await StepTester(plugin, workspace_root=tmp_path).execute("hello/noop", {})
    assert outcome.ok and outcome.outputs == {}


def test_greet_dry_run_outputs_are_the_greeting_and_the_plan(tmp_path: Path) -> None:
    outcome = StepTester(plugin, workspace_root=tmp_path).run("hello/greet", {"name": "Ada"}, dry_run=True)
    assert outcome.outputs == {"greeting": "Hello, Ada!", "plan": [{"action": "greet", "target": "Ada"}]}


async def test_a_cancelled_run_cancels_the_step(tmp_path: Path) -> None:
    """A step that finishes first is simply not cancelled; see libs/vwmp-sdk/tests/test_testing.py for
    handlers that clean up when they are."""
    outcome = await StepTester(plugin, workspace_root=tmp_path).execute("hello/noop", {}, cancel_after=5)
    assert outcome.ok and not outcome.cancelled
