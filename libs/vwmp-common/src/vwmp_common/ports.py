"""Loopback ports for processes started side by side (the launcher, the test suites, the benchmarks)."""

from __future__ import annotations

import socket
import time

_handed_out: set[int] = set()


def free_port() -> int:
    """A TCP port that is free on loopback right now, and never one this process was given before.

    The ports are handed out before anything binds them (a launcher writes them into environments
    first), so without the memory two services could be given the same still-unbound port.
    """
    for _ in range(100):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise OSError("no free loopback port that was not handed out already")


def wait_for_port(port: int, timeout: float = 10.0, host: str = "127.0.0.1") -> None:
    """Block until something accepts connections on host:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")
