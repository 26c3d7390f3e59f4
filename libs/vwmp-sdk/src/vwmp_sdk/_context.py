"""What a step handler gets besides its config: ids, dry-run flag, plan, logging, paths, programs."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from vwmp_sdk._outcomes import STATE_FOLDER
from vwmp_sdk._paths import resolve_in_workspace
from vwmp_sdk._plugin import PlanItem
from vwmp_sdk._process import CompletedProcess, run_program, run_program_async

if TYPE_CHECKING:
    from vwmp_sdk._outcomes import OutcomeEntry
    from vwmp_sdk._scratch import Scratch

LogSink = Callable[[str, str], None]


class StepContext:
    """The context of one step attempt, passed as the handler's first argument.

    Attributes:
        run_id: id of the run the step belongs to.
        step_id: id of the step in the workflow definition.
        attempt: attempt number, starting at 1.
        idempotency_key: `"<run>/<step>/<attempt>"`; the same key means the same attempt delivered again
            (the engine lost the answer to the first delivery). The plugin server answers a key whose
            first delivery finished with that outcome without calling the handler; one that was cut
            off calls it again with `progress` holding what it saved.
        dry_run: when true, compute what would happen, record it with `plan`, change nothing.
        scratch: true in a dry run: the step works on the run's scratch copy of the workspace (the
            repositories it touches are copied there first, never changed in place). A `local` step
            then runs for real (`dry_run` false) and its plan is returned; a `remote` one plans there.
        workspace_root: the folder every repo path must stay inside (the scratch copy's, in a dry run).
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
        scratch: Scratch | None = None,
    ) -> None:
        self.run_id = run_id
        self.step_id = step_id
        self.attempt = attempt
        self.idempotency_key = idempotency_key
        self.dry_run = dry_run
        self._scratch = scratch
        self.workspace_root = scratch.root if scratch is not None else Path(workspace_root)
        self.platform_config: dict[str, Any] = dict(platform_config or {})
        self._log_sink = log_sink
        self._cancelled = threading.Event()
        self._planned: list[PlanItem] = []
        self._entry: OutcomeEntry | None = None
        self._progress: dict[str, Any] = {}

    @property
    def scratch(self) -> bool:
        """True when the step works on a dry run's scratch copy of the workspace."""
        return self._scratch is not None

    @property
    def returns_plan(self) -> bool:
        """Whether `outputs.plan` is returned: in every dry run, in plan mode or in the scratch copy."""
        return self.dry_run or self._scratch is not None

    def _attach(self, entry: OutcomeEntry) -> None:
        """Keep `save_progress` in the record of this delivery's key (the server does this)."""
        self._entry = entry
        self._progress = entry.progress

    @property
    def progress(self) -> dict[str, Any]:
        """What an earlier delivery of this idempotency key saved with `save_progress` before it was cut off.

        Empty on a first delivery. A handler that changes something in several steps, or whose change
        cannot be recognised afterwards, saves what it is about to do first; a delivery that finds it
        finishes that work instead of doing it again (e.g. `release/version-bump` saves the versions
        before writing the files, `git/commit` the commit it builds on).
        """
        return dict(self._progress)

    def save_progress(self, **values: Any) -> None:
        """Save JSON values for a later delivery of the same key, durably, before making a change.

        Never put secrets in them (they are masked like the step's outputs, not encrypted). Outside a
        plugin server (and in a dry run) they are kept for this delivery only.

        Example:
            ```python
            if (done := ctx.progress.get("sha")) and repo_has(done):
                return Outputs(sha=done)
            ctx.save_progress(parent=head)
            ```
        """
        self._progress = {**self._progress, **values}
        if self._entry is not None:
            self._entry.save_progress(values)

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

    @overload
    def plan(self, item: PlanItem, /) -> PlanItem: ...

    @overload
    def plan(self, action: str, target: str, diff: str | None = None) -> PlanItem: ...

    def plan(self, action: str | PlanItem, target: str | None = None, diff: str | None = None) -> PlanItem:
        """Record one change the step would make; a dry run returns the recorded items as `outputs.plan`.

        Outside a dry run the items are not returned, so a handler may describe each change in both
        modes and only skip making it when `dry_run` is set. In a dry run `outputs.plan` is always
        present: an empty list says that nothing would change.

        Example:
            ```python
            ctx.plan("create tag", name, diff=f"tag {name} -> {sha}")
            if not ctx.dry_run:
                git.run("tag", "--annotate", "-m", name, "--", name, sha)
            ```

        Args:
            action: what would happen, e.g. `"create tag"`, `"update file"`; or a whole `PlanItem`.
            target: what it happens to, e.g. `"v1.2.0"`, `"CHANGELOG.md"`.
            diff: optional unified diff or preview text.

        Returns:
            The recorded item.
        """
        if isinstance(action, PlanItem):
            item = action
        else:
            if target is None:
                raise TypeError("plan() needs a target: ctx.plan(action, target, diff=None)")
            item = PlanItem(action=action, target=target, diff=diff)
        self._planned.append(item)
        return item

    @property
    def planned(self) -> list[PlanItem]:
        """The items recorded with `plan` so far (a copy)."""
        return list(self._planned)

    def resolve_path(self, relative: str | Path, *, field: str = "path") -> Path:
        """Resolve a config path inside the workspace root, following symlinks at this moment.

        Same check as `vwmp_sdk.resolve_in_workspace(ctx.workspace_root, relative, field=field)`.

        Args:
            relative: a path relative to the workspace root, e.g. `config.repo`.
            field: the config field it came from, named in the error (e.g. `"repo"`).

        Returns:
            The absolute, resolved path (it need not exist).

        Raises:
            DeniedError: the path is empty, absolute, contains `..`, a symlink leads outside the root, or
                it points into the workspace's `.vwmp` run folder.
        """
        if self._scratch is not None:
            return self._scratch.resolve(relative, field=field)
        # The run folder of the plugin hosts (step outcomes by idempotency key) is no step's to touch.
        return resolve_in_workspace(self.workspace_root, relative, field=field, forbid=[STATE_FOLDER])

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
