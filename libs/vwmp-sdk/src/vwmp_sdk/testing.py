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

Cancellation (a user cancelling the run) is simulated the way the host does it: after some seconds
(`cancel_after=`) or when the handler reaches a checkpoint, i.e. logs a line containing a text
(`cancel_on_log=`). The tester then waits until the handler has stopped, so a test can check that it
cleaned up:

    ```python
    async def test_cancel_removes_the_partial_file(tmp_path):
        outcome = await StepTester(plugin, workspace_root=tmp_path).execute(
            "files/copy", {"source": "big", "target": "copy"}, cancel_on_log="copying"
        )
        assert outcome.cancelled and not (tmp_path / "copy").exists()
    ```
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vwmp_sdk._context import StepContext
from vwmp_sdk._errors import ConfigProblem, StepFailureInfo, failure_of
from vwmp_sdk._execution import execute_step
from vwmp_sdk._outcomes import OutcomeJournal
from vwmp_sdk._plugin import Plugin, StepDefinition, step_index
from vwmp_sdk._scratch import Scratch

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
        failure: how the step failed, or None when it succeeded (or was cancelled).
        cancelled: the simulated cancellation hit the running handler and the handler stopped: an
            async handler let `asyncio.CancelledError` propagate, a sync handler returned or raised.
    """

    outputs: dict[str, Any] = field(default_factory=dict)
    logs: list[str] = field(default_factory=list)
    records: list[LogLine] = field(default_factory=list)
    failure: StepFailureInfo | None = None
    cancelled: bool = False

    @property
    def ok(self) -> bool:
        """True when the step succeeded (neither failed nor cancelled)."""
        return self.failure is None and not self.cancelled

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
        outcomes: keep outcomes by idempotency key in the workspace's run folder, as a plugin host
            does, so executing a step twice with one key shows what a second delivery gets.
    """

    def __init__(
        self,
        plugin_or_plugins: Plugin | list[Plugin],
        workspace_root: Path | str,
        platform_config: dict[str, Any] | None = None,
        outcomes: bool = False,
    ) -> None:
        self.plugins, self._steps = step_index(plugin_or_plugins)
        self.workspace_root = Path(workspace_root)
        self.platform_config = dict(platform_config or {})
        self.outcomes = OutcomeJournal(self.workspace_root) if outcomes else None

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
        cancel_after: float | None = None,
        cancel_on_log: str | None = None,
        stop_timeout: float = 10.0,
        idempotency_key: str | None = None,
        scratch: bool = False,
    ) -> StepOutcome:
        """Run one attempt of a step and collect its outputs, logs and failure.

        Args:
            step_type: e.g. `"git/tag"`.
            config: the step's config (`with:`), references already resolved.
            dry_run: ask the handler for a plan instead of changes.
            attempt: the attempt number the handler sees.
            run_id: run id the handler sees.
            step_id: step id the handler sees.
            cancel_after: cancel the step this many seconds after it started, like a user cancelling
                the run (the handler sees `asyncio.CancelledError`, or `ctx.cancelled` in a sync one).
            cancel_on_log: cancel the step as soon as it logs a line containing this text (a
                checkpoint inside the handler).
            stop_timeout: seconds a cancelled handler gets to stop; a handler still running then
                is reported as a failure.
            idempotency_key: the key the handler sees; default `<run_id>/<step_id>/<attempt>`.
            scratch: with `dry_run`, what the engine's dry run does: the step works in the run's scratch
                copy of the workspace (`<workspace>/.vwmp/scratch/<run_id>`), a `local` or `none` step
                for real there, a `remote` one in plan mode; the outputs carry `plan` either way.

        Returns:
            The outcome; a failing handler gives `failure`, it does not raise. A cancelled one gives
            `cancelled=True`; an async handler that swallowed the cancellation gives a `failure`.
        """
        definition = self.definition(step_type)
        outcome = StepOutcome()
        lock = threading.Lock()
        loop = asyncio.get_running_loop()
        cancelling = cancel_after is not None or cancel_on_log is not None
        task: asyncio.Task[dict[str, Any]] | None = None
        requested = threading.Event()
        stopping = asyncio.Event()

        def cancel() -> None:
            if task is not None and not task.done() and not requested.is_set():
                requested.set()
                stopping.set()
                ctx.cancel()  # what the host does: sync handlers see ctx.cancelled, ctx.run kills its child
                task.cancel()

        def sink(line: str, stream: str) -> None:
            with lock:
                outcome.records.append(LogLine(stream, line))
                outcome.logs.append(line)
            if cancel_on_log is not None and cancel_on_log in line:
                with contextlib.suppress(RuntimeError):  # a thread logging after the test's loop closed
                    loop.call_soon_threadsafe(cancel)

        in_scratch = scratch and dry_run
        ctx = StepContext(
            run_id=run_id, step_id=step_id, attempt=attempt,
            idempotency_key=idempotency_key or f"{run_id}/{step_id}/{attempt}",
            dry_run=dry_run and (not in_scratch or definition.effects == "remote"),
            workspace_root=self.workspace_root, platform_config=self.platform_config, log_sink=sink,
            scratch=Scratch(self.workspace_root, run_id) if in_scratch else None,
        )
        # A private one-thread executor for sync handlers, so the tester can wait until the thread ended.
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="step") if cancelling else None
        task = asyncio.create_task(execute_step(definition, config, ctx, executor, self.outcomes))
        timer = loop.call_later(cancel_after, cancel) if cancel_after is not None else None
        cancelled = asyncio.ensure_future(stopping.wait())
        try:
            await asyncio.wait({task, cancelled}, return_when=asyncio.FIRST_COMPLETED)
            if not task.done():  # cancelled just now: the handler gets stop_timeout to stop
                await asyncio.wait({task}, timeout=stop_timeout)
        finally:
            cancelled.cancel()
            if timer is not None:
                timer.cancel()
        if not task.done():
            outcome.failure = StepFailureInfo(
                "error", f"{definition.type} still ran {stop_timeout:g}s after it was cancelled; "
                "let asyncio.CancelledError propagate"
            )
        elif task.cancelled():
            outcome.cancelled = True
        elif (error := task.exception()) is not None:
            if not isinstance(error, Exception):
                raise error
            outcome.failure = failure_of(error)
        else:
            outcome.outputs = task.result()
        if requested.is_set() and task.done():
            problem = await self._stopped(definition, outcome, executor, stop_timeout)
            if problem is not None:
                outcome.cancelled, outcome.failure = False, problem
        if executor is not None:
            executor.shutdown(wait=False)
        return outcome

    @staticmethod
    async def _stopped(
        definition: StepDefinition, outcome: StepOutcome, executor: ThreadPoolExecutor | None, stop_timeout: float
    ) -> StepFailureInfo | None:
        """None when the cancelled handler stopped properly, else why it did not."""
        if definition.is_async:
            if not outcome.cancelled and outcome.failure is None:
                return StepFailureInfo(
                    "error", f"{definition.type} returned after it was cancelled; let asyncio.CancelledError propagate"
                )
            return outcome.failure
        # Sync: the step's task ended at once, its thread goes on until the handler returns. The one
        # worker runs this no-op only after that.
        assert executor is not None
        ended = asyncio.get_running_loop().run_in_executor(executor, lambda: None)
        try:
            await asyncio.wait_for(ended, stop_timeout)
        except TimeoutError:
            return StepFailureInfo(
                "error", f"{definition.type} still ran {stop_timeout:g}s after it was cancelled; poll ctx.cancelled"
            )
        return None

    def run(
        self,
        step_type: str,
        config: dict[str, Any] | None,
        *,
        dry_run: bool = False,
        attempt: int = 1,
        run_id: str = "test-run",
        step_id: str = "test-step",
        cancel_after: float | None = None,
        cancel_on_log: str | None = None,
        stop_timeout: float = 10.0,
        idempotency_key: str | None = None,
        scratch: bool = False,
    ) -> StepOutcome:
        """Blocking `execute` for plain (non-async) tests; do not call it inside a running event loop."""
        return asyncio.run(
            self.execute(
                step_type, config, dry_run=dry_run, attempt=attempt, run_id=run_id, step_id=step_id,
                cancel_after=cancel_after, cancel_on_log=cancel_on_log, stop_timeout=stop_timeout,
                idempotency_key=idempotency_key, scratch=scratch,
            )
        )
