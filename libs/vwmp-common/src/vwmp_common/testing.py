"""Pytest helpers shared by the services' test suites: a real NATS server from the wheel.

Only test suites import this module (pytest is a development dependency, not a runtime one).

Use from a conftest.py:

    from vwmp_common.testing import nats_server  # noqa: F401  (the fixture)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from vwmp_common.embedded_nats import free_port, start_nats_server


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real nats-server with JetStream on a free port; yields its URL."""
    port = free_port()
    store: Path = tmp_path_factory.mktemp("nats")
    process = start_nats_server(port, store)
    try:
        yield f"nats://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)
