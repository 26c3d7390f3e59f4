"""What a step handler gets besides its config: ids, dry-run flag, logging, paths, programs."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from vwmp_sdk._paths import resolve_inside
from vwmp_sdk._process import CompletedProcess, run_program, run_program_async

LogSink = Callable[[str, str], None]


class StepContext:
    """The context of one step attempt, passed as the handler's first argument.

    Attributes:
        run_id: id of the run the step belongs to.
        step_id: id of the step in the workflow definition.
        attempt: attempt number, starting at 1.
        idempotency_key: `"<run>/<step>/<attempt>"`; the same key means the same attempt delivered again.
        dry_run: when true, compute what would happen, return it as `plan`, change nothing.
        workspace_root: the folder every repo path must stay inside.
        platform_config: platform defaults (git author, allowed branches, ...), possibly empty.
    """

    def __init__(
        self,
        *,
        run_id: str,
        step_id: str,
        attempt: int,
        idempotency_key: str,
        dry_run: bool,
        workspace_root: Path,
        platform_config: Mapping[str, Any] | None,
        log_sink: LogSink,
    ) -> None:
        self.run_id = run_id
        self.step_id = step_id
        self.attempt = attempt
        self.idempotency_key = idempotency_key
        self.dry_run = dry_run
        self.workspace_root = Path(workspace_root)
        self.platform_config: dict[str, Any] = dict(platform_config or {})
        self._log_sink = log_sink
        self._cancelled = threading.Event()

    def log(self, line: str, stream: str = "info") -> None:
        """Send one log line to the engine as it happens (multi-line text is split).

        Args:
            line: the text; never put secrets in it.
            stream: `"info"`, `"stdout"` or `"stderr"`.
        """
        for part in str(line).splitlines() or [""]:
            self._log_sink(part, stream)

    @property
    def cancelled(self) -> bool:
        """True once the step was cancelled; sync handlers poll it and return early."""
        return self._cancelled.is_set()

    def cancel(self) -> None:
        """Mark the step cancelled (the host calls this; `run` then kills its child)."""
        self._cancelled.set()

    def resolve_path(self, relative: str | Path) -> Path:
        """Resolve a config path inside the workspace root, following symlinks at this moment.

        Args:
            relative: a path relative to the workspace root, e.g. `config.repo`.

        Returns:
            The absolute, resolved path (it need not exist).

        Raises:
            DeniedError: the path is empty, absolute, contains `..`, or a symlink leads outside the root.
        """
        return resolve_inside(self.workspace_root, relative)

    def run(
        self,
        args: Sequence[str],
        *,
        cwd: Path,
        timeout: float,
        env: Mapping[str, str] | None = None,
    ) -> CompletedProcess:
        """Run a program with an argument list (never a shell), streaming its output into the step log.

        Blocking: call it from sync handlers; async handlers use `arun`. A non-zero exit status is
        not an error here: check `returncode`.

        Args:
            args: program and arguments, e.g. `["git", "tag", "-a", name]`.
            cwd: working folder (use `resolve_path`).
            timeout: seconds before the program (and what it spawned) is killed.
            env: variables added to the host's environment.

        Returns:
            The exit status and the captured stdout/stderr.

        Raises:
            StepError: the program timed out (it was killed).
            StepCancelledError: the step was cancelled (the program was killed).
        """
        return run_program(
            args, cwd=cwd, timeout=timeout, env=env, sink=self._log_sink, cancelled=self._cancelled
        )

    async def arun(
        self,
        args: Sequence[str],
        *,
        cwd: Path,
        timeout: float,  # noqa: ASYNC109 (the program's limit, not this coroutine's)
        env: Mapping[str, str] | None = None,
    ) -> CompletedProcess:
        """Async `run` for async handlers: cancelling the step kills the program.

        Args:
            args: program and arguments.
            cwd: working folder.
            timeout: seconds before the program is killed.
            env: variables added to the host's environment.

        Returns:
            The exit status and the captured stdout/stderr.

        Raises:
            StepError: the program timed out (it was killed).
        """
        return await run_program_async(args, cwd=cwd, timeout=timeout, env=env, sink=self._log_sink)
