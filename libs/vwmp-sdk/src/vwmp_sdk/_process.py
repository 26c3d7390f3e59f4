"""Running external programs for a step: argument lists only, output streamed, killed on timeout/cancel."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from vwmp_sdk._errors import StepCancelledError, StepError

LineSink = Callable[[str, str], None]
_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class CompletedProcess:
    """What a finished program left behind.

    Attributes:
        args: the argument list that was run.
        returncode: the exit status (negative: killed by that signal).
        stdout: everything it wrote to stdout (decoded as UTF-8, invalid bytes replaced).
        stderr: everything it wrote to stderr.
    """

    args: list[str]
    returncode: int
    stdout: str
    stderr: str


def _check_args(args: Sequence[str]) -> list[str]:
    if isinstance(args, (str, bytes)) or not args:
        raise TypeError("run() takes a non-empty list of arguments, never a command string")
    return [os.fspath(a) for a in args]


def _environment(env: Mapping[str, str] | None) -> dict[str, str] | None:
    return None if env is None else {**os.environ, **env}


def _kill_group(process: subprocess.Popen[bytes] | asyncio.subprocess.Process) -> None:
    # The child runs in its own session, so helpers it spawned die with it.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        process.kill()


def _pump(stream: IO[bytes], name: str, sink: LineSink, captured: list[str]) -> None:
    for raw in iter(stream.readline, b""):
        text = raw.decode("utf-8", errors="replace")
        captured.append(text)
        sink(text.rstrip("\r\n"), name)
    stream.close()


def run_program(
    args: Sequence[str],
    *,
    cwd: Path,
    timeout: float,
    env: Mapping[str, str] | None,
    sink: LineSink,
    cancelled: threading.Event,
) -> CompletedProcess:
    """Run a program (blocking), streaming its lines to `sink`; see `StepContext.run`."""
    argv = _check_args(args)
    process = subprocess.Popen(
        argv, cwd=cwd, env=_environment(env), stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )
    out: list[str] = []
    err: list[str] = []
    pumps = [
        threading.Thread(target=_pump, args=(process.stdout, "stdout", sink, out), daemon=True),
        threading.Thread(target=_pump, args=(process.stderr, "stderr", sink, err), daemon=True),
    ]
    for pump in pumps:
        pump.start()
    deadline = time.monotonic() + timeout
    outcome = ""
    while True:
        remaining = deadline - time.monotonic()
        try:
            process.wait(timeout=max(0.0, min(_POLL_SECONDS, remaining)))
            break
        except subprocess.TimeoutExpired:
            if cancelled.is_set():
                outcome = "cancelled"
            elif time.monotonic() >= deadline:
                outcome = "timeout"
            if outcome:
                _kill_group(process)
                process.wait()
                break
    for pump in pumps:
        pump.join(timeout=5)
    if outcome == "timeout":
        raise StepError(f"{argv[0]} timed out after {timeout:g}s and was killed")
    if outcome == "cancelled":
        raise StepCancelledError(f"{argv[0]} was killed because the step was cancelled")
    return CompletedProcess(argv, process.returncode, "".join(out), "".join(err))


async def _apump(stream: asyncio.StreamReader, name: str, sink: LineSink, captured: list[str]) -> None:
    pending = b""
    while chunk := await stream.read(65536):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for raw in lines:
            text = raw.decode("utf-8", errors="replace")
            captured.append(text + "\n")
            sink(text.rstrip("\r"), name)
    if pending:
        text = pending.decode("utf-8", errors="replace")
        captured.append(text)
        sink(text.rstrip("\r"), name)


async def run_program_async(
    args: Sequence[str],
    *,
    cwd: Path,
    timeout: float,  # noqa: ASYNC109 (the program's limit, not this coroutine's)
    env: Mapping[str, str] | None,
    sink: LineSink,
) -> CompletedProcess:
    """Run a program without blocking the event loop; cancelling the awaiting task kills it."""
    argv = _check_args(args)
    process = await asyncio.create_subprocess_exec(
        *argv, cwd=cwd, env=_environment(env), stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, start_new_session=True,
    )
    out: list[str] = []
    err: list[str] = []
    assert process.stdout is not None and process.stderr is not None
    pumps = asyncio.gather(
        _apump(process.stdout, "stdout", sink, out), _apump(process.stderr, "stderr", sink, err)
    )
    try:
        async with asyncio.timeout(timeout):
            await process.wait()
            await pumps
    except TimeoutError:
        _kill_group(process)
        await process.wait()
        await asyncio.wait_for(pumps, 5)
        raise StepError(f"{argv[0]} timed out after {timeout:g}s and was killed") from None
    except asyncio.CancelledError:
        _kill_group(process)
        pumps.cancel()
        raise
    return CompletedProcess(argv, process.returncode or 0, "".join(out), "".join(err))
