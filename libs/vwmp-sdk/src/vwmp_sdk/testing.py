"""Unit-testing step handlers without any VWMP service running.

Example:
    ```python
    from vwmp_sdk.testing import StepTester

    def test_greet(tmp_path):
        outcome = StepTester(plugin, workspace_root=tmp_path).run("hello/greet", {"name": "Ada"})
        assert outcome.ok, outcome.failure
        assert outcome.outputs["greeting"] == "Hello, Ada!"
    ```

The tester validates the config and checks the outputs exactly like the plugin server does, so a
handler returning outputs that do not match its schema fails the test.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vwmp_sdk._context import StepContext
from vwmp_sdk._errors import ConfigProblem, StepFailureInfo, failure_of
from vwmp_sdk._execution import execute_step
from vwmp_sdk._plugin import Plugin, StepDefinition, step_index

__all__ = ["LogLine", "StepFailureInfo", "StepOutcome", "StepTester"]


@dataclass(frozen=True)
class LogLine:
    """One log line a step sent.

    Attributes:
        stream: `"info"`, `"stdout"` or `"stderr"`.
        line: the text.
    """

    stream: str
    line: str


@dataclass
class StepOutcome:
    """What one step attempt produced.

    Attributes:
        outputs: the outputs JSON (empty when the step failed).
        logs: the log lines, in order.
        records: the log lines with their stream.
        failure: how the step failed, or None when it succeeded.
    """

    outputs: dict[str, Any] = field(default_factory=dict)
    logs: list[str] = field(default_factory=list)
    records: list[LogLine] = field(default_factory=list)
    failure: StepFailureInfo | None = None

    @property
    def ok(self) -> bool:
        """True when the step succeeded."""
        return self.failure is None

    @property
    def plan(self) -> list[dict[str, Any]]:
        """The `plan` output of a dry run (empty when there is none)."""
        return list(self.outputs.get("plan", []))


class StepTester:
    """Runs step handlers of one or more plugins the way a plugin host does.

    Args:
        plugin_or_plugins: a `Plugin` or a list of them.
        workspace_root: the workspace root handlers resolve paths in (e.g. pytest's `tmp_path`).
        platform_config: platform defaults passed as `ctx.platform_config`.
    """

    def __init__(
        self,
        plugin_or_plugins: Plugin | list[Plugin],
        workspace_root: Path | str,
        platform_config: dict[str, Any] | None = None,
    ) -> None:
        self.plugins, self._steps = step_index(plugin_or_plugins)
        self.workspace_root = Path(workspace_root)
        self.platform_config = dict(platform_config or {})

    def definition(self, step_type: str) -> StepDefinition:
        """The registered definition of a step type.

        Raises:
            LookupError: no plugin given to the tester offers that type.
        """
        try:
            return self._steps[step_type]
        except KeyError:
            raise LookupError(f"unknown step type {step_type!r}; known: {sorted(self._steps)}") from None

    def validate(self, step_type: str, config: Any) -> list[ConfigProblem]:
        """The problems the host's ValidateConfig would report (pointers relative to the config)."""
        return self.definition(step_type).check_config(config)

    async def execute(
        self,
        step_type: str,
        config: dict[str, Any] | None,
        *,
        dry_run: bool = False,
        attempt: int = 1,
        run_id: str = "test-run",
        step_id: str = "test-step",
    ) -> StepOutcome:
        """Run one attempt of a step and collect its outputs, logs and failure.

        Args:
            step_type: e.g. `"git/tag"`.
            config: the step's config (`with:`), references already resolved.
            dry_run: ask the handler for a plan instead of changes.
            attempt: the attempt number the handler sees.
            run_id: run id the handler sees.
            step_id: step id the handler sees.

        Returns:
            The outcome; a failing handler gives `failure`, it does not raise.
        """
        definition = self.definition(step_type)
        outcome = StepOutcome()
        lock = threading.Lock()

        def sink(line: str, stream: str) -> None:
            with lock:
                outcome.records.append(LogLine(stream, line))
                outcome.logs.append(line)

        ctx = StepContext(
            run_id=run_id, step_id=step_id, attempt=attempt,
            idempotency_key=f"{run_id}/{step_id}/{attempt}", dry_run=dry_run,
            workspace_root=self.workspace_root, platform_config=self.platform_config, log_sink=sink,
        )
        try:
            outcome.outputs = await execute_step(definition, config, ctx)
        except Exception as exc:
            outcome.failure = failure_of(exc)
        return outcome

    def run(
        self,
        step_type: str,
        config: dict[str, Any] | None,
        *,
        dry_run: bool = False,
        attempt: int = 1,
        run_id: str = "test-run",
        step_id: str = "test-step",
    ) -> StepOutcome:
        """Blocking `execute` for plain (non-async) tests; do not call it inside a running event loop."""
        return asyncio.run(
            self.execute(step_type, config, dry_run=dry_run, attempt=attempt, run_id=run_id, step_id=step_id)
        )
