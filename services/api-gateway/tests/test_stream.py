"""WebSockets on a real uvicorn with a REAL NATS: backfill, live, gaps, NATS silence, auth, Origin."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import nats
import pytest
from vwmp_common.subjects import event_msg_id, run_events_subject
from vwmp_storage.rpc import event_message
from vwmp_storage.transitions import Transition
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus


def ws_url(gateway: Any, path: str) -> str:
    return gateway.url.replace("http://", "ws://") + path


def bearer(secret: str) -> list[str]:
    return ["vwmp.v1", f"bearer.{secret}"]


async def start_run(gateway: Any, backend: Any, definition: Any) -> str:
    name = f"wf-{uuid.uuid4().hex[:10]}"
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        admin = {"Authorization": f"Bearer {backend.tokens['admin']}"}
        created = await client.post("/api/v1/workflows", json=definition(name), headers=admin)
        assert created.status_code == 201, created.text
        run = await client.post(f"/api/v1/workflows/{name}/runs", json={"parameters": {"part": "patch"}},
                                headers=admin)
        assert run.status_code == 201, run.text
        return str(run.json()["id"])


def record(backend: Any, run_id: str, *types: str) -> list[Any]:
    return backend.storage.transitions.record(run_id, "", 0, [
        Transition(event_type=t, step_id="build", attempt=1, data_json=json.dumps({"n": i}))
        for i, t in enumerate(types)])


async def publish(nc: Any, events: list[Any]) -> None:
    for event in events:
        await nc.publish(run_events_subject(event.run_id), event_message(event).SerializeToString(),
                         headers={"Nats-Msg-Id": event_msg_id(event.run_id, event.seq)})
    await nc.flush()


async def receive(ws: Any, count: int, timeout: float) -> list[dict[str, Any]]:
    return [json.loads(await asyncio.wait_for(ws.recv(), timeout)) for _ in range(count)]


async def test_backfill_then_live_then_gap_then_reconnect(make_live_gateway, backend, nats_server, definition) -> None:
    with make_live_gateway(ws_idle_backfill_seconds=30.0) as gateway:
        run_id = await start_run(gateway, backend, definition)
        nc = await nats.connect(nats_server)
        try:
            async with connect(ws_url(gateway, f"/api/v1/runs/{run_id}/stream?after=0"),
                               subprotocols=bearer(backend.tokens["viewer"])) as ws:
                assert ws.subprotocol == "vwmp.v1"
                first = await receive(ws, 1, 5)
                assert first[0]["seq"] == 1 and first[0]["type"] == "run.queued" and first[0]["step_id"] is None
                assert set(first[0]) == {"seq", "run_id", "type", "step_id", "attempt", "at", "data"}

                await asyncio.sleep(0.3)  # the subscription is in place before we publish
                live = record(backend, run_id, "step.started", "step.log")
                await publish(nc, live)
                await publish(nc, live[:1])  # a duplicate is never sent twice
                got = await receive(ws, 2, 3)  # far below the 30 s idle backfill: NATS delivered
                assert [(e["seq"], e["type"], e["data"]) for e in got] == [
                    (2, "step.started", {"n": 0}), (3, "step.log", {"n": 1})]

                gap = record(backend, run_id, "step.log", "step.succeeded")
                await publish(nc, gap[1:])  # seq 4 never published: the jump triggers a backfill
                got = await receive(ws, 2, 3)
                assert [e["seq"] for e in got] == [4, 5]
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(ws.recv(), 0.5)

            async with connect(ws_url(gateway, f"/api/v1/runs/{run_id}/stream?after=3"),
                               subprotocols=bearer(backend.tokens["viewer"])) as ws:
                assert [e["seq"] for e in await receive(ws, 2, 5)] == [4, 5]
        finally:
            await nc.close()


async def test_events_arrive_from_storage_when_nats_is_silent(make_live_gateway, backend, definition) -> None:
    with make_live_gateway(ws_idle_backfill_seconds=0.5) as gateway:
        run_id = await start_run(gateway, backend, definition)
        async with connect(ws_url(gateway, f"/api/v1/runs/{run_id}/stream?token={backend.tokens['viewer']}")) as ws:
            assert [e["seq"] for e in await receive(ws, 1, 5)] == [1]
            record(backend, run_id, "step.started")  # stored, never published
            got = await receive(ws, 1, 5)
            assert got[0]["seq"] == 2 and got[0]["type"] == "step.started"


async def test_all_runs_stream_forwards_live_events(live_gateway, backend, nats_server, definition) -> None:
    run_id = await start_run(live_gateway, backend, definition)
    nc = await nats.connect(nats_server)
    try:
        async with connect(ws_url(live_gateway, "/api/v1/stream"),
                           additional_headers={"Authorization": f"Bearer {backend.tokens['viewer']}"}) as ws:
            await asyncio.sleep(0.3)
            await publish(nc, record(backend, run_id, "step.started"))
            got = await receive(ws, 1, 5)
            assert (got[0]["run_id"], got[0]["seq"]) == (run_id, 2)
    finally:
        await nc.close()


async def test_revoked_token_closes_an_open_stream(live_gateway, backend, definition) -> None:
    run_id = await start_run(live_gateway, backend, definition)
    token, secret = backend.storage.tokens.create("short-lived", "viewer", 0, "tests")
    async with connect(ws_url(live_gateway, f"/api/v1/runs/{run_id}/stream"), subprotocols=bearer(secret)) as ws:
        await receive(ws, 1, 5)
        backend.storage.tokens.revoke(token.id)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(ws.recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


@pytest.mark.parametrize(("kind", "status"), [("none", 401), ("bad", 401), ("origin", 403)])
async def test_handshake_refusals(live_gateway, backend, definition, kind, status) -> None:
    run_id = await start_run(live_gateway, backend, definition)
    url = ws_url(live_gateway, f"/api/v1/runs/{run_id}/stream")
    options: dict[str, Any] = {}
    if kind == "bad":
        options["subprotocols"] = bearer("vwmp_not-a-token")
    if kind == "origin":
        options["subprotocols"] = bearer(backend.tokens["viewer"])
        options["origin"] = "http://evil.example"
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url, **options):
            pass
    assert refused.value.response.status_code == status
    assert json.loads(refused.value.response.body)["status"] == status
    entries = [e for e in backend.audit("run.stream") if e.target == f"runs/{run_id}"]
    assert [e.outcome for e in entries] == ["denied"]


async def test_same_host_and_allowed_origins_pass(make_live_gateway, backend, definition) -> None:
    with make_live_gateway(allowed_origins=["http://designer.example"]) as gateway:
        run_id = await start_run(gateway, backend, definition)
        url = ws_url(gateway, f"/api/v1/runs/{run_id}/stream")
        for origin in (gateway.url, "http://designer.example"):
            async with connect(url, subprotocols=bearer(backend.tokens["viewer"]), origin=origin) as ws:
                assert (await receive(ws, 1, 5))[0]["seq"] == 1


async def test_unknown_run_stream_is_404(live_gateway, backend) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(ws_url(live_gateway, "/api/v1/runs/nope/stream"),
                           subprotocols=bearer(backend.tokens["viewer"])):
            pass
    assert refused.value.response.status_code == 404
