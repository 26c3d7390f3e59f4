"""Gateway tests against the real platform (vwmp_testkit.platform: storage, engine, a plugin host,
real NATS), with the gateway app in-process (httpx ASGITransport) or on uvicorn (WebSockets, fuzzing).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from vwmp_gateway.app import create_app
from vwmp_gateway.settings import GatewaySettings
from vwmp_testkit.fixtures import own_nats_server
from vwmp_testkit.platform import Backend, LiveGateway, definition

# This suite starts plugin hosts: a NATS server of its own keeps other suites' hosts out of its runs.
nats_server = own_nats_server("session")


@pytest.fixture(scope="session")
def backend(nats_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    started = Backend(nats_server, tmp_path_factory.mktemp("platform"))
    started.start()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def settings(backend: Backend, tmp_path: Path) -> GatewaySettings:
    return backend.settings(data_dir=tmp_path)


@pytest.fixture
def make_client(settings: GatewaySettings) -> Callable[..., Any]:
    """An httpx client on an in-process app (lifespan run), optionally with changed settings."""

    def factory(**changes: Any) -> Any:
        import contextlib

        @contextlib.asynccontextmanager
        async def open_client() -> AsyncIterator[httpx.AsyncClient]:
            app = create_app(settings.model_copy(update=changes))
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
                    client.app = app  # type: ignore[attr-defined]  # tests reach the app under test through its client
                    yield client

        return open_client()

    return factory


@pytest.fixture
async def client(make_client: Callable[..., Any]) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client() as opened:
        yield opened


def auth(backend: Backend, role: str = "admin") -> dict[str, str]:
    return {"Authorization": f"Bearer {backend.tokens[role]}"}


@pytest.fixture
def headers(backend: Backend) -> Callable[[str], dict[str, str]]:
    return lambda role="admin": auth(backend, role)


@pytest.fixture
def live_gateway(settings: GatewaySettings) -> Iterator[LiveGateway]:
    with LiveGateway(settings.model_copy(update={"ws_idle_backfill_seconds": 1.0, "ws_reverify_seconds": 0.5})) as gw:
        yield gw


@pytest.fixture
def make_live_gateway(settings: GatewaySettings) -> Callable[..., LiveGateway]:
    return lambda **changes: LiveGateway(settings.model_copy(update=changes))


@pytest.fixture(name="definition")
def definition_fixture() -> Callable[..., dict[str, Any]]:
    """Builds a valid workflow definition: definition(name, steps=None)."""
    return definition
