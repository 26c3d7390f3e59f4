"""One `vwmp up` per data folder, and the guarantees that it leaves nothing behind.

A second `make run` on the same data folder must say where the first one is rather than start
services that crash-loop on "address in use"; and the services of a supervisor that dies
(SIGKILLed, its terminal closed) must die with it instead of living on as orphans.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO

LOCK_FILE = "platform.lock"
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


class AlreadyRunning(RuntimeError):
    """Another supervisor holds the data folder."""


class InstanceLock:
    """An exclusive `flock` on `<data>/platform.lock`, holding the supervisor's pid and URL.

    The kernel drops the lock when the process dies, however it dies, so a stale lock never
    blocks the next start.
    """

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_FILE
        self._file: IO[str] | None = None

    def acquire(self, url: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the supervisor's life
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().split()
            handle.close()
            pid, where = ([*holder, "?", "?"])[:2]
            raise AlreadyRunning(
                f"VWMP is already running from {self.path.parent} (supervisor pid {pid}, at {where}); "
                "stop it with Ctrl-C in its terminal or `kill " + pid + "`, or start another one with "
                "its own VWMP_DATA_DIR and ports") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()} {url}\n")
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()
            self._file.close()
            self._file = None


def ports_in_use(ports: dict[str, int]) -> list[str]:
    """The ports (by the setting that names them) another program already listens on."""
    taken = []
    for setting, port in ports.items():
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError as error:
                if error.errno != errno.EADDRINUSE:
                    raise
                taken.append(f"{port} ({setting})")
    return taken


def die_with_parent() -> Callable[[], None] | None:
    """A `preexec_fn` that has the kernel send a child SIGTERM when its supervisor dies (Linux).

    None elsewhere: there the supervisor's own signal handlers are the only guard.
    """
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    parent = os.getpid()

    def in_child() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the supervisor died before the request took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return in_child
