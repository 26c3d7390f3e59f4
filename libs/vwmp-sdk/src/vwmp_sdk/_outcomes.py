"""Outcomes of step deliveries by idempotency key, kept in the workspace's run folder.

The engine sends a step again with the same idempotency key when the answer to a call was lost
(the connection broke after the request was delivered). The first delivery may have finished its
work, may still be running, or may have been cut off half way. So every real (not dry-run) delivery
holds a lock on its key while it runs and records its outcome there when it ends; a delivery of a
key that has an outcome answers with it and does not run the handler again. A delivery that was cut
off leaves what the handler saved with `StepContext.save_progress`, so the next one can finish the
work instead of doing it twice.

Files: `<workspace>/.vwmp/runs/<run id>/<sha256 of the key>.json` (and `.lock`), written atomically.
`.vwmp/.gitignore` ignores the folder, so a repository at the workspace root stays clean. Outputs and
failure messages are stored masked (the run's secrets as `***`), as the engine receives them. Run
folders not touched for `RETENTION_SECONDS` are deleted (a resend comes seconds after the loss).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vwmp_sdk._errors import ConfigError, StepFailureInfo

STATE_FOLDER = ".vwmp"
RETENTION_SECONDS = 24 * 3600.0
SWEEP_EVERY_SECONDS = 3600.0
LOCK_POLL_SECONDS = 0.05
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True)
class Outcome:
    """How a delivery ended: its outputs (as sent) or its failure."""

    outputs: dict[str, Any] | None = None
    failure: StepFailureInfo | None = None


class KeyReused(ConfigError):
    """The key was delivered before with another step type or config: not the same step attempt."""


def request_digest(step_type: str, config: Any) -> str:
    """What identifies a delivery besides its key: the step type and its config (only hashed: it may hold secrets)."""
    canonical = json.dumps([step_type, config], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class OutcomeEntry:
    """The record of one idempotency key: held (locked) by the delivery that runs it."""

    def __init__(self, path: Path, digest: str, mask: Callable[[str], str]) -> None:
        self.path = path
        self.digest = digest
        self.mask = mask
        self._lock: int | None = None
        self._record: dict[str, Any] = {}

    def try_acquire(self) -> bool:
        """Take the key's lock without waiting; False while another delivery holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._lock = fd
        try:
            self._record = self._read()
        except BaseException:
            self.release()
            raise
        return True

    def acquire(self, cancelled: Callable[[], bool]) -> bool:
        """Wait for the key's lock (another delivery of it may still be running); False if cancelled first."""
        while not self.try_acquire():
            if cancelled():
                return False
            time.sleep(LOCK_POLL_SECONDS)
        return True

    def release(self) -> None:
        if self._lock is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            os.close(self._lock)
            self._lock = None

    def _read(self) -> dict[str, Any]:
        try:
            record = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # none yet (a torn file cannot exist: writes are atomic)
            return {}
        if not isinstance(record, dict):
            return {}
        if record.get("digest") != self.digest:
            raise KeyReused("this idempotency key was delivered before with another step type or config")
        return record

    @property
    def outcome(self) -> Outcome | None:
        """The outcome an earlier delivery recorded, or None when none finished."""
        done = self._record.get("outcome")
        if not isinstance(done, dict):
            return None
        failure = done.get("failure")
        if isinstance(failure, dict):
            return Outcome(failure=StepFailureInfo(str(failure.get("kind")), str(failure.get("message"))))
        outputs = done.get("outputs")
        return Outcome(outputs=outputs if isinstance(outputs, dict) else {})

    @property
    def progress(self) -> dict[str, Any]:
        """What earlier deliveries saved with `StepContext.save_progress`."""
        saved = self._record.get("progress")
        return dict(saved) if isinstance(saved, dict) else {}

    def save_progress(self, values: dict[str, Any]) -> None:
        self._write({**self._record, "progress": {**self.progress, **values}})

    def save_outcome(self, outcome: Outcome) -> None:
        done: dict[str, Any] = {"outputs": outcome.outputs} if outcome.failure is None else {
            "failure": {"kind": outcome.failure.kind, "message": outcome.failure.message}}
        self._write({**self._record, "outcome": done})

    def _write(self, record: dict[str, Any]) -> None:
        record["digest"] = self.digest
        text = self.mask(json.dumps(record, separators=(",", ":")))
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._record = json.loads(text)


class OutcomeJournal:
    """The run folders of one workspace (see the module doc)."""

    def __init__(self, workspace_root: Path | str) -> None:
        self.folder = Path(workspace_root) / STATE_FOLDER
        self._swept = 0.0

    def entry(self, run_id: str, key: str, digest: str, mask: Callable[[str], str]) -> OutcomeEntry:
        """The record of `key` in the folder of `run_id` (created on first use)."""
        self._prepare()
        run = run_id if _SAFE_ID.match(run_id) else hashlib.sha256(run_id.encode()).hexdigest()[:32]
        name = hashlib.sha256(key.encode()).hexdigest()[:40]
        return OutcomeEntry(self.folder / "runs" / run / f"{name}.json", digest, mask)

    def _prepare(self) -> None:
        runs = self.folder / "runs"
        if not runs.is_dir():
            runs.mkdir(parents=True, exist_ok=True)
        ignore = self.folder / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# step outcomes by idempotency key (vwmp plugin hosts)\n*\n", encoding="utf-8")
        now = time.time()
        if now - self._swept > SWEEP_EVERY_SECONDS:
            self._swept = now
            self._sweep(runs, now - RETENTION_SECONDS)

    @staticmethod
    def _sweep(runs: Path, before: float) -> None:
        for folder in runs.iterdir():
            with contextlib.suppress(OSError):
                if folder.is_dir() and max((p.stat().st_mtime for p in folder.iterdir()),
                                           default=folder.stat().st_mtime) < before:
                    shutil.rmtree(folder, ignore_errors=True)
