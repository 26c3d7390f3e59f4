"""The platform in-process for the gateway's and the CLI's tests: what production runs, nothing faked.

The REAL storage service (SQLite), the REAL engine and a REAL plugin host offering the test kit's
step types serve gRPC on free ports from one background event loop; `LiveGateway` runs the gateway
app on uvicorn. A test therefore sees the engine's own control rules and events, not a copy of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import uvicorn
from vwmp_common.ports import free_port, wait_for_port
from vwmp_engine import Engine
from vwmp_engine.settings import EngineSettings
from vwmp_gateway.app import create_app
from vwmp_gateway.settings import GatewaySettings
from vwmp_proto.engine.v1 import engine_pb2, engine_pb2_grpc
from vwmp_sdk import PluginServer
from vwmp_storage.server import serve as serve_storage
from vwmp_storage.storage import Storage, open_storage

from vwmp_testkit import plugin as testkit_plugin

ROLES = ("viewer", "editor", "operator", "admin")
READY_SECONDS = 30.0


def definition(name: str, steps: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A valid workflow definition: by default a no-op build, then an approval gate."""
    return {
        "apiVersion": "vwmp/v1",
        "kind": "Workflow",
        "metadata": {"name": name, "description": "test"},
        "spec": {
            "parameters": {"type": "object", "required": ["part"],
                           "properties": {"part": {"enum": ["major", "minor", "patch"]}}},
            "steps": steps or [
                {"id": "build", "uses": "core/noop"},
                {"id": "approve", "uses": "core/approval", "needs": ["build"]},
            ],
        },
    }


@contextlib.asynccontextmanager
async def start_engine(settings: EngineSettings) -> AsyncIterator[int]:
    """The engine's own composition root, as `vwmp_engine.__main__` runs it; yields its gRPC port."""
    async with Engine(settings) as engine:
        yield engine.port


@dataclass
class Backend:
    """Storage, engine and a plugin host (test kit steps) on free ports, served from their own event loop.

    `storage` is the storage service's own repository object: tests use it to mint tokens and read
    the audit trail, never to write run state (that is the engine's job).
    """

    nats_url: str
    root: Path
    storage_port: int = 0
    engine_port: int = 0
    storage: Storage | None = None
    tokens: dict[str, str] = field(default_factory=dict)
    token_ids: dict[str, str] = field(default_factory=dict)
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    _stack: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack, repr=False)

    @property
    def workspace(self) -> Path:
        """The workspace root the plugin host resolves repo paths in."""
        return self.root / "workspace"

    def start(self) -> None:
        threading.Thread(target=self.loop.run_forever, daemon=True, name="vwmp-backend").start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(READY_SECONDS + 30)
        assert self.storage is not None
        for role in ROLES:
            token, secret = self.storage.tokens.create(f"{role}-bot", role, 0, "tests")
            self.tokens[role] = secret
            self.token_ids[role] = token.id
        # a second operator: approval gates refuse the run's starter, so a team approves as someone else
        token, secret = self.storage.tokens.create("approver-bot", "operator", 0, "tests")
        self.tokens["approver"], self.token_ids["approver"] = secret, token.id

    async def _start(self) -> None:
        self.workspace.mkdir(parents=True, exist_ok=True)
        self.storage = open_storage(f"sqlite:///{self.root / 'vwmp.db'}")
        storage_server, self.storage_port = await serve_storage(self.storage, "127.0.0.1", 0, 8)
        self._stack.push_async_callback(storage_server.stop, 0)
        settings = EngineSettings(
            nats_url=self.nats_url, storage_address=f"127.0.0.1:{self.storage_port}", grpc_host="127.0.0.1",
            engine_port=0, engine_id=f"testkit-engine-{free_port()}", data_dir=self.root / "engine",
            workspace_root=self.workspace, metrics_port=0, service_token="",
        )
        self.engine_port = await self._stack.enter_async_context(start_engine(settings))
        await self._stack.enter_async_context(PluginServer(
            testkit_plugin, nats_url=self.nats_url, workspace_root=self.workspace,
            host_id=f"testkit-host-{free_port()}", service_token=""))
        await self._wait_for_step_type("testkit/echo")

    async def _wait_for_step_type(self, step_type: str) -> None:
        """The engine learns of the plugin host through NATS KV; tests start once it has."""
        async with grpc.aio.insecure_channel(f"127.0.0.1:{self.engine_port}") as channel, \
                asyncio.timeout(READY_SECONDS):
            engine = engine_pb2_grpc.EngineServiceStub(channel)
            while True:
                listed = await engine.ListStepTypes(engine_pb2.ListStepTypesRequest())
                if any(t.type == step_type for t in listed.step_types):
                    return
                await asyncio.sleep(0.05)

    def settings(self, nats_url: str | None = None, data_dir: Path | None = None, **changes: Any) -> GatewaySettings:
        """Gateway settings pointing at these backends (no rate limit, no bootstrap, no UI)."""
        base = GatewaySettings(
            storage_address=f"127.0.0.1:{self.storage_port}", engine_address=f"127.0.0.1:{self.engine_port}",
            nats_url=nats_url or self.nats_url, data_dir=data_dir or self.root / "gateway", frontend_dir=None,
            rate_limit=0, bootstrap_admin=False, service_token="",
        )
        return base.model_copy(update=changes)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._stack.aclose(), self.loop).result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        assert self.storage is not None
        self.storage.close()

    def audit(self, action: str | None = None) -> list[Any]:
        """Audit entries (newest first), optionally of one action."""
        assert self.storage is not None
        entries = self.storage.audit.list(1000, 0)
        return [e for e in entries if action is None or e.action == action]


class LiveGateway:
    """The gateway on uvicorn, on a free port, in its own thread."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.port = free_port()
        self.settings = settings.model_copy(update={"http_port": self.port})
        config = uvicorn.Config(create_app(self.settings), host="127.0.0.1", port=self.port,
                                ws_ping_interval=None, **self.settings.uvicorn_options())  # type: ignore[arg-type]
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True, name="uvicorn")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveGateway:
        self.thread.start()
        wait_for_port(self.port, timeout=20)
        deadline = time.monotonic() + 20
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)

