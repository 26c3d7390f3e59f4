"""A plugin host learns whether any platform sees it; the engine says when it cannot reach one.

A plugin author who points a host at the wrong NATS, or advertises an address the engine cannot
dial, used to see "plugin host serving" and then nothing anywhere. Now the engine greets every host
it discovers, the host warns when no greeting comes, and the engine logs an address it cannot call.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import nats
import pytest
from pydantic import BaseModel
from vwmp_common.nats import plugin_hosts_bucket
from vwmp_common.ports import free_port
from vwmp_engine.registry import PluginHost, StepTypeRegistry
from vwmp_sdk import Plugin, PluginServer, StepContext
from vwmp_testkit.fixtures import own_nats_server

nats_server = own_nats_server("module")  # no other suite's engine greets these hosts
pytestmark = pytest.mark.timeout(30)

plugin = Plugin("greet", title="Greeting", description="greeting test")
UNSEEN = "no platform has contacted this plugin host"


class Config(BaseModel):
    who: str = "world"


@plugin.step("hi", title="Hi", description="Says hi")
def hi(ctx: StepContext, config: Config) -> dict[str, str]:
    return {"said": config.who}


def _warnings(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.WARNING and text in r.getMessage()]


async def test_an_engine_watching_the_bucket_greets_a_new_host_and_the_host_stays_quiet(
    nats_server: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    nc = await nats.connect(nats_server)
    registry = StepTypeRegistry()
    registry.start(await plugin_hosts_bucket(nc.jetstream()))
    try:
        async with PluginServer(plugin, nats_url=nats_server, workspace_root=tmp_path, heartbeat_seconds=0.3,
                                service_token="") as server:
            async with asyncio.timeout(10):
                while not server.seen_by_platform:
                    await asyncio.sleep(0.05)
            await asyncio.sleep(1.2)  # past the three heartbeats after which an unseen host warns
            assert not _warnings(caplog, UNSEEN)
    finally:
        await registry.stop()
        await nc.close()


async def test_a_host_no_engine_calls_says_so_naming_its_nats_and_address(
    nats_server: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with PluginServer(plugin, nats_url=nats_server, workspace_root=tmp_path, heartbeat_seconds=0.2,
                            service_token="") as server:
        async with asyncio.timeout(10):
            while not _warnings(caplog, UNSEEN):
                await asyncio.sleep(0.05)
        (record,) = _warnings(caplog, UNSEEN)
        assert "VWMP_NATS_URL" in record.getMessage()
        assert record.fields == {"nats_url": nats_server, "address": server.advertise_address,  # type: ignore[attr-defined]
                                 "waited_seconds": pytest.approx(0.6)}
        assert not server.seen_by_platform


async def test_the_engine_logs_a_host_whose_advertised_address_it_cannot_call(
    caplog: pytest.LogCaptureFixture,
) -> None:
    address = f"127.0.0.1:{free_port()}"  # announced, but nothing listens there
    registry = StepTypeRegistry()
    assert not await registry.greet(PluginHost("plugin-host.lost", address, {}, []))
    (record,) = _warnings(caplog, "cannot call it at its advertised address")
    assert "VWMP_PLUGIN_HOST_ADVERTISE_ADDRESS" in record.getMessage()
    assert record.fields["host"] == "plugin-host.lost"  # type: ignore[attr-defined]
    assert record.fields["address"] == address  # type: ignore[attr-defined]


async def test_a_host_the_engine_cannot_reach_at_first_is_greeted_once_it_answers(
    nats_server: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Announced before its address answers, as a container whose name the network's DNS does not
    # know yet (deploy/compose.yaml announces `plugin-host:50053`): the greeting keeps dialling for
    # GREETING_TIMEOUT (waitForReady in vwmp_common.clients' service config) instead of giving up at
    # the first refusal.
    port = free_port()
    registry = StepTypeRegistry()
    greeting = asyncio.create_task(registry.greet(PluginHost("plugin-host.late", f"127.0.0.1:{port}", {}, [])))
    await asyncio.sleep(1.5)
    assert not greeting.done()
    async with PluginServer(plugin, nats_url=nats_server, workspace_root=tmp_path, port=port,
                            service_token="") as server:
        assert server.port == port
        assert await asyncio.wait_for(greeting, 10)
    assert not _warnings(caplog, "cannot call it at its advertised address")
