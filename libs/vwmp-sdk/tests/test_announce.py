"""Announcement in the NATS KV bucket on a real NATS server: appears, refreshes, survives outages, leaves."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import nats
import pytest
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue
from pydantic import BaseModel, Field
from vwmp_common.nats import plugin_hosts_bucket
from vwmp_common.ports import free_port
from vwmp_proto.plugin.v1 import plugin_pb2, plugin_pb2_grpc
from vwmp_sdk import Plugin, PluginServer, StepContext, Template
from vwmp_testkit.nats import NatsServer

pytestmark = pytest.mark.timeout(30)

plugin = Plugin("ann", title="Announced", description="announcement test")


class Config(BaseModel):
    repo: str = Field(description="Repository path")


class Outputs(BaseModel):
    sha: str


@plugin.step("tag", title="Tag", description="Tags")
def tag(ctx: StepContext, config: Config) -> Outputs:
    return Outputs(sha="x")


plugin.add_template(Template(name="rel", workflow_type="release", title="R", definition={"kind": "Workflow"}))


@pytest.fixture
async def kv(nats_server: str) -> AsyncIterator[KeyValue]:
    nc = await nats.connect(nats_server)
    try:
        yield await plugin_hosts_bucket(nc.jetstream())
    finally:
        await nc.close()


async def wait_entry(kv: KeyValue, key: str, newer_than: int = 0, timeout: float = 10) -> tuple[int, dict]:
    async with asyncio.timeout(timeout):
        while True:
            try:
                entry = await kv.get(key)
                if entry.revision > newer_than:
                    return entry.revision, json.loads(entry.value)
            except KeyNotFoundError:
                pass
            await asyncio.sleep(0.05)


async def test_entry_appears_with_step_types_is_refreshed_and_deleted_on_stop(
    nats_server: str, kv: KeyValue, tmp_path: Path
) -> None:
    server = PluginServer(
        plugin, nats_url=nats_server, host_id="host a:1", workspace_root=tmp_path, heartbeat_seconds=0.2
    )
    async with server:
        assert server.announcement_key == "host_a_1"
        revision, value = await wait_entry(kv, "host_a_1")
        assert value["host_id"] == "host a:1"
        assert value["address"] == f"127.0.0.1:{server.port}"
        assert value["plugins"] == ["ann"]
        [step] = value["step_types"]
        assert (step["type"], step["plugin"], step["title"], step["description"]) == ("ann/tag", "ann", "Tag", "Tags")
        assert step["config_schema"]["properties"]["repo"]["description"] == "Repository path"
        assert set(step["outputs_schema"]["properties"]) == {"sha", "plan"}
        assert value["templates"] == [{
            "name": "rel", "plugin": "ann", "workflow_type": "release", "title": "R", "description": "",
            "definition": {"kind": "Workflow"},
        }]
        newer, refreshed = await wait_entry(kv, "host_a_1", newer_than=revision, timeout=3)
        assert newer > revision
        assert refreshed["heartbeat_at"] >= value["heartbeat_at"]
    with pytest.raises(KeyNotFoundError):
        await kv.get("host_a_1")


async def test_keeps_serving_while_nats_is_down_and_reannounces(tmp_path: Path) -> None:
    server_process = NatsServer(tmp_path / "nats").start()
    url = server_process.url
    try:
        async with PluginServer(
            plugin, nats_url=url, host_id="outage", workspace_root=tmp_path, heartbeat_seconds=0.2
        ) as server:
            await asyncio.wait_for(server.wait_announced(), 10)
            server_process.stop()
            async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
                described = await plugin_pb2_grpc.PluginServiceStub(channel).Describe(
                    plugin_pb2.DescribeRequest(), timeout=5
                )
            assert [s.type for s in described.step_types] == ["ann/tag"]
            await asyncio.sleep(3)  # long enough for the NATS client to give up and be replaced
            server_process.start()  # same port, same store
            nc = await nats.connect(url)
            try:
                bucket = await plugin_hosts_bucket(nc.jetstream())
                before = 0
                with contextlib.suppress(KeyNotFoundError):
                    before = (await bucket.get("outage")).revision
                _, value = await wait_entry(bucket, "outage", newer_than=before, timeout=15)
                assert value["host_id"] == "outage"
            finally:
                await nc.close()
    finally:
        server_process.stop()


async def test_starts_and_serves_when_nats_is_unreachable(tmp_path: Path) -> None:
    url = f"nats://127.0.0.1:{free_port()}"
    async with asyncio.timeout(10):
        async with PluginServer(plugin, nats_url=url, workspace_root=tmp_path) as server:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
                described = await plugin_pb2_grpc.PluginServiceStub(channel).Describe(plugin_pb2.DescribeRequest())
            assert described.plugins == ["ann"]
